//! PEP 503 HTML project pages: a small scanner for `<a>` anchors and the attributes the
//! simple API defines (PEP 503, 592, 658, 714). Not a general HTML parser: index pages
//! are machine-written lists of links.

use url::Url;

use super::PageError;
use crate::pip::DistFile;

/// The files of an HTML page; relative `href`s are resolved against `page_url`.
pub fn parse(body: &str, page_url: &Url) -> Result<Vec<DistFile>, PageError> {
    let mut files = Vec::new();
    let lower = body.to_ascii_lowercase();
    let mut at = 0;
    while let Some(start) = find_anchor(&lower, at) {
        let Some(tag_end) = tag_end(body, start) else {
            break;
        };
        let attrs = attributes(&body[start + 2..tag_end]);
        let text_end = lower[tag_end..]
            .find("</a")
            .map_or(body.len(), |i| tag_end + i);
        let text = unescape(body[tag_end + 1..text_end].trim());
        at = text_end;
        let Some(href) = attr(&attrs, "href") else {
            continue;
        };
        let mut url = page_url.join(&href).map_err(|source| PageError::Href {
            href: href.clone(),
            source,
        })?;
        let sha256 = url
            .fragment()
            .and_then(|f| f.strip_prefix("sha256="))
            .map(|h| h.to_ascii_lowercase());
        url.set_fragment(None);
        let filename = if text.is_empty() {
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or_default()
                .to_string()
        } else {
            text
        };
        let core_metadata = attr(&attrs, "data-core-metadata")
            .or_else(|| attr(&attrs, "data-dist-info-metadata"))
            .and_then(|v| match v.as_str() {
                "false" => None,
                "true" | "" => Some(None),
                v => Some(v.strip_prefix("sha256=").map(|h| h.to_ascii_lowercase())),
            });
        files.push(DistFile {
            filename,
            url,
            sha256,
            size: None,
            requires_python: attr(&attrs, "data-requires-python").filter(|r| !r.trim().is_empty()),
            yanked: attr(&attrs, "data-yanked"),
            // PEP 700 has no HTML form: an HTML page gives no upload times.
            upload_time: None,
            core_metadata,
        });
    }
    Ok(files)
}

/// The next `<a` that opens an anchor (not `<abbr`, `<area`...).
fn find_anchor(lower: &str, from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = lower[at..].find("<a") {
        let start = at + i;
        match lower.as_bytes().get(start + 2) {
            Some(c) if c.is_ascii_whitespace() || *c == b'>' => return Some(start),
            _ => at = start + 2,
        }
    }
    None
}

/// The `>` closing the tag at `start`, outside quotes.
fn tag_end(body: &str, start: usize) -> Option<usize> {
    let mut quote = None;
    for (i, c) in body[start..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(start + i),
            _ => {}
        }
    }
    None
}

/// `name="value"`, `name='value'`, `name=value` and bare `name` (value ""), names
/// lowercased, values unescaped.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, remaining) = match after.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let end = after[1..].find(q).map_or(after.len(), |i| i + 1);
                    (&after[1..end], after.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            rest = remaining.trim_start();
            unescape(value)
        } else {
            if name.is_empty() {
                // A stray `/` or `=`: skip one character.
                rest = rest.get(1..).unwrap_or("").trim_start();
                continue;
            }
            String::new()
        };
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

fn attr(attrs: &[(String, String)], name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// HTML character references: the named ones index pages use, and numeric ones.
fn unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_with_every_attribute() {
        let page = Url::parse("http://127.0.0.1/simple/six/").unwrap();
        let html = r#"<html><body><h1>Links</h1>
<A HREF="../../files/six-1.16.0-py2.py3-none-any.whl#sha256=ABCD" data-requires-python="&gt;=2.7, !=3.0.*" data-core-metadata="sha256=ef01">six-1.16.0-py2.py3-none-any.whl</A><br>
<a href='https://other.example/six-1.0.tar.gz' data-yanked="bad &amp; broken" data-dist-info-metadata=true>six-1.0.tar.gz</a>
<a href="x.whl" data-yanked>x.whl</a><abbr>no</abbr>
</body></html>"#;
        let files = parse(html, &page).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files[0].filename, "six-1.16.0-py2.py3-none-any.whl");
        assert_eq!(
            files[0].url.as_str(),
            "http://127.0.0.1/files/six-1.16.0-py2.py3-none-any.whl"
        );
        assert_eq!(files[0].sha256.as_deref(), Some("abcd"));
        assert_eq!(files[0].requires_python.as_deref(), Some(">=2.7, !=3.0.*"));
        assert_eq!(files[0].core_metadata, Some(Some("ef01".into())));
        assert_eq!(files[0].yanked, None);
        assert_eq!(files[1].yanked.as_deref(), Some("bad & broken"));
        assert_eq!(files[1].core_metadata, Some(None));
        assert_eq!(files[1].sha256, None);
        assert_eq!(files[2].yanked.as_deref(), Some(""));
        assert_eq!(files[2].url.as_str(), "http://127.0.0.1/simple/six/x.whl");
    }

    #[test]
    fn references() {
        assert_eq!(unescape("a&amp;b&#62;&#x3C;&bogus;&"), "a&b><&bogus;&");
    }
}
