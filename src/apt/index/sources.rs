//! apt sources: which repositories (URI, suite, components) to read, for which
//! architectures, and with which keys to check them.
//!
//! The one reader of apt's source files. Both forms are read, one-line
//! `deb [opts] URI suite [component…]` (in `sources.list`, `*.list` and the manifest's
//! `[apt] sources`) and deb822 paragraphs (`*.sources`), first into a [`SourceEntry`]
//! per line or paragraph as written (what `inspect` shows), then into the plain
//! [`AptSource`]s `lock` reads: one value per (URI, suite), since that is what has one
//! `InRelease`. `deb-src` entries and disabled paragraphs give no [`AptSource`]: rtlock
//! installs binary packages only. `Enabled:` and the other yes/no fields are read as
//! apt reads them ([`apt_bool`]).

use crate::deb822;
use crate::image::ImageError;
use crate::image::rootfs::RootFs;

/// One repository suite to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// The archive root, always ending in `/` (so relative paths join under it).
    pub uri: String,
    /// `bookworm`, `stable-updates`; for a flat repository the path ending in `/`
    /// (`./`, `pool/`), in which case `components` is empty.
    pub suite: String,
    pub components: Vec<String>,
    /// `arch=` / `Architectures:`; empty means the caller's default architectures.
    pub architectures: Vec<String>,
    pub signed_by: Option<SignedBy>,
    /// `trusted=yes`: apt accepts the repository unsigned, and so does rtlock.
    pub trusted: bool,
    /// `check-valid-until=no` turns off the expiry check of the Release's
    /// `Valid-Until` (needed for snapshot archives, whose Releases are old by design).
    pub check_valid_until: bool,
    /// Where it was written (`/etc/apt/sources.list:3`, `manifest [apt] sources`), for
    /// errors.
    pub origin: String,
}

/// The keys a source names with `signed-by` / `Signed-By`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// Keyring files (absolute paths inside the image) or key fingerprints.
    Keyrings(Vec<String>),
    /// An ASCII-armoured public key block written in the `.sources` file itself.
    Inline(String),
}

impl AptSource {
    /// A flat repository (`deb URI dir/`): its indexes sit right under `URI/dir/`.
    pub fn is_flat(&self) -> bool {
        self.components.is_empty() && self.suite.ends_with('/')
    }

    /// The directory holding `InRelease` (`URI/dists/SUITE/`, or `URI/SUITE` when flat).
    pub fn dist_url(&self) -> String {
        if self.is_flat() {
            let suite = self.suite.trim_start_matches("./");
            format!("{}{}", self.uri, suite)
        } else {
            format!("{}dists/{}/", self.uri, self.suite)
        }
    }
}

/// Why a source line could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SourceError {
    pub origin: String,
    pub message: String,
}

fn fail(origin: &str, message: impl Into<String>) -> SourceError {
    SourceError {
        origin: origin.to_string(),
        message: message.into(),
    }
}

fn with_slash(uri: &str) -> String {
    if uri.ends_with('/') {
        uri.to_string()
    } else {
        format!("{uri}/")
    }
}

/// A boolean as apt reads one (`StringToBool` in apt-pkg): the whole value `0` or `1`
/// (as C's `strtol` reads a number, so `0x1` and `00` count), else, ignoring case,
/// `no` `false` `without` `off` `disable` or `yes` `true` `with` `on` `enable`.
/// `None` for anything else: each caller decides, as apt does, what an unknown value
/// means (for `Enabled:` apt counts it as enabled).
pub(crate) fn apt_bool(value: &str) -> Option<bool> {
    if let Some(number) = strtol_whole(value) {
        return match number {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        };
    }
    let word = value.to_ascii_lowercase();
    match word.as_str() {
        "no" | "false" | "without" | "off" | "disable" => Some(false),
        "yes" | "true" | "with" | "on" | "enable" => Some(true),
        _ => None,
    }
}

/// `value` read whole as `strtol(value, &end, 0)` would (optional sign, `0x` hex,
/// leading-`0` octal, else decimal); `None` unless every character is part of the number.
fn strtol_whole(value: &str) -> Option<i64> {
    let (negative, digits) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        _ => (false, value),
    };
    let (radix, digits) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let number = i64::from_str_radix(digits, radix).ok()?;
    Some(if negative { -number } else { number })
}

/// Which of apt's two forms an entry was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// `deb [opts] URI SUITE [COMPONENT…]` in `sources.list` or `*.list`.
    OneLine,
    /// A paragraph of a `*.sources` file.
    Deb822,
}

impl SourceFormat {
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::OneLine => "one-line",
            SourceFormat::Deb822 => "deb822",
        }
    }
}

