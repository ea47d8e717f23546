//! apt and dpkg in an image: the sources apt would use (one-line `.list` and deb822
//! `.sources` files), the keyrings present, and the packages dpkg has installed.

use serde::Serialize;

use crate::apt::index::sources::{self, SourceEntry};
use crate::apt::index::{SignedBy, SourceError};
use crate::base::dpkg::{self, DpkgPackage};
use crate::base::recorded::{Recorded, RecordedDigest};
use crate::image::ImageError;
use crate::image::rootfs::{Keep, Kind, RootFs};

/// apt's configuration and dpkg's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Apt {
    pub sources: Vec<Source>,
    /// Keyring files in the places apt and the sources use (`/etc/apt/trusted.gpg`,
    /// `/etc/apt/trusted.gpg.d`, `/etc/apt/keyrings`, `/usr/share/keyrings`).
    pub keyrings: Vec<String>,
    pub packages: Vec<DpkgPackage>,
}

/// One source entry (a line of a `.list` file, or a paragraph of a `.sources` file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file it is in (`/etc/apt/sources.list`).
    pub file: String,
    /// `one-line` or `deb822`.
    pub format: &'static str,
    /// `false` for a deb822 paragraph apt reads as disabled (`Enabled: no`, `false`, …).
    pub enabled: bool,
    /// `deb`, `deb-src`.
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// Keyring paths from `signed-by` / `Signed-By`; `inline` for an embedded key.
    pub signed_by: Vec<String>,
    /// Other options (`arch=amd64`, `trusted=yes`, …), `name=value`.
    pub options: Vec<String>,
}

const KEYRING_DIRS: [&str; 3] = [
    "etc/apt/trusted.gpg.d",
    "etc/apt/keyrings",
    "usr/share/keyrings",
];

pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    // The files `sources::entries_from_image` and `dpkg_packages` read.
    let keep = path == sources::SOURCES_LIST
        || path
            .strip_prefix(sources::SOURCES_DIR)
            .is_some_and(|rest| rest.starts_with('/'));
    keep.then_some(Keep::Whole)
        .or_else(|| dpkg::wanted(path, size))
}

pub fn inventory(rootfs: &RootFs) -> Result<Apt, ImageError> {
    Ok(Apt {
        sources: sources(rootfs)?,
        keyrings: keyrings(rootfs)?,
        packages: dpkg::packages(rootfs)?,
    })
}

/// The entries `lock` would read too, through the same reader; an entry that reader
/// refuses is left out here (`lock` reports it with its file and line).
fn sources(rootfs: &RootFs) -> Result<Vec<Source>, ImageError> {
    Ok(shown(sources::entries_from_image(rootfs)?))
}

fn shown(entries: Vec<Result<SourceEntry, SourceError>>) -> Vec<Source> {
    entries
        .into_iter()
        .filter_map(Result::ok)
        .map(Source::from)
        .collect()
}

impl From<SourceEntry> for Source {
    fn from(entry: SourceEntry) -> Source {
        let signed_by = match entry.signed_by {
            Some(SignedBy::Keyrings(keyrings)) => keyrings,
            Some(SignedBy::Inline(_)) => vec!["inline".to_string()],
            None => Vec::new(),
        };
        Source {
            file: entry.file,
            format: entry.format.name(),
            enabled: entry.enabled,
            types: entry.types,
            uris: entry.uris,
            suites: entry.suites,
            components: entry.components,
            signed_by,
            options: entry.options,
        }
    }
}

fn keyrings(rootfs: &RootFs) -> Result<Vec<String>, ImageError> {
    let mut out = Vec::new();
    if rootfs
        .stat("etc/apt/trusted.gpg")?
        .is_some_and(|(_, n)| n.kind == Kind::File)
    {
        out.push("/etc/apt/trusted.gpg".to_string());
    }
    for dir in KEYRING_DIRS {
        for (name, _) in rootfs.list_dir(dir)? {
            let path = format!("{dir}/{name}");
            if rootfs
                .stat(&path)?
                .is_some_and(|(_, n)| n.kind == Kind::File)
            {
                out.push(format!("/{path}"));
            }
        }
    }
    Ok(out)
}

/// Where dpkg keeps each package's `*.md5sums`.
const DPKG_INFO: &str = "var/lib/dpkg/info";
/// dpkg's own configuration (`path-exclude`, `path-include`).
const DPKG_CFG: &str = "etc/dpkg/dpkg.cfg";
/// dpkg-divert's database.
const DPKG_DIVERSIONS: &str = "var/lib/dpkg/diversions";
const DPKG_CFG_DIR: &str = "etc/dpkg/dpkg.cfg.d";

