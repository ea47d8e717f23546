//! R package requirements: `name` or `name (op version)`, as in DESCRIPTION's Depends
//! and Imports fields and in the manifest's `[r] packages`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// An R package version: numbers separated by `.` or `-`, compared component by
/// component (R's `package_version`). At least two components, as R requires.
/// Equality follows the comparison: `1.0-1` equals `1.0.1`, as in R.
#[derive(Debug, Clone)]
pub struct RVersion {
    text: String,
    parts: Vec<u64>,
}

impl RVersion {
    pub fn parts(&self) -> &[u64] {
        &self.parts
    }
}

impl FromStr for RVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts = text
            .split(['.', '-'])
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    Err(())
                } else {
                    p.parse::<u64>().map_err(|_| ())
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|()| {
                format!("`{text}` is not a valid R version (numbers separated by `.` or `-`)")
            })?;
        if parts.len() < 2 {
            return Err(format!(
                "`{text}` is not a valid R version: R needs at least two components, such as `{text}.0`"
            ));
        }
        Ok(RVersion {
            text: text.to_string(),
            parts,
        })
    }
}

impl PartialEq for RVersion {
    fn eq(&self, other: &Self) -> bool {
        self.parts == other.parts
    }
}

impl Eq for RVersion {}

impl Ord for RVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        // R compares component-wise; a missing trailing component sorts first (1.0 < 1.0.1).
        self.parts.cmp(&other.parts)
    }
}

impl PartialOrd for RVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ROp {
    Less,
    LessEq,
    Equal,
    NotEqual,
    GreaterEq,
    Greater,
}

impl ROp {
    pub fn as_str(self) -> &'static str {
        match self {
            ROp::Less => "<",
            ROp::LessEq => "<=",
            ROp::Equal => "==",
            ROp::NotEqual => "!=",
            ROp::GreaterEq => ">=",
            ROp::Greater => ">",
        }
    }

    pub fn matches(self, version: &RVersion, bound: &RVersion) -> bool {
        let ord = version.cmp(bound);
        match self {
            ROp::Less => ord.is_lt(),
            ROp::LessEq => ord.is_le(),
            ROp::Equal => ord.is_eq(),
            ROp::NotEqual => ord.is_ne(),
            ROp::GreaterEq => ord.is_ge(),
            ROp::Greater => ord.is_gt(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RRequirement {
    pub name: String,
    pub constraint: Option<(ROp, RVersion)>,
}

impl fmt::Display for RRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some((op, version)) = &self.constraint {
            write!(f, " ({} {version})", op.as_str())?;
        }
        Ok(())
    }
}

/// Why a requirement could not be read; `offset` is a byte offset into the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RRequirementError {
    pub message: String,
    pub offset: usize,
}

/// R's rule for package names: ASCII letters, digits and `.`, starting with a letter,
/// not ending with `.`, at least two characters.
pub fn is_valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

impl FromStr for RRequirement {
    type Err = RRequirementError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let offset_of = |part: &str| part.as_ptr() as usize - input.as_ptr() as usize;
        let err = |part: &str, message: String| RRequirementError {
            message,
            offset: offset_of(part),
        };
        let text = input.trim();
        let name_end = text
            .find(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or(text.len());
        let name = &text[..name_end];
        if !is_valid_package_name(name) {
            return Err(err(
                text,
                format!(
                    "`{name}` is not a valid R package name (letters, digits and `.`, \
                     starting with a letter, at least two characters)"
                ),
            ));
        }
        let rest = text[name_end..].trim_start();
        if rest.is_empty() {
            return Ok(RRequirement {
                name: name.to_string(),
                constraint: None,
            });
        }
        let Some(inner) = rest.strip_prefix('(') else {
            return Err(err(
                rest,
                format!("unexpected `{rest}` after the package name"),
            ));
        };
        let Some(body) = inner.strip_suffix(')') else {
            return Err(err(
                rest,
                "missing `)` after the version constraint".to_string(),
            ));
        };
        let body = body.trim_start();
        const OPS: [(&str, ROp); 7] = [
            (">=", ROp::GreaterEq),
            ("<=", ROp::LessEq),
            ("==", ROp::Equal),
            ("!=", ROp::NotEqual),
            ("=", ROp::Equal),
            (">", ROp::Greater),
            ("<", ROp::Less),
        ];
        let Some((op, version)) = OPS
            .iter()
            .find_map(|(s, op)| body.strip_prefix(s).map(|rest| (*op, rest)))
        else {
            return Err(err(
                body,
                "expected a version operator (`>=`, `>`, `==`, `!=`, `<=` or `<`)".to_string(),
            ));
        };
        let version_text = version.trim();
        let version = version_text
            .parse::<RVersion>()
            .map_err(|message| err(version.trim_start(), message))?;
        Ok(RRequirement {
            name: name.to_string(),
            constraint: Some((op, version)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_and_constraints() {
        let r: RRequirement = "ggplot2 (>= 3.4)".parse().unwrap();
        assert_eq!(r.to_string(), "ggplot2 (>= 3.4)");
        let r: RRequirement = "data.table".parse().unwrap();
        assert_eq!(r.constraint, None);
        let r: RRequirement = "Rcpp(>=1.0-12)".parse().unwrap();
        assert_eq!(r.to_string(), "Rcpp (>= 1.0-12)");
    }

    #[test]
    fn rejects_what_r_rejects() {
        assert!("1abc".parse::<RRequirement>().is_err());
        assert!("ab.".parse::<RRequirement>().is_err());
        let e = "ggplot2 (>= 3)".parse::<RRequirement>().unwrap_err();
        assert!(e.message.contains("at least two components"));
        assert_eq!(e.offset, 12);
        assert!("ggplot2 (~ 3.4)".parse::<RRequirement>().is_err());
        assert!("ggplot2 (>= 3.4".parse::<RRequirement>().is_err());
    }

    #[test]
    fn versions_compare_numerically() {
        let v = |s: &str| s.parse::<RVersion>().unwrap();
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("1.0") < v("1.0.1"));
        assert_eq!(v("1.0-1"), v("1.0.1"));
        assert!(ROp::GreaterEq.matches(&v("3.4.4"), &v("3.4")));
    }
}
