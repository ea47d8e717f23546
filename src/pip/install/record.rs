//! RECORD files (the binary distribution format's manifest): CSV rows of
//! `path,sha256=<urlsafe base64 without padding>,size`, read from a wheel and written
//! for the installed distribution the way pip writes them (rows sorted by path, `\r\n`
//! line ends from Python's csv module, RECORD itself without hash or size).

use std::collections::HashMap;

use base64::Engine as _;

/// `sha256=<urlsafe base64, no padding>`, as RECORD writes a digest.
pub fn encode_sha256(digest: &[u8]) -> String {
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The hashes a wheel's RECORD gives, by path: `(algorithm, digest as written)`.
/// Rows without a hash (RECORD itself, signatures) are left out.
pub fn parse(text: &str) -> HashMap<String, (String, String)> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let fields = split_csv(line);
        let (Some(path), Some(hash)) = (fields.first(), fields.get(1)) else {
            continue;
        };
        if let Some((algorithm, digest)) = hash.split_once('=') {
            out.insert(
                path.clone(),
                (
                    algorithm.to_string(),
                    digest.trim_end_matches('=').to_string(),
                ),
            );
        }
    }
    out
}

/// Every path a RECORD lists (an installed distribution's files, relative to its
/// site directory).
pub fn parse_paths(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| split_csv(l).into_iter().next())
        .filter(|p| !p.is_empty())
        .collect()
}

/// One CSV line as Python's csv module reads it (`"` quoting, `""` for a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// One row of an installed RECORD.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    /// Relative to site-packages (`../../../bin/x` for a script).
    pub path: String,
    /// `sha256=…`, empty for RECORD itself.
    pub hash: String,
    /// Empty for RECORD itself.
    pub size: String,
}

/// The installed RECORD: the rows sorted as pip sorts them, Python csv line ends.
pub fn write(mut rows: Vec<Row>) -> Vec<u8> {
    rows.sort();
    let mut out = String::new();
    for row in rows {
        for (i, field) in [&row.path, &row.hash, &row.size].into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if field.contains([',', '"', '\r', '\n']) {
                out.push('"');
                out.push_str(&field.replace('"', "\"\""));
                out.push('"');
            } else {
                out.push_str(field);
            }
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// `path` relative to the directory `from` (both absolute-less, `/`-separated), as
/// Python's `os.path.relpath` gives it: `usr/local/bin/x` from
/// `usr/local/lib/python3.11/dist-packages` is `../../../bin/x`.
pub fn relative(path: &str, from: &str) -> String {
    let path: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let from: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    let common = path.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(&path[common..]);
    parts.join("/")
}

/// The inverse of [`relative`]: a RECORD path of a distribution in `site` as a path
/// of the image (`None` when it climbs above the root).
pub fn resolve(site: &str, record_path: &str) -> Option<String> {
    let mut parts: Vec<&str> = site.split('/').filter(|p| !p.is_empty()).collect();
    for part in record_path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hashes_and_paths() {
        let record = parse(
            "six.py,sha256=TOOfQwrEHwaEhkWdCj5ViNkKrr1a2zwA-86ah6dnfg0,34549\r\n\
             \"a,b.py\",sha256=abc=,3\nsix-1.16.0.dist-info/RECORD,,\n",
        );
        assert_eq!(
            record["six.py"],
            (
                "sha256".to_string(),
                "TOOfQwrEHwaEhkWdCj5ViNkKrr1a2zwA-86ah6dnfg0".to_string()
            )
        );
        assert_eq!(record["a,b.py"].1, "abc");
        assert!(!record.contains_key("six-1.16.0.dist-info/RECORD"));
        // sha256 of the empty string.
        assert_eq!(
            encode_sha256(
                &hex::decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                    .unwrap()
            ),
            "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        let written = write(vec![
            Row {
                path: "z.py".into(),
                hash: "sha256=x".into(),
                size: "1".into(),
            },
            Row {
                path: "a,\"b\".py".into(),
                hash: String::new(),
                size: String::new(),
            },
        ]);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            "\"a,\"\"b\"\".py\",,\r\nz.py,sha256=x,1\r\n"
        );
        let site = "usr/local/lib/python3.11/dist-packages";
        assert_eq!(relative("usr/local/bin/x", site), "../../../bin/x");
        assert_eq!(relative(&format!("{site}/a/b.py"), site), "a/b.py");
        assert_eq!(
            resolve(site, "../../../bin/x").as_deref(),
            Some("usr/local/bin/x")
        );
        assert_eq!(resolve("usr", "../../x"), None);
    }
}
