//! What serde cannot see in a lock: every entry checked against its ecosystem's
//! grammar and against itself, so that a lock edited by hand (or by an attacker in a
//! pull request) cannot name one artifact and fetch another, and no name or path in it
//! can leave the directory it is written into.
//!
//! Checked, each error pointing at the offending value with the entry it belongs to:
//! - `source-date-epoch` fits a ustar header's mtime (0 to 8589934591);
//! - digests are sha256;
//! - names, versions and architectures follow their ecosystem's grammar;
//! - `[base] platform` is `os/architecture[/variant]`, `[image] compression` one the
//!   lock records;
//! - no two entries install the same package (apt: name and architecture; pip and R:
//!   the normalized name);
//! - `[[apt]] needed-by` names packages as `ECOSYSTEM:NAME`, by that grammar;
//! - a wheel's `file` and a .deb's `filename` encode the entry's name and version (and
//!   architecture), and the `url` ends in that same file name;
//! - paths and file names stay inside the directory they are joined to.
//!
//! The base's digests and platform, the compression and the versions are typed fields,
//! parsed as the lock is deserialized; the checks here word the refusal
//! ([`refused`]) as they word every other, so that the error names the file, the line,
//! the field and the entry.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use toml::de::{DeTable, DeValue};

use super::{AptPackage, Grammar, Lockfile, PipPackage, RPackage};
use crate::diagnostic::SourceError;
use crate::oci::Digest;
use crate::oci::layer::Compression;
use crate::oci::types::Platform;
use crate::pip::PackageName;
use crate::pip::wheel_name::WheelName;

/// The largest mtime a ustar header holds (11 octal digits): 2242-03-16.
pub const MAX_SOURCE_DATE_EPOCH: i64 = 0o77777777777;

const RELOCK: &str = "this lock was edited or damaged: run `rtlock lock` to write it again \
                      from the manifest, and review where the change came from";

/// An error message and its help, before it is placed in the file.
pub(super) struct Problem {
    pub(super) message: String,
    help: String,
}

impl Problem {
    fn new(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            help: RELOCK.to_string(),
        }
    }

    fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = help.into();
        self
    }
}

type Check = Result<(), Problem>;

/// A check of a value as the lock's text holds it.
type Checker = fn(&str) -> Check;

/// Where the values of the lock are in its text.
struct Located<'a> {
    path: &'a Path,
    text: &'a str,
    doc: &'a DeTable<'a>,
}

impl Located<'_> {
    /// The span of `key` in the table `section` (`None`: the top level), in its
    /// `index`th entry when the section is an array of tables; the entry's, the
    /// section's or the file's start when the key is missing.
    fn span(&self, section: Option<&str>, index: Option<usize>, key: &str) -> Range<usize> {
        let Some(section) = section else {
            return self.doc.get(key).map_or(0..0, |v| v.span());
        };
        let Some(value) = self.doc.get(section) else {
            return 0..0;
        };
        let table = match (value.get_ref(), index) {
            (DeValue::Table(table), None) => Some((table, value.span())),
            (DeValue::Array(items), Some(i)) => {
                items.get(i).and_then(|item| match item.get_ref() {
                    DeValue::Table(table) => Some((table, item.span())),
                    _ => None,
                })
            }
            _ => None,
        };
        match table {
            Some((table, whole)) => table.get(key).map_or(whole, |v| v.span()),
            None => value.span(),
        }
    }

    fn error(&self, span: Range<usize>, problem: Problem) -> SourceError {
        SourceError::new(self.path, self.text, span, problem.message).with_help(problem.help)
    }
}

/// Checks `lock`, parsed from `doc` (the spanned table of `text`, read from `path`).
pub(super) fn validate(
    lock: &Lockfile,
    doc: &DeTable<'_>,
    text: &str,
    path: &Path,
) -> Result<(), SourceError> {
    let at = Located { path, text, doc };
    let top = |key: &str, check: Check| check.map_err(|p| at.error(at.span(None, None, key), p));
    top(
        "source-date-epoch",
        source_date_epoch(lock.source_date_epoch),
    )?;
    top("manifest", digest("manifest", &lock.manifest).map(drop))?;
    entries(&at, "apt", &lock.apt, apt_checks)?;
    entries(&at, "pip", &lock.pip, pip_checks)?;
    entries(&at, "r", &lock.r, r_checks)?;
    duplicates(&at, "apt", &lock.apt, |p| {
        (
            format!("{} ({})", p.name, p.arch),
            (p.name.clone(), p.arch.clone()),
        )
    })?;
    duplicates(&at, "pip", &lock.pip, |p| {
        (
            p.name.clone(),
            (crate::pip::normalize_name(&p.name), String::new()),
        )
    })?;
    duplicates(&at, "r", &lock.r, |p| {
        (p.name.clone(), (p.name.to_ascii_lowercase(), String::new()))
    })
}