/// One entry as it is written (a one-line entry or a deb822 paragraph), before it is
/// split into the (URI, suite) pairs that are read: what `inspect` shows and what
/// [`SourceEntry::apt_sources`] turns into the suites `lock` reads, so the two cannot
/// disagree about the same file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    /// The file it is in (`/etc/apt/sources.list`).
    pub file: String,
    /// Its (first) line, 1-based.
    pub line: usize,
    pub format: SourceFormat,
    /// `false` for a deb822 paragraph whose `Enabled:` apt reads as false.
    pub enabled: bool,
    /// `deb`, `deb-src`.
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    pub signed_by: Option<SignedBy>,
    pub trusted: bool,
    pub check_valid_until: bool,
    /// Every option or field other than the type, URIs, suites, components,
    /// `signed-by` and `Enabled`, as `name=value` in file order (`arch=amd64`,
    /// `Trusted=yes`), for showing.
    pub options: Vec<String>,
}

impl SourceEntry {
    /// `/etc/apt/sources.list:3`, for errors.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// The suites apt reads for this entry: one per URI and suite, none when it is
    /// disabled or has no `deb` type (rtlock installs binary packages only).
    pub fn apt_sources(&self) -> Result<Vec<AptSource>, SourceError> {
        if !self.enabled || !self.types.iter().any(|t| t == "deb") {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for uri in &self.uris {
            for suite in &self.suites {
                let source = AptSource {
                    uri: with_slash(uri),
                    suite: suite.clone(),
                    components: self.components.clone(),
                    architectures: self.architectures.clone(),
                    signed_by: self.signed_by.clone(),
                    trusted: self.trusted,
                    check_valid_until: self.check_valid_until,
                    origin: self.origin(),
                };
                check_suite(&source)?;
                out.push(source);
            }
        }
        Ok(out)
    }
}

/// The suites of `entries`, failing on the first entry that could not be read: a
/// silently dropped source changes what gets resolved.
fn strict(entries: Vec<Result<SourceEntry, SourceError>>) -> Result<Vec<AptSource>, SourceError> {
    let mut out = Vec::new();
    for entry in entries {
        out.extend(entry?.apt_sources()?);
    }
    Ok(out)
}

/// One-line entries. `origin` names the file (line numbers are added); comments and
/// blank lines are skipped; anything else that is not a well-formed `deb` or `deb-src`
/// line is an error.
pub fn parse_one_line(text: &str, origin: &str) -> Result<Vec<AptSource>, SourceError> {
    strict(read_one_line(text, origin))
}

/// Every entry of a one-line file, each read or the reason it could not be.
pub fn read_one_line(text: &str, origin: &str) -> Vec<Result<SourceEntry, SourceError>> {
    text.lines()
        .enumerate()
        .filter_map(|(index, raw)| {
            let line = raw.split('#').next().unwrap_or("").trim();
            (!line.is_empty()).then(|| one_line_entry(line, origin, index + 1))
        })
        .collect()
}

fn one_line_entry(line: &str, file: &str, number: usize) -> Result<SourceEntry, SourceError> {
    let here = format!("{file}:{number}");
    let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    if kind != "deb" && kind != "deb-src" {
        return Err(fail(
            &here,
            format!("expected `deb` or `deb-src`, found `{kind}`"),
        ));
    }
    let mut rest = rest.trim_start();
    let mut options = "";
    if let Some(after) = rest.strip_prefix('[') {
        let Some((inside, tail)) = after.split_once(']') else {
            return Err(fail(&here, "the option list `[` is not closed by `]`"));
        };
        options = inside;
        rest = tail;
    }
    let mut words = rest.split_whitespace();
    let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
        return Err(fail(
            &here,
            "expected `deb [options] URI SUITE [COMPONENT…]`",
        ));
    };
    let mut entry = SourceEntry {
        file: file.to_string(),
        line: number,
        format: SourceFormat::OneLine,
        enabled: true,
        types: vec![kind.to_string()],
        uris: vec![uri.to_string()],
        suites: vec![suite.to_string()],
        components: words.map(str::to_string).collect(),
        architectures: Vec::new(),
        signed_by: None,
        trusted: false,
        check_valid_until: true,
        options: Vec::new(),
    };
    for option in options.split_whitespace() {
        let Some((name, value)) = option.split_once('=') else {
            return Err(fail(
                &here,
                format!("option `{option}` should be `name=value`"),
            ));
        };
        let values = || value.split(',').map(str::to_string).collect::<Vec<_>>();
        match name {
            "signed-by" => {
                entry.signed_by = Some(SignedBy::Keyrings(values()));
                continue;
            }
            "arch" => entry.architectures = values(),
            "trusted" => entry.trusted = apt_bool(value) == Some(true),
            "check-valid-until" => entry.check_valid_until = apt_bool(value) == Some(true),
            // lang=, target=, pdiffs=, by-hash=…: apt's download tuning, no bearing
            // on which packages exist.
            _ => {}
        }
        entry.options.push(option.to_string());
    }
    Ok(entry)
}

