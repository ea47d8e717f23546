//! The base image's dpkg status, read as package records so the resolver can treat an
//! installed version like any other version of the universe.
//!
//! [`crate::inventory::apt`] keeps only names and versions; the resolver also needs what
//! an installed package provides, depends on, breaks and conflicts with, so it reads the
//! status file itself, borrowing from the text as the `Packages` parser does.

use crate::apt::index::PackageRecord;
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
        for field in paragraph.fields() {
            let v = field.value;
            match field.name.to_ascii_lowercase().as_str() {
                "package" => r.package = v,
                "version" => r.version = v,
                "architecture" => r.architecture = v,
                "multi-arch" => r.multi_arch = Some(v),
                "essential" => r.essential = v.eq_ignore_ascii_case("yes"),
                "priority" => r.priority = Some(v),
                "section" => r.section = Some(v),
                "source" => r.source = Some(v),
                "provides" => r.provides = Some(v),
                "depends" => r.depends = Some(v),
                "pre-depends" => r.pre_depends = Some(v),
                "recommends" => r.recommends = Some(v),
                "suggests" => r.suggests = Some(v),
                "breaks" => r.breaks = Some(v),
                "conflicts" => r.conflicts = Some(v),
                "replaces" => r.replaces = Some(v),
                "status" => state = v.split_whitespace().nth(2).unwrap_or(""),
                _ => {}
            }
        }
        if !r.package.is_empty() && !r.version.is_empty() && counts_as_installed(state) {
            out.push(InstalledPackage { record: r, state });
        }
    }
    out
}
