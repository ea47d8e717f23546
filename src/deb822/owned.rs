//! RFC 822-style paragraphs (`Field: value` with indented continuation lines): the
//! format of dpkg's status database, deb822 apt sources, R's `DESCRIPTION` files and the
//! header block of Python's `METADATA`.
//!
//! The owned, forgiving view over the one deb822 reader ([`crate::deb822`]), for
//! inventory's small files. Deliberately forgiving: inventory reads what an image holds, and one odd line must not
//! hide the rest of a dpkg database. Lines that are neither a field nor a continuation
//! are skipped.

use crate::deb822;

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
/// as deb822 sources allow, are skipped), read by [`crate::deb822`] and copied out with
/// continuation lines unfolded.
pub fn paragraphs(text: &str) -> Vec<Paragraph> {
    deb822::paragraphs(text)
        .map(|p| Paragraph {
            fields: p
                .fields()
                .map(|f| (f.name.to_string(), deb822::unfold(f.value)))
                .collect(),
        })
        .filter(|p| !p.fields.is_empty())
        .collect()
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
