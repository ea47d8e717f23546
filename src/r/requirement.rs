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

/// A DESCRIPTION / PACKAGES dependency field (`Depends`, `Imports`, `LinkingTo`,
/// `Suggests`) read into its entries: comma-separated, newlines and indentation being
/// plain white space, empty entries (a trailing comma) skipped, as R's
/// `tools:::.split_dependencies` reads them (src/library/tools/R/utils.R). The `R`
/// entry of Depends (`R (>= 3.5.0)`) is a constraint on R itself, not a package, and is
/// kept apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DependencyList {
    pub packages: Vec<RRequirement>,
    /// The constraints of `R (op version)` entries; a bare `R` adds none.
    pub r: Vec<(ROp, RVersion)>,
}

/// Reads a dependency field; an error's `offset` is a byte offset into `field`.
pub fn parse_dependency_list(field: &str) -> Result<DependencyList, RRequirementError> {
    let mut list = DependencyList::default();
    let mut start = 0;
    for entry in field.split(',') {
        let entry_start = start;
        start += entry.len() + 1;
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            continue;
        }
        let name_end = trimmed
            .find(|c: char| c.is_whitespace() || c == '(')
            .unwrap_or(trimmed.len());
        if &trimmed[..name_end] == "R" {
            // `R` is shorter than any package name may be: read its constraint as a
            // package's, under a stand-in name, and keep only the constraint.
            let stand_in = format!("Rx{}", &trimmed[1..]);
            let shift = |mut e: RRequirementError| {
                let lead = entry.len() - entry.trim_start().len();
                e.offset = entry_start + lead + e.offset.saturating_sub(1);
                e
            };
            let parsed: RRequirement = stand_in.parse().map_err(shift)?;
            list.r.extend(parsed.constraint);
            continue;
        }
        let requirement: RRequirement = entry.parse().map_err(|mut e: RRequirementError| {
            e.offset += entry_start;
            e
        })?;
        list.packages.push(requirement);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_fields_read_as_r_reads_them() {
        let list = parse_dependency_list(
            "R (>= 3.5.0), methods,\n        Rcpp (>= 1.0.7),  stats (>=4.0),\n        ,",
        )
        .unwrap();
        let names: Vec<String> = list.packages.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["methods", "Rcpp (>= 1.0.7)", "stats (>= 4.0)"]);
        assert_eq!(list.r.len(), 1);
        assert_eq!(list.r[0].0, ROp::GreaterEq);
        assert_eq!(list.r[0].1.to_string(), "3.5.0");
        let bare = parse_dependency_list("R,utils").unwrap();
        assert!(bare.r.is_empty());
        assert_eq!(bare.packages.len(), 1);
        assert_eq!(
            parse_dependency_list("").unwrap(),
            DependencyList::default()
        );
        assert_eq!(
            parse_dependency_list("R(>= 4.1)").unwrap().r[0]
                .1
                .to_string(),
            "4.1"
        );
    }

    #[test]
    fn dependency_field_errors_point_into_the_field() {
        let field = "utils,\n  ggplot2 (>= 3)";
        let e = parse_dependency_list(field).unwrap_err();
        assert_eq!(&field[e.offset..], "3)");
        let field = "utils, R (>= 4)";
        let e = parse_dependency_list(field).unwrap_err();
        assert_eq!(&field[e.offset..], "4)");
        let field = "ab, 1bad";
        let e = parse_dependency_list(field).unwrap_err();
        assert_eq!(&field[e.offset..], "1bad");
    }

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