/// deb822 `.sources` paragraphs. Each paragraph gives one [`AptSource`] per URI and
/// suite; paragraphs apt reads as disabled (`Enabled: no`, `false`, `off`, `0`, …) and
/// `Types:` without `deb` give none.
pub fn parse_deb822(text: &str, origin: &str) -> Result<Vec<AptSource>, SourceError> {
    strict(read_deb822(text, origin))
}

/// The fields a deb822 entry reads into its own members; the rest are `options`.
const DEB822_OWN_FIELDS: [&str; 6] = [
    "types",
    "uris",
    "suites",
    "components",
    "signed-by",
    "enabled",
];

/// Every paragraph of a `.sources` file, each read or the reason it could not be.
pub fn read_deb822(text: &str, origin: &str) -> Vec<Result<SourceEntry, SourceError>> {
    deb822::paragraphs(text)
        .map(|paragraph| deb822_entry(&paragraph, origin, deb822::line_of(text, paragraph.offset)))
        .collect()
}

fn deb822_entry(
    paragraph: &deb822::Paragraph<'_>,
    file: &str,
    line: usize,
) -> Result<SourceEntry, SourceError> {
    let words = |name: &str| -> Vec<String> {
        paragraph
            .get(name)
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    };
    // apt skips a disabled paragraph before reading anything else of it, and reads a
    // value it does not know as enabled.
    let enabled = paragraph
        .get("Enabled")
        .is_none_or(|v| apt_bool(v) != Some(false));
    let entry = SourceEntry {
        file: file.to_string(),
        line,
        format: SourceFormat::Deb822,
        enabled,
        types: words("Types"),
        uris: words("URIs"),
        suites: words("Suites"),
        components: words("Components"),
        architectures: words("Architectures"),
        signed_by: paragraph.get("Signed-By").map(signed_by),
        trusted: paragraph
            .get("Trusted")
            .is_some_and(|v| apt_bool(v) == Some(true)),
        check_valid_until: paragraph
            .get("Check-Valid-Until")
            .is_none_or(|v| apt_bool(v) == Some(true)),
        options: paragraph
            .fields()
            .filter(|f| !DEB822_OWN_FIELDS.contains(&f.name.to_ascii_lowercase().as_str()))
            .map(|f| format!("{}={}", f.name, deb822::unfold(f.value)))
            .collect(),
    };
    if !entry.enabled {
        return Ok(entry);
    }
    if entry.types.is_empty() {
        return Err(fail(&entry.origin(), "the paragraph has no `Types:` field"));
    }
    let binary = entry.types.iter().any(|t| t == "deb");
    if binary && (entry.uris.is_empty() || entry.suites.is_empty()) {
        return Err(fail(
            &entry.origin(),
            "a source needs both `URIs:` and `Suites:`",
        ));
    }
    Ok(entry)
}

/// `Signed-By:` holds either keyring paths (or fingerprints) or a whole armoured key.
fn signed_by(value: &str) -> SignedBy {
    if value.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
        SignedBy::Inline(deb822::unfold(value))
    } else {
        SignedBy::Keyrings(value.split_whitespace().map(str::to_string).collect())
    }
}

/// apt's rule: a suite ending in `/` is a flat repository and takes no components;
/// any other suite needs at least one.
fn check_suite(source: &AptSource) -> Result<(), SourceError> {
    match (source.suite.ends_with('/'), source.components.is_empty()) {
        (true, false) => Err(fail(
            &source.origin,
            format!(
                "suite `{}` ends in `/` (a flat repository), which takes no components",
                source.suite
            ),
        )),
        (false, true) => Err(fail(
            &source.origin,
            format!(
                "suite `{}` needs at least one component (e.g. `main`), \
                 or a trailing `/` for a flat repository",
                source.suite
            ),
        )),
        _ => Ok(()),
    }
}

/// The manifest's `[apt] sources` (one-line form, one entry per string).
pub fn from_manifest(lines: &[String]) -> Result<Vec<AptSource>, SourceError> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let origin = format!("runtime.toml [apt] sources[{i}]");
        for mut source in parse_one_line(line, &origin)? {
            source.origin = origin.clone();
            out.push(source);
        }
    }
    Ok(out)
}

/// Where apt's source files are, relative to the image root.
pub(crate) const SOURCES_LIST: &str = "etc/apt/sources.list";
pub(crate) const SOURCES_DIR: &str = "etc/apt/sources.list.d";

