//! `/etc/apt/preferences` and `preferences.d/*`: the pin priorities apt gives versions,
//! which decide its candidates (apt_preferences(5)).
//!
//! A stanza names packages (`Package: name glob* /regex/`, or `*` for all), what it
//! pins (`Pin: release a=…, n=…, v=…, o=…, l=…, c=…, b=…`, `Pin: version 1.2*`,
//! `Pin: origin host`) and `Pin-Priority`. As apt does, a version gets the priority of
//! the first stanza naming its package (a specific pin) that matches it; else the first
//! `Package: *` stanza that matches its source; else its source's default priority.

use crate::apt::index::Release;
use crate::deb822;
use crate::image::ImageError;
use crate::image::rootfs::RootFs;

const PREFERENCES: &str = "etc/apt/preferences";
const PREFERENCES_DIR: &str = "etc/apt/preferences.d";

/// The pins of an image, in the order apt reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    stanzas: Vec<Stanza>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stanza {
    /// Empty means every package (`Package: *`).
    packages: Vec<Pattern>,
    pin: Pin,
    priority: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Glob(String),
    /// `/regex/`: only the forms pins use in practice (literals, `.`, `.*`, `^`, `$`)
    /// are understood; anything else is refused when read rather than guessed.
    Regex(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pin {
    /// `release` with `key=value` conditions (all must hold); a bare value matches the
    /// archive or the codename.
    Release(Vec<(String, String)>),
    /// `version` glob.
    Version(String),
    /// `origin` host of the source URL (`""` for local files).
    Origin(String),
}

/// Where a version comes from, for matching pins.
#[derive(Debug, Clone, Copy)]
pub struct PinSource<'a> {
    pub release: &'a Release,
    pub component: &'a str,
    pub architecture: &'a str,
    /// The host of the source URL.
    pub host: &'a str,
}

/// A preferences file that apt would refuse, with where.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct PinError {
    pub file: String,
    pub line: usize,
    pub problem: PinProblem,
}

/// What is wrong with a pin stanza.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinProblem {
    #[error("a pin needs `Package:`, `Pin:` and `Pin-Priority:`")]
    Incomplete,
    #[error("`Pin-Priority: {0}` is not a number")]
    Priority(String),
    /// A `Package: /regex/` this reader does not understand.
    #[error("`Package: {word}`: {regex}")]
    Package {
        word: String,
        regex: UnsupportedRegex,
    },
    #[error("`Pin: release`: unknown key `{0}`")]
    ReleaseKey(String),
    #[error("`Pin: {0}` is not a pin apt knows (release, version or origin)")]
    Kind(String),
}

/// A regular expression beyond the forms pins use in practice, with the first
/// character that is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this version of rtlock understands only literals, `.`, `.*`, `^` and `$` in a \
     regular expression, not `{0}`; name the packages or use a glob"
)]
pub struct UnsupportedRegex(pub char);

/// Either kind of failure reading an image's preferences.
#[derive(Debug, thiserror::Error)]
pub enum ImagePinsError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Pin(#[from] PinError),
}

impl Preferences {
    /// The image's `/etc/apt/preferences`, then `preferences.d/*` in name order (only
    /// names apt reads: letters, digits, `_`, `-`, `.`, and no extension or `.pref`).
    pub fn from_image(rootfs: &RootFs) -> Result<Preferences, ImagePinsError> {
        let mut preferences = Preferences::default();
        if let Some(bytes) = rootfs.read_file(PREFERENCES)? {
            preferences.extend(&String::from_utf8_lossy(&bytes), "/etc/apt/preferences")?;
        }
        let mut names: Vec<String> = rootfs
            .list_dir(PREFERENCES_DIR)?
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| apt_reads(name))
            .collect();
        names.sort();
        for name in names {
            let path = format!("{PREFERENCES_DIR}/{name}");
            if let Some(bytes) = rootfs.read_file(&path)? {
                preferences.extend(&String::from_utf8_lossy(&bytes), &format!("/{path}"))?;
            }
        }
        Ok(preferences)
    }

    /// Parses one preferences file (`file` names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<Preferences, PinError> {
        let mut preferences = Preferences::default();
        preferences.extend(text, file)?;
        Ok(preferences)
    }

    fn extend(&mut self, text: &str, file: &str) -> Result<(), PinError> {
        for paragraph in deb822::paragraphs(text) {
            let line = deb822::line_of(text, paragraph.offset);
            let error = |problem: PinProblem| PinError {
                file: file.to_string(),
                line,
                problem,
            };
            let (Some(package), Some(pin), Some(priority)) = (
                paragraph.get("Package"),
                paragraph.get("Pin"),
                paragraph.get("Pin-Priority"),
            ) else {
                // apt skips stanzas that are only an `Explanation`; a partial one is a
                // mistake worth naming.
                if paragraph.get("Package").is_some() || paragraph.get("Pin").is_some() {
                    return Err(error(PinProblem::Incomplete));
                }
                continue;
            };
            let priority: i32 = priority
                .trim()
                .parse()
                .map_err(|_| error(PinProblem::Priority(priority.trim().to_string())))?;
            self.stanzas.push(Stanza {
                packages: parse_packages(package).map_err(error)?,
                pin: parse_pin(pin).map_err(error)?,
                priority,
            });
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.stanzas.is_empty()
    }

    /// The pin priority of `package` at `version` from `source`, whose priority without
    /// pins is `default`.
    pub fn priority(&self, package: &str, version: &str, source: &PinSource, default: i32) -> i32 {
        let specific = self.stanzas.iter().find(|s| {
            !s.packages.is_empty()
                && s.packages.iter().any(|p| p.matches(package))
                && s.pin.matches(version, source)
        });
        if let Some(stanza) = specific {
            return stanza.priority;
        }
        self.stanzas
            .iter()
            .find(|s| s.packages.is_empty() && s.pin.matches(version, source))
            .map_or(default, |s| s.priority)
    }
}

