//! dpkg's status database as the resolver reads it: each package paragraph of the one
//! reader ([`crate::base::dpkg`]) as a package record plus dpkg's state word, borrowing
//! from the text as the `Packages` parser does.
//!
//! The resolver keeps the packages whose files are on disk ([`parse_status`]), so it can
//! treat an installed version like any other version of the universe; the image
//! inventory lists every package dpkg knows ([`InstalledPackage::is_known`]).

use crate::apt::index::PackageRecord;
use crate::apt::index::packages::set_folded;
use crate::base::dpkg;

/// One package paragraph of dpkg's database: its record (no `Filename`, `Size` or
/// `SHA256`, which a status file does not have) and dpkg's state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledPackage<'a> {
    pub record: PackageRecord<'a>,
    /// The third word of `Status:` (`installed`, `config-files`, `half-configured`, …);
    /// `installed` for a distroless `status.d` file, which has no `Status:` and is
    /// installed by construction; empty for a `Status:` too short to have one.
    pub state: &'a str,
}

impl InstalledPackage<'_> {
    /// apt counts the package as installed: its files are on disk.
    pub fn counts_as_installed(&self) -> bool {
        dpkg::counts_as_installed(self.state)
    }

    /// dpkg knows the package in some state (what `dpkg-query -W` lists).
    pub fn is_known(&self) -> bool {
        dpkg::is_known(self.state)
    }
}

/// Every package paragraph of a dpkg status text ([`dpkg::entries`]), read as a package
/// record, in file order and in whatever state dpkg records it.
pub fn status_packages(text: &str) -> impl Iterator<Item = InstalledPackage<'_>> {
    dpkg::entries(text).map(|entry| {
        let mut r = PackageRecord {
            stanza: entry.paragraph.text,
            ..PackageRecord::default()
        };
        let mut size = None;
        for field in entry.paragraph.fields() {
            if !field.name.eq_ignore_ascii_case("status") {
                set_folded(&mut r, &mut size, field.name, field.value);
            }
        }
        InstalledPackage {
            record: r,
            state: entry.state,
        }
    })
}

/// The installed packages of a dpkg status text, as the resolver sees them: files on
/// disk and a version to compare.
pub fn parse_status(text: &str) -> Vec<InstalledPackage<'_>> {
    status_packages(text)
        .filter(|p| !p.record.version.is_empty() && p.counts_as_installed())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n\
        Source: glibc (2.36-9)\nVersion: 2.36-9\nDepends: libgcc-s1\n\n\
        Package: gone\nStatus: purge ok not-installed\n\n\
        Package: old\nStatus: deinstall ok config-files\nVersion: 1\n\n\
        Package: distroless\nVersion: 3\n\n\
        Package: broken\nStatus: install\nVersion: 4\n\n\
        Description: no package name\n";

    #[test]
    fn every_package_paragraph_with_its_state() {
        let all: Vec<_> = status_packages(STATUS)
            .map(|p| (p.record.package, p.state))
            .collect();
        assert_eq!(
            all,
            [
                ("libc6", "installed"),
                ("gone", "not-installed"),
                ("old", "config-files"),
                ("distroless", "installed"),
                ("broken", ""),
            ]
        );
        let libc = status_packages(STATUS).next().unwrap();
        assert_eq!(libc.record.source, Some("glibc (2.36-9)"));
        assert_eq!(libc.record.depends, Some("libgcc-s1"));
    }

    #[test]
    fn the_resolver_and_the_inventory_filter_the_same_paragraphs() {
        let installed: Vec<_> = parse_status(STATUS)
            .iter()
            .map(|p| p.record.package)
            .collect();
        assert_eq!(installed, ["libc6", "distroless"]);
        let known: Vec<_> = status_packages(STATUS)
            .filter(InstalledPackage::is_known)
            .map(|p| p.record.package)
            .collect();
        assert_eq!(known, ["libc6", "old", "distroless", "broken"]);
    }
}
