//! Debian package relations: `name[:arch] [(op version)]`, as in Depends fields and in
//! the manifest's `[apt] packages`, where apt-get's `name=version` form is also accepted.

use std::fmt;
use std::str::FromStr;

use debversion::Version;

/// A version comparison of a Debian relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionOp {
    /// `<<`: strictly earlier
    Less,
    /// `<=`
    LessEq,
    /// `=`
    Equal,
    /// `>=`
    GreaterEq,
    /// `>>`: strictly later
    Greater,
}

impl VersionOp {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Less => "<<",
            VersionOp::LessEq => "<=",
            VersionOp::Equal => "=",
            VersionOp::GreaterEq => ">=",
            VersionOp::Greater => ">>",
        }
    }

    /// Does `version` satisfy `op bound`?
    pub fn matches(self, version: &Version, bound: &Version) -> bool {
        let ord = version.cmp(bound);
        match self {
            VersionOp::Less => ord.is_lt(),
            VersionOp::LessEq => ord.is_le(),
            VersionOp::Equal => ord.is_eq(),
            VersionOp::GreaterEq => ord.is_ge(),
            VersionOp::Greater => ord.is_gt(),
        }
    }
}

/// One package relation, without alternatives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// `:any`, `:native` or an architecture name.
    pub arch: Option<String>,
    pub constraint: Option<(VersionOp, Version)>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        if let Some((op, version)) = &self.constraint {
            write!(f, " ({} {version})", op.as_str())?;
        }
        Ok(())
    }
}

/// Why a relation could not be read. `offset` is the byte offset in the input where the
/// problem starts, so callers can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RelationError {
    pub message: String,
    pub offset: usize,
}

fn error(offset: usize, message: impl Into<String>) -> RelationError {
    RelationError {
        message: message.into(),
        offset,
    }
}

/// Debian policy 5.6.1: lower case letters, digits, `+`, `-`, `.`; at least two
/// characters; starts with a letter or digit.
pub fn is_valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

impl FromStr for Relation {
    type Err = RelationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse_relation(input, false)
    }
}

/// Parses a single relation. With `allow_equals`, apt-get's `name=version` form is
/// accepted as `name (= version)`.
pub fn parse_relation(input: &str, allow_equals: bool) -> Result<Relation, RelationError> {
    let text = input.trim();
    // Byte offset of a sub-slice of `input`, for errors that point into it.
    let offset_of = |part: &str| part.as_ptr() as usize - input.as_ptr() as usize;
    if text.is_empty() {
        return Err(error(0, "empty package relation"));
    }
    let name_end = text
        .find(|c: char| c.is_whitespace() || matches!(c, '(' | ':' | '=' | '[' | '<' | '>'))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    if !is_valid_package_name(name) {
        return Err(error(
            offset_of(text),
            format!(
                "`{name}` is not a valid Debian package name (lower case letters, digits, \
                 `+`, `-` and `.`, at least two characters, starting with a letter or digit)"
            ),
        ));
    }
    let mut rest = &text[name_end..];

    let mut arch = None;
    if let Some(after) = rest.strip_prefix(':') {
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '(' | '='))
            .unwrap_or(after.len());
        let name = &after[..end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(error(offset_of(rest), "expected an architecture after `:`"));
        }
        arch = Some(name.to_string());
        rest = &after[end..];
    }

    let mut constraint = None;
    let trimmed = rest.trim_start();
    if let Some(version) = trimmed.strip_prefix('=').filter(|_| allow_equals) {
        if trimmed.starts_with("==") {
            return Err(error(
                offset_of(trimmed),
                "use `name=version` (one `=`) to pin an apt version",
            ));
        }
        constraint = Some((
            VersionOp::Equal,
            parse_constraint_version(version, offset_of(version))?,
        ));
        rest = "";
    } else if let Some(inner) = trimmed.strip_prefix('(') {
        let Some(close) = inner.find(')') else {
            return Err(error(
                offset_of(trimmed),
                "missing `)` after the version constraint",
            ));
        };
        let body = &inner[..close];
        let body_trimmed = body.trim_start();
        let (op, after_op) = parse_op(body_trimmed).ok_or_else(|| {
            error(
                offset_of(body_trimmed),
                "expected a version operator (`<<`, `<=`, `=`, `>=` or `>>`)",
            )
        })?;
        constraint = Some((op, parse_constraint_version(after_op, offset_of(after_op))?));
        rest = &inner[close + 1..];
    }
    if !rest.trim().is_empty() {
        return Err(error(
            offset_of(rest.trim_start()),
            format!("unexpected `{}` after the package relation", rest.trim()),
        ));
    }
    Ok(Relation {
        name: name.to_string(),
        arch,
        constraint,
    })
}