/// Either kind of failure reading an image's sources.
#[derive(Debug, thiserror::Error)]
pub enum ImageSourcesError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// The sources apt in the image would use: `/etc/apt/sources.list`, then
/// `sources.list.d/*.list` and `*.sources` in name order, as apt reads them.
pub fn from_image(rootfs: &RootFs) -> Result<Vec<AptSource>, ImageSourcesError> {
    Ok(strict(entries_from_image(rootfs)?)?)
}

/// Every entry of the image's source files, in the order apt reads them, each read or
/// the reason it could not be (`inspect` shows the readable ones; `lock` stops at the
/// first that is not).
pub fn entries_from_image(
    rootfs: &RootFs,
) -> Result<Vec<Result<SourceEntry, SourceError>>, ImageError> {
    let mut out = Vec::new();
    if let Some(bytes) = rootfs.read_file(SOURCES_LIST)? {
        out.extend(read_one_line(
            &String::from_utf8_lossy(&bytes),
            "/etc/apt/sources.list",
        ));
    }
    for (name, _) in rootfs.list_dir(SOURCES_DIR)? {
        let path = format!("{SOURCES_DIR}/{name}");
        let read = if name.ends_with(".list") {
            read_one_line
        } else if name.ends_with(".sources") {
            read_deb822
        } else {
            continue;
        };
        if let Some(bytes) = rootfs.read_file(&path)? {
            out.extend(read(&String::from_utf8_lossy(&bytes), &format!("/{path}")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_bool_reads_what_apt_reads() {
        for no in [
            "no", "No", "NO", "false", "False", "off", "without", "disable", "0", "00", "0x0",
            "-0", "+0",
        ] {
            assert_eq!(apt_bool(no), Some(false), "{no}");
        }
        for yes in [
            "yes", "Yes", "YES", "true", "TRUE", "on", "with", "enable", "1", "01", "0x1", "+1",
        ] {
            assert_eq!(apt_bool(yes), Some(true), "{yes}");
        }
        for unknown in ["", "y", "n", "2", "-1", "0x", "1a", "nope", "yes please"] {
            assert_eq!(apt_bool(unknown), None, "{unknown}");
        }
    }

    fn paragraph_with_enabled(value: &str) -> String {
        format!(
            "Types: deb\nURIs: http://127.0.0.1:1/d\nSuites: bookworm\nComponents: main\n\
             Enabled: {value}\n"
        )
    }

    #[test]
    fn enabled_is_read_as_apt_reads_it() {
        for (value, enabled) in [
            ("no", false),
            ("No", false),
            ("false", false),
            ("FALSE", false),
            ("off", false),
            ("0", false),
            ("disable", false),
            ("yes", true),
            ("true", true),
            ("1", true),
            // apt reads a value it does not know as enabled.
            ("maybe", true),
        ] {
            let text = paragraph_with_enabled(value);
            let entries = read_deb822(&text, "x.sources");
            let entry = entries[0].as_ref().unwrap();
            assert_eq!(entry.enabled, enabled, "Enabled: {value}");
            let suites = parse_deb822(&text, "x.sources").unwrap();
            assert_eq!(suites.len(), usize::from(enabled), "Enabled: {value}");
        }
    }

    #[test]
    fn a_disabled_paragraph_is_not_checked() {
        // apt skips it before reading its other fields, so a half-written one is fine.
        let text = "Types: deb\nEnabled: no\n";
        assert!(parse_deb822(text, "x.sources").unwrap().is_empty());
        assert!(!read_deb822(text, "x.sources")[0].as_ref().unwrap().enabled);
        assert!(parse_deb822("Types: deb\nEnabled: yes\n", "x.sources").is_err());
    }

    #[test]
    fn entries_keep_what_is_written() {
        let entries = read_one_line(
            "\n# c\ndeb [arch=amd64 trusted=yes signed-by=/k.gpg] http://127.0.0.1:1/d bookworm main\n\
             deb-src http://127.0.0.1:1/d bookworm main\nbogus line\n",
            "/etc/apt/sources.list",
        );
        assert_eq!(entries.len(), 3);
        let first = entries[0].as_ref().unwrap();
        assert_eq!(
            (first.file.as_str(), first.line),
            ("/etc/apt/sources.list", 3)
        );
        assert_eq!(first.format, SourceFormat::OneLine);
        assert_eq!(first.options, ["arch=amd64", "trusted=yes"]);
        assert_eq!(first.architectures, ["amd64"]);
        assert!(first.trusted);
        assert_eq!(
            first.signed_by,
            Some(SignedBy::Keyrings(vec!["/k.gpg".into()]))
        );
        let source = entries[1].as_ref().unwrap();
        assert_eq!(source.types, ["deb-src"]);
        assert!(
            source.apt_sources().unwrap().is_empty(),
            "deb-src gives no suite"
        );
        let error = entries[2].as_ref().unwrap_err();
        assert_eq!(error.origin, "/etc/apt/sources.list:5");
    }
}
