//! apt and dpkg in an image: the sources apt would use (one-line `.list` and deb822
//! `.sources` files), the keyrings present, and the packages dpkg has installed.

use serde::Serialize;

use crate::apt::index::sources::{self, SourceEntry};
use crate::apt::index::{SignedBy, SourceError};
use crate::base::dpkg::{self, DpkgPackage};
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
}