/// The files [`recorded_files`] and [`DpkgPaths::of_image`] read.
pub fn record_wanted(path: &str, _size: u64) -> Option<Keep> {
    let keep = path
        .strip_prefix(DPKG_INFO)
        .is_some_and(|rest| rest.starts_with('/') && rest.ends_with(".md5sums"))
        || path == DPKG_CFG
        || path == DPKG_DIVERSIONS
        || path
            .strip_prefix(DPKG_CFG_DIR)
            .is_some_and(|rest| rest.starts_with('/'));
    keep.then_some(Keep::Whole)
}

/// The files dpkg recorded for `package` with their MD5 (its `*.md5sums`, what
/// `dpkg --verify` and `debsums` check), or `None` when the package has no such
/// record (some packages ship none). Conffiles are not in it: editing configuration is
/// what configuration is for (as `debsums` without `-a`).
pub fn recorded_files(
    rootfs: &RootFs,
    package: &DpkgPackage,
) -> Result<Option<Vec<Recorded>>, ImageError> {
    let qualified = format!(
        "{DPKG_INFO}/{}:{}.md5sums",
        package.name, package.architecture
    );
    let plain = format!("{DPKG_INFO}/{}.md5sums", package.name);
    let bytes = match rootfs.read_file(&qualified)? {
        Some(bytes) => bytes,
        None => match rootfs.read_file(&plain)? {
            Some(bytes) => bytes,
            None => return Ok(None),
        },
    };
    Ok(Some(parse_md5sums(&String::from_utf8_lossy(&bytes))))
}

/// `HEX32  relative/path` lines; a line that is not one is skipped, as dpkg does.
fn parse_md5sums(text: &str) -> Vec<Recorded> {
    text.lines()
        .filter_map(|line| {
            let (hash, path) = line.split_once(char::is_whitespace)?;
            let path = path.trim_start();
            let digest = RecordedDigest::md5_hex(hash)?;
            let path = crate::base::recorded::join("/", path)?;
            Some(Recorded { path, digest })
        })
        .collect()
}

/// Where dpkg really put the files a package's md5sums names: nowhere, for a path its
/// `path-exclude` options left out; elsewhere, for a path another package (or the
/// admin) diverted with `dpkg-divert`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpkgPaths {
    excluded: PathFilter,
    /// Diverted path → (where it went, the package that diverted it; `:` for a local
    /// diversion).
    diversions: std::collections::BTreeMap<String, (String, String)>,
}

impl DpkgPaths {
    pub fn of_image(rootfs: &RootFs) -> Result<DpkgPaths, ImageError> {
        let mut diversions = std::collections::BTreeMap::new();
        if let Some(bytes) = rootfs.read_file(DPKG_DIVERSIONS)? {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            for triple in lines.chunks_exact(3) {
                diversions.insert(
                    triple[0].to_string(),
                    (triple[1].to_string(), triple[2].to_string()),
                );
            }
        }
        Ok(DpkgPaths {
            excluded: PathFilter::of_image(rootfs)?,
            diversions,
        })
    }

    /// Where `package`'s file `path` is, or `None` when dpkg never unpacked it.
    pub fn actual(&self, package: &str, path: &str) -> Option<String> {
        if self.excluded.excludes(path) {
            return None;
        }
        match self.diversions.get(path) {
            Some((to, holder)) if holder != package => Some(to.clone()),
            _ => Some(path.to_string()),
        }
    }
}

/// dpkg's `path-exclude` and `path-include` options: the paths dpkg did not unpack, so
/// a file of a record missing there is no drift (slim images drop documentation so).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PathFilter {
    /// `(exclude?, glob)` in the order dpkg reads them; the last that matches decides.
    rules: Vec<(bool, String)>,
}

impl PathFilter {
    /// The options of `/etc/dpkg/dpkg.cfg`, then of each file of `dpkg.cfg.d` by name.
    fn of_image(rootfs: &RootFs) -> Result<PathFilter, ImageError> {
        let mut files = vec![DPKG_CFG.to_string()];
        files.extend(
            rootfs
                .list_dir(DPKG_CFG_DIR)?
                .into_iter()
                .map(|(name, _)| format!("{DPKG_CFG_DIR}/{name}")),
        );
        let mut filter = PathFilter::default();
        for file in files {
            if let Some(bytes) = rootfs.read_file(&file)? {
                filter.add(&String::from_utf8_lossy(&bytes));
            }
        }
        Ok(filter)
    }

    /// Adds the options of one configuration file (`option=value` or `option value`).
    fn add(&mut self, text: &str) {
        for line in text.lines().map(str::trim) {
            let Some((option, value)) = line.split_once(['=', ' ', '\t']) else {
                continue;
            };
            let exclude = match option.trim() {
                "path-exclude" => true,
                "path-include" => false,
                _ => continue,
            };
            self.rules.push((exclude, value.trim().to_string()));
        }
    }