fn apt_reads(name: &str) -> bool {
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let extension_ok = match name.rsplit_once('.') {
        None => true,
        Some((_, extension)) => extension == "pref",
    };
    valid && extension_ok && !name.starts_with('.')
}

fn parse_packages(value: &str) -> Result<Vec<Pattern>, PinProblem> {
    let words: Vec<&str> = value.split_whitespace().collect();
    if words == ["*"] {
        return Ok(Vec::new());
    }
    words
        .into_iter()
        .map(|word| {
            if let Some(inner) = word.strip_prefix('/').and_then(|w| w.strip_suffix('/')) {
                check_regex(inner)
                    .map(|()| Pattern::Regex(inner.to_string()))
                    .map_err(|regex| PinProblem::Package {
                        word: word.to_string(),
                        regex,
                    })
            } else {
                Ok(Pattern::Glob(word.to_string()))
            }
        })
        .collect()
}

fn parse_pin(value: &str) -> Result<Pin, PinProblem> {
    let value = value.trim();
    let (kind, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    let rest = rest.trim();
    match kind {
        "release" => {
            let mut conditions = Vec::new();
            for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match part.split_once('=') {
                    Some((key, value)) => {
                        let key = match key.trim() {
                            "a" | "archive" | "suite" => "a",
                            "n" | "codename" => "n",
                            "v" | "version" => "v",
                            "o" | "origin" => "o",
                            "l" | "label" => "l",
                            "c" | "component" => "c",
                            "b" | "architecture" => "b",
                            other => {
                                return Err(PinProblem::ReleaseKey(other.to_string()));
                            }
                        };
                        conditions.push((key.to_string(), unquote(value.trim()).to_string()));
                    }
                    None => conditions.push((String::new(), unquote(part).to_string())),
                }
            }
            Ok(Pin::Release(conditions))
        }
        "version" => Ok(Pin::Version(unquote(rest).to_string())),
        "origin" => Ok(Pin::Origin(unquote(rest).to_string())),
        other => Err(PinProblem::Kind(other.to_string())),
    }
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

impl Pattern {
    fn matches(&self, package: &str) -> bool {
        match self {
            Pattern::Glob(glob) => glob_matches(glob, package),
            Pattern::Regex(regex) => regex_matches(regex, package),
        }
    }
}

impl Pin {
    fn matches(&self, version: &str, source: &PinSource) -> bool {
        match self {
            Pin::Version(glob) => glob_matches(glob, version),
            Pin::Origin(host) => host == source.host,
            Pin::Release(conditions) => conditions.iter().all(|(key, want)| {
                let release = source.release;
                let field = |value: &Option<String>| value.as_deref() == Some(want.as_str());
                match key.as_str() {
                    "a" => field(&release.suite),
                    "n" => field(&release.codename),
                    // The Release file's `Version` is not kept; a `v=` pin never matches,
                    // as apt's does not for a suite without one.
                    "v" => false,
                    "o" => field(&release.origin),
                    "l" => field(&release.label),
                    "c" => source.component == want,
                    "b" => source.architecture == want,
                    _ => field(&release.suite) || field(&release.codename),
                }
            }),
        }
    }
}

/// fnmatch-style `*` and `?` (apt matches package names and versions this way).
fn glob_matches(glob: &str, text: &str) -> bool {
    fn go(g: &[u8], t: &[u8]) -> bool {
        match g.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(glob.as_bytes(), text.as_bytes())
}

/// The regular expressions pins use in practice: literals, `.`, `.*`, `^` and `$`.
fn check_regex(regex: &str) -> Result<(), UnsupportedRegex> {
    match regex.chars().find(|c| {
        matches!(
            c,
            '[' | ']' | '(' | ')' | '|' | '+' | '?' | '{' | '}' | '\\'
        )
    }) {
        Some(c) => Err(UnsupportedRegex(c)),
        None => Ok(()),
    }
}

fn regex_matches(regex: &str, text: &str) -> bool {
    let anchored_start = regex.starts_with('^');
    let anchored_end = regex.ends_with('$') && !regex.ends_with("\\$");
    let core = regex.trim_start_matches('^');
    let core = if anchored_end {
        &core[..core.len() - 1]
    } else {
        core
    };
    // `.*` becomes `*`, a lone `.` becomes `?`; unanchored ends match anything.
    let glob = core
        .replace(".*", "\u{0}")
        .replace('.', "?")
        .replace('\u{0}', "*");
    let glob = format!(
        "{}{glob}{}",
        if anchored_start { "" } else { "*" },
        if anchored_end { "" } else { "*" }
    );
    glob_matches(&glob, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(suite: &str, codename: &str, origin: &str) -> Release {
        Release {
            suite: Some(suite.into()),
            codename: Some(codename.into()),
            origin: Some(origin.into()),
            ..Release::default()
        }
    }

    fn source<'a>(release: &'a Release, host: &'a str) -> PinSource<'a> {
        PinSource {
            release,
            component: "main",
            architecture: "amd64",
            host,
        }
    }

    const TEXT: &str = "\
Explanation: keep postgres from the vendor
Package: postgresql* libpq5
Pin: origin apt.vendor.test
Pin-Priority: 900

Package: /^python3-.*-dev$/
Pin: version 3.11*
Pin-Priority: 1001

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 500

Package: *
Pin: release a=unstable, o=Debian
Pin-Priority: -10
";

    #[test]
    fn specific_pins_win_then_general_ones_then_the_default() {
        let prefs = Preferences::parse(TEXT, "/etc/apt/preferences").unwrap();
        let stable = release("stable", "bookworm", "Debian");
        let backports = release("stable-backports", "bookworm-backports", "Debian");
        let unstable = release("unstable", "sid", "Debian");

        let vendor = source(&stable, "apt.vendor.test");
        assert_eq!(prefs.priority("libpq5", "16.1", &vendor, 500), 900);
        assert_eq!(prefs.priority("postgresql-16", "16.1", &vendor, 500), 900);
        assert_eq!(prefs.priority("libpq-dev", "16.1", &vendor, 500), 500);

        let mirror = source(&stable, "mirror.test");
        assert_eq!(prefs.priority("libpq5", "15.5", &mirror, 500), 500);
        assert_eq!(
            prefs.priority("python3-foo-dev", "3.11.2-1", &mirror, 500),
            1001
        );
        assert_eq!(
            prefs.priority("python3-foo-dev", "3.12.0-1", &mirror, 500),
            500
        );
        assert_eq!(prefs.priority("python3-foo", "3.11.2-1", &mirror, 500), 500);

        assert_eq!(
            prefs.priority("hello", "1", &source(&backports, "m"), 100),
            500
        );
        assert_eq!(
            prefs.priority("hello", "1", &source(&unstable, "m"), 500),
            -10
        );
        assert_eq!(
            prefs.priority(
                "hello",
                "1",
                &source(&release("unstable", "sid", "Other"), "m"),
                500
            ),
            500
        );
    }

    #[test]
    fn the_first_matching_stanza_decides() {
        let text = "Package: hello\nPin: release a=stable\nPin-Priority: 700\n\n\
                    Package: hello\nPin: release a=stable\nPin-Priority: 50\n";
        let prefs = Preferences::parse(text, "p").unwrap();
        let stable = release("stable", "bookworm", "Debian");
        assert_eq!(
            prefs.priority("hello", "1", &source(&stable, "m"), 500),
            700
        );
    }

    #[test]
    fn bad_pins_name_file_and_line() {
        let cases = [
            (
                "Package: a\nPin: release a=x\nPin-Priority: high\n",
                1,
                "`Pin-Priority: high` is not a number",
            ),
            (
                "\n\nPackage: a\nPin: color red\nPin-Priority: 1\n",
                3,
                "`Pin: color` is not a pin apt knows (release, version or origin)",
            ),
            (
                "Package: a\nPin-Priority: 1\n",
                1,
                "a pin needs `Package:`, `Pin:` and `Pin-Priority:`",
            ),
            (
                "Package: /a(b|c)/\nPin: version 1\nPin-Priority: 1\n",
                1,
                "`Package: /a(b|c)/`: this version of rtlock understands only literals, `.`, \
                 `.*`, `^` and `$` in a regular expression, not `(`; name the packages or use \
                 a glob",
            ),
            (
                "Package: a\nPin: release q=1\nPin-Priority: 1\n",
                1,
                "`Pin: release`: unknown key `q`",
            ),
        ];
        for (text, line, message) in cases {
            let e = Preferences::parse(text, "/etc/apt/preferences.d/x").unwrap_err();
            assert_eq!(e.line, line, "{text}");
            assert_eq!(
                e.to_string(),
                format!("/etc/apt/preferences.d/x:{line}: {message}")
            );
        }
    }

    #[test]
    fn only_names_apt_reads_in_preferences_d() {
        for ok in ["pins", "10-vendor.pref", "a_b.c.pref"] {
            assert!(apt_reads(ok), "{ok}");
        }
        for skipped in ["pins.dpkg-old", "x.bak", ".hidden", "a b", "pins~"] {
            assert!(!apt_reads(skipped), "{skipped}");
        }
    }
}
