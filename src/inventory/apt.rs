//! apt and dpkg in an image: the sources apt would use (one-line `.list` and deb822
//! `.sources` files), the keyrings present, and the packages dpkg has installed.

use serde::Serialize;

use crate::apt::index::sources::{self, SourceEntry};
use crate::apt::index::{SignedBy, SourceError};
use crate::apt::resolve::{InstalledPackage, status_packages};
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

/// A package in dpkg's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DpkgPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// dpkg's state (`installed`, `config-files`, `half-configured`, …).
    pub status: String,
    /// The source package, when it differs from the name (`glibc` for `libc6`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// Distroless images keep one status file per package here instead.
const DPKG_STATUS_DIR: &str = "var/lib/dpkg/status.d";
const KEYRING_DIRS: [&str; 3] = [
    "etc/apt/trusted.gpg.d",
    "etc/apt/keyrings",
    "usr/share/keyrings",
];

pub fn wanted(path: &str, _size: u64) -> Option<Keep> {
    // The files `sources::entries_from_image` and `dpkg_packages` read.
    let keep = path == sources::SOURCES_LIST
        || path == DPKG_STATUS
        || path
            .strip_prefix(sources::SOURCES_DIR)
            .is_some_and(|rest| rest.starts_with('/'))
        || path.starts_with("var/lib/dpkg/status.d/");
    keep.then_some(Keep::Whole)
}

pub fn inventory(rootfs: &RootFs) -> Result<Apt, ImageError> {
    Ok(Apt {
        sources: sources(rootfs)?,
        keyrings: keyrings(rootfs)?,
        packages: dpkg_packages(rootfs)?,
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

fn dpkg_packages(rootfs: &RootFs) -> Result<Vec<DpkgPackage>, ImageError> {
    let mut text = String::new();
    if let Some(bytes) = rootfs.read_file(DPKG_STATUS)? {
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    for (name, _) in rootfs.list_dir(DPKG_STATUS_DIR)? {
        if let Some(bytes) = rootfs.read_file(&format!("{DPKG_STATUS_DIR}/{name}"))? {
            text.push_str("\n\n");
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    let mut packages = parse_status(&text);
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    Ok(packages)
}

/// The packages of a dpkg status text that dpkg knows as present in some state (those
/// `dpkg-query -W` lists), read by the resolver's reader of the same file.
pub fn parse_status(text: &str) -> Vec<DpkgPackage> {
    status_packages(text)
        .filter(InstalledPackage::is_known)
        .map(|p| {
            let r = p.record;
            DpkgPackage {
                name: r.package.to_string(),
                version: r.version.to_string(),
                architecture: r.architecture.to_string(),
                status: p.state.to_string(),
                source: r
                    .source
                    .and_then(|s| s.split_whitespace().next())
                    .filter(|s| *s != r.package)
                    .map(str::to_string),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn dpkg_status() {
        let p = parse_status(
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9\n\nPackage: gone\nStatus: purge ok not-installed\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].source.as_deref(), Some("glibc"));
        assert_eq!(p[1].status, "config-files");
    }
}
