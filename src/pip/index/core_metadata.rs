//! A wheel's `METADATA` (core metadata, RFC 822-style headers) into [`CoreMetadata`].

use std::str::FromStr;

use crate::pip::{CoreMetadata, ExtraName, PackageName, Requirement, Version, VersionSpecifiers};

use super::IndexError;

/// Parses the headers of `text` (the body after the first blank line is the long
/// description, and ignored). `file` names the wheel in errors.
///
/// A `Requires-Dist` that is not valid PEP 508 is an error naming the line: rtlock does
/// not guess what a malformed requirement meant (uv repairs a few common mistakes, such
/// as a missing comma between specifiers, before giving up; rtlock does not, so such a
/// wheel fails loudly instead of resolving differently).
pub fn parse(text: &str, file: &str) -> Result<CoreMetadata, IndexError> {
    let bad = |line: usize, text: &str, why: String| IndexError::BadMetadata {
        file: file.to_string(),
        line,
        text: text.to_string(),
        why,
    };
    let mut name = None;
    let mut version = None;
    let mut requires_dist = Vec::new();
    let mut requires_python = None;
    let mut provides_extra = Vec::new();
    for (line, key, value) in headers(text) {
        match key.to_ascii_lowercase().as_str() {
            "name" => {
                name = Some(
                    PackageName::from_str(&value).map_err(|e| bad(line, &value, e.to_string()))?,
                )
            }
            "version" => {
                version =
                    Some(Version::from_str(&value).map_err(|e| bad(line, &value, e.to_string()))?)
            }
            "requires-dist" => requires_dist
                .push(Requirement::from_str(&value).map_err(|e| bad(line, &value, e.to_string()))?),
            "requires-python" if !value.is_empty() => {
                requires_python = Some(
                    VersionSpecifiers::from_str(&value)
                        .map_err(|e| bad(line, &value, e.to_string()))?,
                )
            }
            // An extra nobody can name is one nobody can ask for: skipped with a warning,
            // as uv does, rather than failing every resolution that touches the package.
            "provides-extra" => match ExtraName::from_str(&value) {
                Ok(extra) => provides_extra.push(extra),
                Err(e) => tracing::warn!("{file}: ignoring the invalid extra {value:?}: {e}"),
            },
            _ => {}
        }
    }
    let missing = |what: &str| bad(0, "", format!("no {what} header"));
    Ok(CoreMetadata {
        name: name.ok_or_else(|| missing("Name"))?,
        version: version.ok_or_else(|| missing("Version"))?,
        requires_dist,
        requires_python,
        provides_extra,
    })
}

/// `(line number, key, value)` of each header, continuation lines folded in (the
/// installer reads a wheel's Name and Version with it too).
pub(crate) fn headers(text: &str) -> Vec<(usize, String, String)> {
    let mut out: Vec<(usize, String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, _, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            out.push((i + 1, key.trim().to_string(), value.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUESTS: &str = "Metadata-Version: 2.1\nName: requests\nVersion: 2.32.3\n\
Summary: Python HTTP for Humans.\nRequires-Python: >=3.8\n\
Requires-Dist: charset-normalizer <4,>=2\nRequires-Dist: idna <4,>=2.5\n\
Provides-Extra: socks\nRequires-Dist: PySocks !=1.5.7,>=1.5.6 ; extra == 'socks'\n\
Description-Content-Type: text/markdown\n\n# Requests\nName: not-a-header\n";

    #[test]
    fn headers_until_the_body() {
        let m = parse(REQUESTS, "requests-2.32.3-py3-none-any.whl").unwrap();
        assert_eq!(m.name.as_ref(), "requests");
        assert_eq!(m.version.to_string(), "2.32.3");
        assert_eq!(m.requires_dist.len(), 3);
        assert_eq!(m.requires_dist[2].name.as_ref(), "pysocks");
        assert_eq!(m.provides_extra[0].as_ref(), "socks");
        assert_eq!(m.requires_python.unwrap().to_string(), ">=3.8");
    }

    #[test]
    fn continuation_lines_fold() {
        let m = parse(
            "Name: a\nVersion: 1\nRequires-Dist: b\n  >=2\n",
            "a-1-py3-none-any.whl",
        )
        .unwrap();
        assert_eq!(m.requires_dist[0].to_string(), "b>=2");
    }

    #[test]
    fn an_invalid_extra_is_skipped() {
        let m = parse(
            "Name: a\nVersion: 1\nProvides-Extra: ok\nProvides-Extra: not ok!\n",
            "a-1-py3-none-any.whl",
        )
        .unwrap();
        assert_eq!(m.provides_extra.len(), 1);
    }

    #[test]
    fn a_bad_requirement_names_file_and_line() {
        let err = parse(
            "Name: a\nVersion: 1\nRequires-Dist: b >= >=\n",
            "a-1-py3-none-any.whl",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("a-1-py3-none-any.whl"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }
}