fn parse_op(text: &str) -> Option<(VersionOp, &str)> {
    // Longest first; `<` and `>` alone are deprecated spellings of `<=` and `>=`.
    const OPS: [(&str, VersionOp); 7] = [
        ("<<", VersionOp::Less),
        ("<=", VersionOp::LessEq),
        (">>", VersionOp::Greater),
        (">=", VersionOp::GreaterEq),
        ("=", VersionOp::Equal),
        ("<", VersionOp::LessEq),
        (">", VersionOp::GreaterEq),
    ];
    OPS.iter()
        .find_map(|(s, op)| text.strip_prefix(s).map(|rest| (*op, rest)))
}

fn parse_constraint_version(text: &str, offset: usize) -> Result<Version, RelationError> {
    let version = text.trim();
    let offset = offset + (text.len() - text.trim_start().len());
    if version.is_empty() {
        return Err(error(offset, "missing version"));
    }
    if version.contains(char::is_whitespace) {
        return Err(error(
            offset,
            format!("`{version}` is not a valid Debian version"),
        ));
    }
    check_version_syntax(version).map_err(|why| {
        error(
            offset,
            format!("`{version}` is not a valid Debian version: {why}"),
        )
    })?;
    parse_debian_version(version).map_err(|e| {
        error(
            offset,
            format!("`{version}` is not a valid Debian version: {e}"),
        )
    })
}

/// Parses a Debian version without a regular expression: the `debversion` crate's
/// parser runs one per call, which dominated the resolver's time over a full `Packages`
/// index (60,000 versions). Same result as its `FromStr`: the epoch is the number before
/// the first `:`, the revision what follows the last `-`.
pub fn parse_debian_version(text: &str) -> Result<Version, &'static str> {
    let (epoch, upstream, revision) = split_debian_version(text)?;
    Ok(Version {
        epoch,
        upstream_version: upstream.to_string(),
        debian_revision: revision.map(str::to_string),
    })
}

/// The epoch, upstream version and revision of a Debian version, borrowed: the check of
/// [`parse_debian_version`] without its allocations.
pub fn split_debian_version(text: &str) -> Result<(Option<u32>, &str, Option<&str>), &'static str> {
    // As the crate's pattern `^(?:(\d+):)?([A-Za-z0-9.+:~-]+?)(?:-([A-Za-z0-9+.~]+))?$`
    // decides: an epoch only when the rest still parses, a revision only when valid.
    if let Some((epoch, rest)) = text.split_once(':')
        && !epoch.is_empty()
        && epoch.bytes().all(|b| b.is_ascii_digit())
        && let Some((upstream, revision)) = split_revision(rest)
    {
        let epoch = epoch.parse::<u32>().map_err(|_| "the epoch is too large")?;
        return Ok((Some(epoch), upstream, revision));
    }
    match split_revision(text) {
        Some((upstream, revision)) => Ok((None, upstream, revision)),
        None => Err("a version is letters, digits and `.+~-:`, and not empty"),
    }
}

/// `upstream[-revision]`: the revision is what follows the last `-` when that is a valid
/// revision and leaves an upstream part; else there is none.
fn split_revision(text: &str) -> Option<(&str, Option<&str>)> {
    let revision_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~');
    let upstream_char = |c: char| revision_char(c) || c == '-' || c == ':';
    if text.is_empty() || !text.chars().all(upstream_char) {
        return None;
    }
    match text.rsplit_once('-') {
        Some((upstream, revision))
            if !upstream.is_empty()
                && !revision.is_empty()
                && revision.chars().all(revision_char) =>
        {
            Some((upstream, Some(revision)))
        }
        _ => Some((text, None)),
    }
}

/// dpkg's version syntax (deb-version(7)): `[epoch:]upstream[-revision]`, the epoch a
/// number, the upstream part starting with a digit. Stricter than the `debversion` crate,
/// which accepts an empty upstream part.
pub fn check_version_syntax(version: &str) -> Result<(), &'static str> {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) => (Some(epoch), rest),
        None => (None, version),
    };
    if epoch.is_some_and(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit())) {
        return Err("the epoch must be a number");
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((upstream, revision)) => (upstream, Some(revision)),
        None => (rest, None),
    };
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("the upstream version must start with a digit");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~');
    if !upstream.chars().all(|c| allowed(c) || c == '-' || c == ':') {
        return Err("only letters, digits and `.+~-:` are allowed");
    }
    if revision.is_some_and(|r| r.is_empty() || !r.chars().all(allowed)) {
        return Err("the revision after the last `-` must be letters, digits or `.+~`");
    }
    Ok(())
}

