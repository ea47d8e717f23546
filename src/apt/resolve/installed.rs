//! The base image's dpkg status, read as package records so the resolver can treat an
//! installed version like any other version of the universe.
//!
//! [`crate::inventory::apt`] keeps only names and versions; the resolver also needs what
//! an installed package provides, depends on, breaks and conflicts with, so it reads the
//! status file itself, borrowing from the text as the `Packages` parser does.

use crate::apt::index::PackageRecord;
use crate::apt::index::packages::set_folded;
use crate::deb822;

/// One package dpkg knows as present: its record (no `Filename`, `Size` or `SHA256`,
/// which a status file does not have) and dpkg's state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstalledPackage<'a> {
    pub record: PackageRecord<'a>,
    /// The third word of `Status:` (`installed`, `half-configured`, …).
    pub state: &'a str,
}

/// States in which apt counts a package as installed: its files are on disk.
/// `config-files` and `not-installed` leave only configuration behind, so apt treats
/// them as absent.
fn counts_as_installed(state: &str) -> bool {
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

/// The installed packages of a dpkg status file (or the concatenated files of a
/// distroless `status.d`, which have no `Status:` and are installed by construction).
pub fn parse_status(text: &str) -> Vec<InstalledPackage<'_>> {
    let mut out = Vec::new();
    for paragraph in deb822::paragraphs(text) {
        let mut r = PackageRecord {
            stanza: paragraph.text,
            ..PackageRecord::default()
        };
        let mut state = "installed";
        let mut size = None;
        for field in paragraph.fields() {
            if field.name.eq_ignore_ascii_case("status") {
                state = field.value.split_whitespace().nth(2).unwrap_or("");
            } else {
                set_folded(&mut r, &mut size, field.name, field.value);
            }
        }
        if !r.package.is_empty() && !r.version.is_empty() && counts_as_installed(state) {
            out.push(InstalledPackage { record: r, state });
        }
    }
    out
}