/// One entry's checks: the key each is about, and its outcome.
type EntryChecks = Vec<(&'static str, Check)>;

/// Runs `checks` on every entry of `section`; the first failure, in file order, is the
/// error, prefixed with the entry.
fn entries<T: Named>(
    at: &Located,
    section: &str,
    packages: &[T],
    checks: fn(&T) -> EntryChecks,
) -> Result<(), SourceError> {
    for (index, package) in packages.iter().enumerate() {
        for (key, check) in checks(package) {
            if let Err(problem) = check {
                let problem = of_entry(section, package.name(), problem);
                return Err(at.error(at.span(Some(section), Some(index), key), problem));
            }
        }
    }
    Ok(())
}

/// `problem`, said of the entry `name` of `section`.
fn of_entry(section: &str, name: &str, problem: Problem) -> Problem {
    Problem {
        // Escaped: a name with a NUL or a newline must not garble the message.
        message: format!(
            "[[{section}]] `{}`: {}",
            name.escape_debug(),
            problem.message
        ),
        help: problem.help,
    }
}

/// The located error for a typed value that serde refused at `span` (a digest, the
/// platform, the compression or a version of `doc`), as the other checks word theirs;
/// `None` when `span` is not such a value, or it is not a string (serde's own message
/// then says what is wrong).
pub(super) fn refused(
    doc: &DeTable<'_>,
    text: &str,
    path: &Path,
    span: Range<usize>,
) -> Option<SourceError> {
    let at = Located { path, text, doc };
    let string_at = |value: &toml::Spanned<DeValue<'_>>| {
        (value.span() == span)
            .then(|| value.get_ref().as_str())
            .flatten()
            .map(str::to_string)
    };
    let base_and_image: [(&str, &str, Checker); 4] = [
        ("base", "digest", |v| digest("base.digest", v).map(drop)),
        ("base", "manifest", |v| digest("base.manifest", v).map(drop)),
        ("base", "platform", |v| platform(v).map(drop)),
        ("image", "compression", |v| compression(v).map(drop)),
    ];
    for (section, key, check) in base_and_image {
        let Some(value) = doc
            .get(section)
            .and_then(|s| s.get_ref().as_table())
            .and_then(|t| t.get(key))
        else {
            continue;
        };
        if let Some(raw) = string_at(value) {
            return check(&raw).err().map(|p| at.error(span, p));
        }
    }
    let versions: [(&str, Checker); 3] = [
        ("apt", version::<debversion::Version>),
        ("pip", version::<crate::pip::Version>),
        ("r", version::<crate::r::requirement::RVersion>),
    ];
    for (section, check) in versions {
        let Some(items) = doc.get(section).and_then(|s| s.get_ref().as_array()) else {
            continue;
        };
        for entry in items.iter().filter_map(|item| item.get_ref().as_table()) {
            let Some(raw) = entry.get("version").and_then(string_at) else {
                continue;
            };
            let name = entry.get("name")?.get_ref().as_str()?;
            return check(&raw)
                .err()
                .map(|p| at.error(span, of_entry(section, name, p)));
        }
    }
    None
}

trait Named {
    fn name(&self) -> &str;
}