    /// Did dpkg leave `path` (absolute) out?
    fn excludes(&self, path: &str) -> bool {
        self.rules
            .iter()
            .rev()
            .find(|(_, glob)| fnmatch(glob.as_bytes(), path.as_bytes()))
            .is_some_and(|(exclude, _)| *exclude)
    }
}

/// `fnmatch(3)` without flags, as dpkg calls it: `*` and `?` match any byte, `/`
/// included; `[…]` a class (`!` or `^` negates, `a-z` ranges); `\` quotes.
fn fnmatch(glob: &[u8], text: &[u8]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| fnmatch(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && fnmatch(rest, &text[1..]),
        Some((b'[', rest)) => {
            let Some((&c, tail)) = text.split_first() else {
                return false;
            };
            let (negate, mut class) = match rest.first() {
                Some(b'!' | b'^') => (true, &rest[1..]),
                _ => (false, rest),
            };
            let mut matched = false;
            let mut first = true;
            loop {
                match class {
                    [] => return false, // no closing `]`: not a class, nothing matches
                    [b']', after @ ..] if !first => {
                        return matched != negate && fnmatch(after, tail);
                    }
                    [lo, b'-', hi, after @ ..] if *hi != b']' => {
                        matched |= (*lo..=*hi).contains(&c);
                        class = after;
                    }
                    [x, after @ ..] => {
                        matched |= *x == c;
                        class = after;
                    }
                }
                first = false;
            }
        }
        Some((b'\\', [quoted, rest @ ..])) => {
            text.first() == Some(quoted) && fnmatch(rest, &text[1..])
        }
        Some((c, rest)) => text.first() == Some(c) && fnmatch(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sums_lines() {
        let files = parse_md5sums(
            "d41d8cd98f00b204e9800998ecf8427e  usr/share/doc/a b/x\nnot a line\n0123  usr/x\n",
        );
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "/usr/share/doc/a b/x");
    }

    #[test]
    fn dpkg_path_filters() {
        let mut filter = PathFilter::default();
        filter.add(
            "# slim\npath-exclude /usr/share/doc/*\npath-include=/usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude=/usr/share/locale/[a-d]*\n",
        );
        assert!(filter.excludes("/usr/share/doc/bash/README"));
        assert!(!filter.excludes("/usr/share/doc/bash/copyright"));
        assert!(filter.excludes("/usr/share/man/man1/bash.1.gz"));
        assert!(filter.excludes("/usr/share/locale/de/LC_MESSAGES/x.mo"));
        assert!(!filter.excludes("/usr/share/locale/fr/LC_MESSAGES/x.mo"));
        assert!(!filter.excludes("/usr/bin/bash"));
        let paths = DpkgPaths {
            excluded: filter,
            diversions: [(
                "/usr/bin/x".to_string(),
                ("/usr/bin/x.distrib".to_string(), "other".to_string()),
            )]
            .into(),
        };
        assert_eq!(
            paths.actual("pkg", "/usr/bin/x").as_deref(),
            Some("/usr/bin/x.distrib")
        );
        assert_eq!(
            paths.actual("other", "/usr/bin/x").as_deref(),
            Some("/usr/bin/x")
        );
        assert_eq!(paths.actual("pkg", "/usr/share/man/man1/x.1.gz"), None);
        assert!(fnmatch(b"a?c", b"abc"));
        assert!(!fnmatch(b"[!a]x", b"ax"));
        assert!(fnmatch(b"[]]x", b"]x"));
        assert!(fnmatch(b"a\\*", b"a*"));
        assert!(!fnmatch(b"a\\*", b"ab"));
    }

    #[test]
    fn one_line_and_deb822_sources() {
        let list = shown(sources::read_one_line(
            "# comment\ndeb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://127.0.0.1/debian bookworm main contrib\ndeb-src http://127.0.0.1/d bookworm\nnonsense\n",
            "/etc/apt/sources.list",
        ));
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].file, "/etc/apt/sources.list");
        assert_eq!(list[0].format, "one-line");
        assert_eq!(list[0].signed_by, ["/usr/share/keyrings/x.gpg"]);
        assert_eq!(list[0].options, ["arch=amd64"]);
        assert_eq!(list[0].components, ["main", "contrib"]);
        assert_eq!(list[1].types, ["deb-src"]);

        let deb822 = shown(sources::read_deb822(
            "Types: deb deb-src\nURIs: http://127.0.0.1/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\nX-Repolib-Name: Debian\n\nTypes: deb\nURIs: http://127.0.0.1/x\nSuites: ./\nEnabled: no\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n",
            "/etc/apt/sources.list.d/debian.sources",
        ));
        assert_eq!(deb822.len(), 2);
        assert_eq!(deb822[0].format, "deb822");
        assert_eq!(deb822[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(deb822[0].options, ["X-Repolib-Name=Debian"]);
        assert!(deb822[0].enabled);
        assert!(!deb822[1].enabled);
        assert_eq!(deb822[1].signed_by, ["inline"]);
    }
}
