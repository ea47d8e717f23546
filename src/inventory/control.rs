//! RFC 822-style paragraphs (`Field: value` with indented continuation lines): the
//! format of dpkg's status database, deb822 apt sources, R's `DESCRIPTION` files and the
//! header block of Python's `METADATA`.
//!
//! Deliberately forgiving: inventory reads what an image holds, and one odd line must not
//! hide the rest of a dpkg database. Lines that are neither a field nor a continuation
//! are skipped.

/// One paragraph: fields in file order; names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of `name` (case-insensitive), continuation lines joined with `\n`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a field that may repeat (`Requires-Dist`).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Every paragraph of `text` (paragraphs are separated by blank lines; `#` comment lines,
/// as deb822 sources allow, are skipped).
pub fn paragraphs(text: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current = Paragraph::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.fields.last_mut() {
                let more = line.trim();
                // A lone `.` stands for an empty line inside a long value.
                let more = if more == "." { "" } else { more };
                if value.is_empty() {
                    value.push_str(more);
                } else {
                    value.push('\n');
                    value.push_str(more);
                }
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            current
                .fields
                .push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.fields.is_empty() {
        out.push(current);
    }
    out
}

/// The first paragraph only: the header block of a `METADATA` or `PKG-INFO` (its body
/// after the blank line is free text).
pub fn headers(text: &str) -> Paragraph {
    let end = text.find("\n\n").unwrap_or(text.len());
    paragraphs(&text[..end])
        .into_iter()
        .next()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_with_continuations() {
        let text = "Package: a\nStatus: install ok installed\nDescription: x\n more\n .\n end\n\n\nPackage: b\n# comment\nversion: 1\n";
        let ps = paragraphs(text);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("description"), Some("x\nmore\n\nend"));
        assert_eq!(ps[1].get("Version"), Some("1"));
        let h = headers("Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\n\nName: not-this\n");
        assert_eq!(h.get("name"), Some("pip"));
    }
}