/// Parses a dependency field such as Depends: comma-separated relations, each possibly a
/// `|`-separated group of alternatives.
pub fn parse_dependency_field(input: &str) -> Result<Vec<Vec<Relation>>, RelationError> {
    let mut groups = Vec::new();
    let mut group_start = 0;
    for group in input.split(',') {
        if group.trim().is_empty() {
            group_start += group.len() + 1;
            continue;
        }
        let mut alternatives = Vec::new();
        let mut alt_start = group_start;
        for alternative in group.split('|') {
            let relation = parse_relation(alternative, false).map_err(|e| RelationError {
                offset: alt_start + e.offset,
                ..e
            })?;
            alternatives.push(relation);
            alt_start += alternative.len() + 1;
        }
        groups.push(alternatives);
        group_start += group.len() + 1;
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parse_debian_version_agrees_with_debversion() {
        let cases = [
            "1.0",
            "1:2.30-1",
            "2.36-9+deb12u4",
            "1.0-",
            "-1",
            "1:",
            "a:b",
            "1:2:3-4",
            "1-2:3",
            "0.9~rc1-1~bpo12+1",
            "99999999999:1",
            "",
            "1.0 beta",
            "7.88.1-10+deb12u5",
        ];
        for case in cases {
            let ours = parse_debian_version(case).ok();
            let theirs = case.parse::<Version>().ok();
            assert_eq!(ours, theirs, "{case:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_debian_version_agrees_with_debversion_on_any_input(text in "[0-9a-c:.+~ -]{0,12}") {
            proptest::prop_assert_eq!(parse_debian_version(&text).ok(), text.parse::<Version>().ok());
        }
    }

    use super::*;

    fn rel(s: &str) -> Relation {
        parse_relation(s, true).unwrap()
    }

    #[test]
    fn reads_the_manifest_forms() {
        assert_eq!(rel("graphviz").to_string(), "graphviz");
        assert_eq!(rel("libpq5 (>= 15)").to_string(), "libpq5 (>= 15)");
        assert_eq!(rel("libpq5(>=15)").to_string(), "libpq5 (>= 15)");
        assert_eq!(
            rel("curl=7.88.1-10+deb12u5").to_string(),
            "curl (= 7.88.1-10+deb12u5)"
        );
        assert_eq!(rel("python3:any").arch.as_deref(), Some("any"));
        assert_eq!(
            rel("libc6:amd64 (<< 2.37)").to_string(),
            "libc6:amd64 (<< 2.37)"
        );
    }

    #[test]
    fn points_at_what_is_wrong() {
        let e = parse_relation("libpq5 (~> 15)", true).unwrap_err();
        assert_eq!(e.offset, 8);
        let e = parse_relation("Graphviz", true).unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.message.contains("not a valid Debian package name"));
        let e = parse_relation("curl==7.88", true).unwrap_err();
        assert!(e.message.contains("one `=`"));
        let e = parse_relation("libpq5 (>= 15", true).unwrap_err();
        assert!(e.message.contains("missing `)`"));
        let e = parse_relation("libpq5 (>= 1:)", true).unwrap_err();
        assert!(
            e.message.contains("not a valid Debian version"),
            "{}",
            e.message
        );
        assert!(parse_relation("curl=1.0", false).is_err());
    }

    #[test]
    fn reads_dependency_fields_with_alternatives() {
        let groups =
            parse_dependency_field("libc6 (>= 2.34), default-mta | mail-transport-agent, ")
                .unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[1].len(), 2);
        assert_eq!(groups[1][1].name, "mail-transport-agent");
        let e = parse_dependency_field("libc6, libfoo (>= )").unwrap_err();
        assert_eq!(&"libc6, libfoo (>= )"[e.offset..], ")");
    }

    #[test]
    fn version_ops_compare_as_dpkg() {
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(VersionOp::Less.matches(&v("1.0~rc1"), &v("1.0")));
        assert!(VersionOp::GreaterEq.matches(&v("1:0.1"), &v("9.9")));
        assert!(!VersionOp::Greater.matches(&v("1.0"), &v("1.0")));
    }
}
