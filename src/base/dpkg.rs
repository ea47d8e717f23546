//! dpkg's database in an image: the one reader of `/var/lib/dpkg/status` (or of the
//! files of a distroless `status.d`), below the ecosystems because every one reads it —
//! apt resolves against it, and Python and R take their versions from it when Debian
//! installed them.
//!
//! [`entries`] yields each package paragraph with dpkg's state word, borrowed from the
//! text; apt's resolver reads the paragraph as a package record
//! (`apt::resolve::status_packages`), the inventory as a [`DpkgPackage`].

use serde::Serialize;

use crate::deb822;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};

pub const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// Distroless images keep one status file per package here instead.
pub(crate) const DPKG_STATUS_DIR: &str = "var/lib/dpkg/status.d";

/// One package paragraph of dpkg's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusEntry<'a> {
    pub paragraph: deb822::Paragraph<'a>,
    /// The third word of `Status:` (`installed`, `config-files`, `half-configured`, …);
    /// `installed` for a distroless `status.d` file, which has no `Status:` and is
    /// installed by construction; empty for a `Status:` too short to have one.
    pub state: &'a str,
}

impl StatusEntry<'_> {
    /// See [`is_known`].
    pub fn is_known(&self) -> bool {
        is_known(self.state)
    }
}

/// apt counts a package in this dpkg state as installed: its files are on disk.
/// `config-files` and `not-installed` leave only configuration behind, so apt treats
/// them as absent.
pub fn counts_as_installed(state: &str) -> bool {
    matches!(
        state,
        "installed"
            | "half-configured"
            | "unpacked"
            | "half-installed"
            | "triggers-awaited"
            | "triggers-pending"
    )
}

/// dpkg knows a package in this state (what `dpkg-query -W` lists): everything but
/// `not-installed`, which is only a leftover record of a purged package.
pub fn is_known(state: &str) -> bool {
    state != "not-installed"
}

/// Every package paragraph (one with a `Package:` field) of a dpkg status text, in
/// file order and in whatever state dpkg records it.
pub fn entries(text: &str) -> impl Iterator<Item = StatusEntry<'_>> {
    deb822::paragraphs(text).filter_map(|paragraph| {
        paragraph.get("package").filter(|p| !p.is_empty())?;
        let state = match paragraph.get("status") {
            Some(status) => status.split_whitespace().nth(2).unwrap_or(""),
            None => "installed",
        };
        Some(StatusEntry { paragraph, state })
    })
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

/// The files [`status_text`] reads, for [`RootFs::read`].
pub fn wanted(path: &str, _size: u64) -> Option<Keep> {
    let keep = path == DPKG_STATUS
        || path
            .strip_prefix(DPKG_STATUS_DIR)
            .is_some_and(|rest| rest.starts_with('/'));
    keep.then_some(Keep::Whole)
}

/// dpkg's database as one status text: `status`, then each file of `status.d`.
pub fn status_text(rootfs: &RootFs) -> Result<String, ImageError> {
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
    Ok(text)
}

/// The packages dpkg knows in the image (those `dpkg-query -W` lists), by name and
/// architecture.
pub fn packages(rootfs: &RootFs) -> Result<Vec<DpkgPackage>, ImageError> {
    let text = status_text(rootfs)?;
    let mut packages = parse_packages(&text);
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    Ok(packages)
}

/// The packages of a dpkg status text that dpkg knows as present in some state.
pub fn parse_packages(text: &str) -> Vec<DpkgPackage> {
    entries(text)
        .filter(StatusEntry::is_known)
        .map(|entry| {
            let field = |name| entry.paragraph.get(name).map(deb822::unfold);
            let name = field("package").unwrap_or_default();
            DpkgPackage {
                version: field("version").unwrap_or_default(),
                architecture: field("architecture").unwrap_or_default(),
                status: entry.state.to_string(),
                source: field("source")
                    .and_then(|s| s.split_whitespace().next().map(str::to_string))
                    .filter(|s| *s != name),
                name,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_package_dpkg_knows() {
        let p = parse_packages(
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9\n\nPackage: gone\nStatus: purge ok not-installed\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].source.as_deref(), Some("glibc"));
        assert_eq!(p[1].status, "config-files");
    }
}