impl Named for AptPackage {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for PipPackage {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for RPackage {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Two entries with the same `key`: the second is the error, and names the first.
fn duplicates<T, K: Eq + std::hash::Hash>(
    at: &Located,
    section: &str,
    packages: &[T],
    key: impl Fn(&T) -> (String, K),
) -> Result<(), SourceError> {
    let mut seen: HashMap<K, (usize, String)> = HashMap::new();
    for (index, package) in packages.iter().enumerate() {
        let (shown, key) = key(package);
        if let Some((first, first_shown)) = seen.get(&key) {
            let span = at.span(Some(section), Some(*first), "name");
            let line = crate::diagnostic::Position::of_offset(at.text, span.start).line;
            let problem = Problem::new(format!(
                "[[{section}]] `{shown}` is locked twice: `{first_shown}` on line {line} \
                 installs the same package"
            ))
            .help("a lock pins one version of each package: keep one entry, or run `rtlock lock`");
            return Err(at.error(at.span(Some(section), Some(index), "name"), problem));
        }
        seen.insert(key, (index, shown));
    }
    Ok(())
}

fn source_date_epoch(epoch: i64) -> Check {
    if (0..=MAX_SOURCE_DATE_EPOCH).contains(&epoch) {
        return Ok(());
    }
    Err(Problem::new(format!(
        "`source-date-epoch` {epoch} is out of range: image timestamps go from 0 to \
         {MAX_SOURCE_DATE_EPOCH} (2242-03-16, the largest a tar header holds)"
    ))
    .help("set SOURCE_DATE_EPOCH within that range and run `rtlock lock` again"))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn digest(what: &str, value: &str) -> Result<Digest, Problem> {
    value.parse().map_err(|_| {
        Problem::new(format!(
            "`{what}` must be `sha256:` and 64 lower-case hex digits, not `{value}`"
        ))
    })
}

/// `[base] platform`: any `os/architecture[/variant]` (which one a build is for is the
/// manifest's rule; the base image must match it).
pub(super) fn platform(value: &str) -> Result<Platform, Problem> {
    value.parse().map_err(|_| {
        Problem::new(format!(
            "`base.platform` must be OS/ARCH[/VARIANT], such as linux/amd64, not `{value}`"
        ))
    })
}

/// `[image] compression`: one a manifest may name (an empty one is the default, gzip).
pub(super) fn compression(value: &str) -> Result<Compression, Problem> {
    Compression::from_lock(value).ok_or_else(|| {
        Problem::new(format!(
            "`image.compression` must be {}, not `{value}`",
            Compression::NAMES.join(" or ")
        ))
    })
}

/// An entry's version, by its ecosystem's grammar.
fn version<V: Grammar>(value: &str) -> Check {
    V::parse_locked(value)
        .map(drop)
        .map_err(|e| Problem::new(e.to_string()))
}

fn sha256(value: &str) -> Check {
    if is_sha256_hex(value) {
        return Ok(());
    }
    Err(Problem::new(format!(
        "sha256 must be 64 lower-case hex digits, not `{value}`"
    )))
}

fn apt_checks(p: &AptPackage) -> EntryChecks {
    let basename = p.filename.rsplit('/').next().unwrap_or_default();
    vec![
        ("name", apt_name(&p.name)),
        ("arch", arch(&p.arch)),
        ("filename", relative_path("filename", &p.filename)),
        ("filename", deb_file_name(p, basename)),
        ("url", url_names("filename", &p.url, basename)),
        ("sha256", sha256(&p.sha256)),
        ("needed-by", needed_by(&p.needed_by)),
    ]
}

/// `needed-by`: each `ECOSYSTEM:NAME`, the name by that ecosystem's grammar.
fn needed_by(items: &[String]) -> Check {
    for item in items {
        let Some((ecosystem, name)) = item.split_once(':') else {
            return Err(Problem::new(format!(
                "`needed-by` holds {item:?}, which is not ECOSYSTEM:NAME (such as \"r:sf\")"
            )));
        };
        let grammar: fn(&str) -> Check = match ecosystem {
            "apt" => apt_name,
            "pip" => pip_name,
            "r" => r_name,
            _ => {
                return Err(Problem::new(format!(
                    "`needed-by` holds {item:?}: `{}` is not an ecosystem of the lock \
                     (apt, pip or r)",
                    ecosystem.escape_debug()
                )));
            }
        };
        grammar(name)
            .map_err(|p| Problem::new(format!("`needed-by` holds {item:?}: {}", p.message)))?;
    }
    Ok(())
}

fn pip_checks(p: &PipPackage) -> EntryChecks {
    vec![
        ("name", pip_name(&p.name)),
        ("file", file_name("file", &p.file)),
        ("file", wheel_file_name(p)),
        ("url", url_names("file", &p.url, &p.file)),
        ("sha256", sha256(&p.sha256)),
    ]
}

fn r_checks(p: &RPackage) -> EntryChecks {
    vec![
        ("name", r_name(&p.name)),
        ("url", r_url(&p.url)),
        ("sha256", sha256(&p.sha256)),
    ]
}

/// What makes a name or file name unsafe to join to a directory, if anything.
fn escapes(name: &str) -> Option<&'static str> {
    if name.contains('\0') {
        Some("a NUL byte")
    } else if name.contains('\\') {
        Some("a backslash")
    } else if name.contains('/') {
        Some("a `/`")
    } else if name == "." || name == ".." {
        Some("a `.` or `..` directory name")
    } else {
        None
    }
}

/// A name that is not a safe single path component, or breaks `grammar`.
fn name_check(name: &str, grammar: &str, valid: impl Fn(&str) -> bool) -> Check {
    if let Some(why) = escapes(name) {
        return Err(Problem::new(format!(
            "the name {name:?} holds {why}: it could escape the directory it is installed into"
        )));
    }
    if valid(name) {
        return Ok(());
    }
    Err(Problem::new(format!(
        "{name:?} is not a valid package name ({grammar})"
    )))
}

/// Debian policy 5.6.1: lower-case letters, digits, `+`, `-`, `.`; at least two
/// characters, starting with a letter or digit.
fn apt_name(name: &str) -> Check {
    name_check(
        name,
        "Debian names are lower-case letters, digits and `+-.`, at least two characters, \
         starting with a letter or digit",
        |n| {
            n.len() >= 2
                && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
        },
    )
}

fn pip_name(name: &str) -> Check {
    name_check(
        name,
        "PEP 508: letters, digits and `._-`, starting and ending with a letter or digit",
        |n| PackageName::from_str(n).is_ok(),
    )
}

/// Writing R Extensions 1.1.1: letters, digits and `.`, at least two characters,
/// starting with a letter and not ending in a `.`.
fn r_name(name: &str) -> Check {
    name_check(
        name,
        "R names are letters, digits and `.`, at least two characters, starting with a \
         letter and not ending in `.`",
        |n| {
            n.len() >= 2
                && n.starts_with(|c: char| c.is_ascii_alphabetic())
                && !n.ends_with('.')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
        },
    )
}

/// dpkg's CPUs (its `cputable`): alone they name a Linux architecture.
const CPUS: &[&str] = &[
    "alpha",
    "amd64",
    "arc",
    "armeb",
    "arm",
    "arm64",
    "avr32",
    "hppa",
    "loong64",
    "i386",
    "ia64",
    "m32r",
    "m68k",
    "mips",
    "mipsel",
    "mipsr6",
    "mipsr6el",
    "mips64",
    "mips64el",
    "mips64r6",
    "mips64r6el",
    "nios2",
    "or1k",
    "powerpc",
    "powerpcel",
    "ppc64",
    "ppc64el",
    "riscv64",
    "s390",
    "s390x",
    "sh3",
    "sh3eb",
    "sh4",
    "sh4eb",
    "sparc",
    "sparc64",
    "tilegx",
];

/// dpkg's Linux architectures that are not a CPU name (its `tupletable`).
const LINUX_ABIS: &[&str] = &[
    "arm64ilp32",
    "armhf",
    "armel",
    "mipsn32",
    "mipsn32el",
    "mipsn32r6",
    "mipsn32r6el",
    "powerpcspe",
    "x32",
];

/// dpkg's other systems: `OS-CPU` (its `tupletable`).
const OSES: &[&str] = &[
    "uclibc-linux",
    "musl-linux",
    "kfreebsd",
    "knetbsd",
    "kopensolaris",
    "hurd",
    "dragonflybsd",
    "freebsd",
    "openbsd",
    "netbsd",
    "darwin",
    "aix",
    "solaris",
    "uclinux",
];

fn is_dpkg_arch(arch: &str) -> bool {
    let cpu_or_abi = |a: &str| CPUS.contains(&a) || LINUX_ABIS.contains(&a);
    arch == "all"
        || cpu_or_abi(arch)
        || OSES.iter().any(|os| {
            arch.strip_prefix(os)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(cpu_or_abi)
        })
}

fn arch(arch: &str) -> Check {
    if is_dpkg_arch(arch) {
        return Ok(());
    }
    let mut known: Vec<&str> = vec!["all"];
    known.extend(CPUS);
    known.extend(LINUX_ABIS);
    let mut problem = Problem::new(format!("`{arch}` is not a dpkg architecture"));
    if let Some(near) = crate::diagnostic::did_you_mean(arch, &known) {
        problem = problem.help(format!("did you mean `{near}`? ({RELOCK})"));
    }
    Err(problem)
}

/// A relative path that stays inside (no root, no `..`, no backslash or NUL).
fn relative_path(field: &str, path: &str) -> Check {
    if path.is_empty() {
        return Err(Problem::new(format!("`{field}` is empty")));
    }
    if path.starts_with('/') {
        return Err(Problem::new(format!(
            "`{field}` {path:?} is an absolute path; it must stay inside the archive"
        )));
    }
    // A flat repository's `Filename: ./x.deb` is fine: `.` and empty components stay
    // where they are; only `..`, a backslash or a NUL could leave.
    match path
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .find_map(escapes)
    {
        Some(why) => Err(Problem::new(format!(
            "`{field}` {path:?} holds {why}: it could escape the directory it is written into"
        ))),
        None => Ok(()),
    }
}

/// A single plain path component.
fn file_name(field: &str, name: &str) -> Check {
    if name.is_empty() {
        return Err(Problem::new(format!("`{field}` is empty")));
    }
    match escapes(name) {
        Some(why) => Err(Problem::new(format!(
            "`{field}` {name:?} holds {why}: it must be a plain file name"
        ))),
        None => Ok(()),
    }
}

/// The wheel's file name parses to the entry's name and version (PEP 440 equality).
fn wheel_file_name(p: &PipPackage) -> Check {
    let wheel = WheelName::from_str(&p.file).map_err(|e| Problem::new(e.to_string()))?;
    let same_name = PackageName::from_str(&p.name).is_ok_and(|n| n == wheel.name);
    let same_version = *p.version.parsed() == wheel.version;
    if same_name && same_version {
        return Ok(());
    }
    Err(Problem::new(format!(
        "the file `{}` is {} {}, not {} {}",
        p.file, wheel.name, wheel.version, p.name, p.version
    )))
}

/// `NAME_VERSION_ARCH.deb`, the version without its epoch as the Debian archive names
/// files; a `:` left in the version (or an epoch kept) is written `%3a`, as dpkg-name
/// and the archive do.
fn deb_file_name(p: &AptPackage, basename: &str) -> Check {
    let without_epoch = match p.version.as_str().split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => p.version.as_str(),
    };
    let expected = format!("{}_{}_{}.deb", p.name, without_epoch, p.arch);
    let decoded = percent_decode(basename);
    let accepted = [
        expected.clone(),
        format!("{}_{}_{}.deb", p.name, p.version, p.arch),
    ];
    if accepted.contains(&decoded) {
        return Ok(());
    }
    Err(Problem::new(format!(
        "the file name `{basename}` is not the entry's: a .deb of {} {} ({}) is `{}`",
        p.name,
        p.version,
        p.arch,
        expected.replace(':', "%3a")
    )))
}

/// The url's last path segment, percent-decoded, equals `name` (decoded too).
fn url_names(field: &str, url: &str, name: &str) -> Check {
    let segment = url_file_name(url)
        .ok_or_else(|| Problem::new(format!("the url `{url}` is not a URL with a path")))?;
    if segment == percent_decode(name) {
        return Ok(());
    }
    Err(Problem::new(format!(
        "the url names the file `{segment}`, but `{field}` is `{name}`: the url must fetch \
         the file the entry names"
    )))
}

/// An R url ends in a plain file name (`fetch --into` writes it under that name).
fn r_url(url: &str) -> Check {
    let segment = url_file_name(url)
        .ok_or_else(|| Problem::new(format!("the url `{url}` is not a URL with a path")))?;
    if segment.is_empty() {
        return Err(Problem::new(format!(
            "the url `{url}` names no file: it must end in the package's file name"
        )));
    }
    file_name("url", &segment)
}

/// The last path segment of `url`, percent-decoded: the name of the file it fetches.
pub fn url_file_name(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.path_segments()?.next_back().map(percent_decode)
}

/// `%2B` → `+` (and nothing else: `+` stays `+`, a lone `%` stays).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_architectures() {
        for arch in [
            "all",
            "amd64",
            "arm64",
            "armhf",
            "i386",
            "hurd-amd64",
            "musl-linux-arm64",
        ] {
            assert!(is_dpkg_arch(arch), "{arch}");
        }
        for arch in ["x86_64", "amd", "linux-amd64", "", "hurd-"] {
            assert!(!is_dpkg_arch(arch), "{arch}");
        }
    }

    #[test]
    fn paths_stay_inside() {
        assert!(relative_path("f", "pool/main/h/hello/hello_2.10-3_amd64.deb").is_ok());
        // A flat repository's file names start with `./`.
        assert!(relative_path("f", "./hello_2.10-3_amd64.deb").is_ok());
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "pool/../../x",
            "",
            "a/./../b",
            "a\\b",
        ] {
            assert!(relative_path("f", bad).is_err(), "{bad}");
        }
        assert!(file_name("f", "a-1.0-py3-none-any.whl").is_ok());
        assert!(file_name("f", "sub/a.whl").is_err());
        assert!(file_name("f", "..").is_err());
    }

    #[test]
    fn decodes_percent_escapes_only() {
        assert_eq!(
            percent_decode("data.table_1.15.4.tar.gz"),
            "data.table_1.15.4.tar.gz"
        );
        assert_eq!(percent_decode("a%2Bb+c%2"), "a+b+c%2");
    }
}
