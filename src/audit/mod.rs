//! `audit`: what an image really holds, compared with what its lock promises — the
//! base image's own packages plus the lock's. Per ecosystem: packages missing, at
//! another version, or extra (neither the base nor the lock accounts for them), and
//! installed files whose content no longer matches their package's own record (dpkg's
//! md5sums, pip's RECORD, R's MD5).
//!
//! Plain data, rendered by [`report`]. Above the ecosystems' `inventory.rs` (what the
//! image holds) and the lockfile; the base's packages come in as
//! [`crate::why::BasePackages`], read by the command.
//!
//! # Versions
//!
//! A name may be installed more than once (a Debian `python3-idna` in
//! `/usr/lib/python3/dist-packages` and a wheel's `idna` in `/usr/local/…`; R's
//! recommended `Matrix` in `.Library` and a newer one in the site library): each
//! ecosystem compares the *set* of versions found. A locked name must be found at its
//! locked version, and any other version found must be one the base has (an older copy
//! the lock's shadows); a name only the base has must be found at exactly the base's
//! versions.

pub mod report;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::apt::inventory::{self as apt, DpkgPaths};
use crate::base::recorded::Recorded;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};
use crate::inspect::inventory::{self, Inventory};
use crate::lockfile::Lockfile;
use crate::pip::inventory as python;
use crate::r::inventory as r;
use crate::why::BasePackages;

/// The report of `audit --format json` (SPEC.md's shape, with extra fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    /// The image as it was named.
    pub image: String,
    pub status: Status,
    pub apt: Findings,
    pub pip: Findings,
    pub r: Findings,
    /// What was compared, per ecosystem.
    pub checked: BTreeMap<&'static str, Checked>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Match,
    Drift,
}

/// One ecosystem's differences from the lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings {
    /// Promised by the base or the lock, not in the image.
    pub missing: Vec<Pinned>,
    /// In the image at other versions than promised.
    pub changed: Vec<Changed>,
    /// In the image, promised by neither.
    pub extra: Vec<Pinned>,
    /// Installed files whose content differs from their package's record, or that are
    /// gone.
    pub modified_files: Vec<ModifiedFile>,
}

impl Findings {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.changed.is_empty()
            && self.extra.is_empty()
            && self.modified_files.is_empty()
    }

    pub fn count(&self) -> usize {
        self.missing.len() + self.changed.len() + self.extra.len() + self.modified_files.len()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pinned {
    pub name: String,
    pub version: String,
    /// Where a Python distribution or an R package is (its site directory, its library).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changed {
    pub name: String,
    /// The version the lock (or, for a package it does not name, the base) promises;
    /// versions joined by `, ` when there are several.
    pub locked: String,
    pub found: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModifiedFile {
    /// The package whose record names the file.
    pub package: String,
    /// Absolute, inside the image.
    pub path: String,
    /// `md5:…` or `sha256:…`, as the record has it.
    pub expected: String,
    /// The digest of what the image holds there, in the same algorithm; `null` when
    /// the file is gone.
    pub found: Option<String>,
}

/// How much one ecosystem's comparison covered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Installed packages (dpkg packages, distributions, R packages).
    pub packages: usize,
    /// Files compared with their package's record.
    pub files: usize,
    /// Installed packages that have no record of their files to compare with.
    pub without_record: usize,
}

/// What the audit keeps while the layers stream: what the inventory reads (header
/// blocks whole, since a `METADATA` is itself in its RECORD), the packages' records,
/// and the digests of every other regular file a record could name.
pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    let keep = match inventory::wanted(path, size) {
        Some(Keep::Headers) if size <= 1 << 20 => Some(Keep::Whole),
        keep => keep,
    };
    keep.or_else(|| apt::record_wanted(path, size))
        .or_else(|| python::record_wanted(path, size))
        .or_else(|| r::record_wanted(path, size))
        .or_else(|| (!UNRECORDED.iter().any(|dir| path.starts_with(dir))).then_some(Keep::Digests))
}

/// Where no package's record points: kernel filesystems, scratch space, caches, logs.
const UNRECORDED: [&str; 9] = [
    "proc/",
    "sys/",
    "dev/",
    "run/",
    "tmp/",
    "var/tmp/",
    "var/cache/",
    "var/log/",
    "root/.cache/",
];

/// Compares the image (its merged filesystem, read with [`wanted`], and its inventory)
/// with the base's packages plus the lock's.
pub fn audit(
    image: String,
    rootfs: &RootFs,
    inventory: &Inventory,
    lock: &Lockfile,
    base: &BasePackages,
) -> Result<Audit, ImageError> {
    let mut checked = BTreeMap::new();

    // apt: dpkg's installed packages; their md5sums.
    let installed: Vec<_> = inventory
        .apt
        .packages
        .iter()
        .filter(|p| crate::base::dpkg::counts_as_installed(&p.status))
        .collect();
    let found = installed
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), None))
        .collect();
    let promised = lock
        .apt
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string()));
    let mut apt_findings = compare(found, &base.apt, promised, |n| n.to_string());
    let paths = DpkgPaths::of_image(rootfs)?;
    let apt_checked = check_records(
        rootfs,
        &installed,
        |p| &p.name,
        |p| apt::recorded_files(rootfs, p),
        |p, file| paths.actual(&p.name, file),
        &mut apt_findings.modified_files,
    )?;
    checked.insert("apt", apt_checked);

    // pip: every interpreter's site directories, and the users' own sites (where
    // `pip install --user`, or pip.conf's `user = true`, puts what a session adds).
    let mut distributions: Vec<&python::Distribution> =
        inventory.python.distributions.iter().collect();
    let user = python::user_distributions(rootfs, &inventory.python)?;
    distributions.extend(user.iter());
    let found = distributions
        .iter()
        .map(|d| (d.name.clone(), d.version.clone(), Some(d.location.clone())))
        .collect();
    let promised = lock
        .pip
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string()));
    let mut pip_findings = compare(found, &base.pip, promised, crate::pip::normalize_name);
    // Debian's own directories hold what dpkg installed (python3-pip): dpkg's md5sums
    // are those files' record, and the RECORD Debian ships names paths of its build.
    let dpkg_dirs: BTreeSet<&str> = inventory
        .python
        .interpreters
        .iter()
        .filter(|i| i.dist_packages.is_some())
        .flat_map(|i| i.site_packages.iter().filter(|d| **d != i.purelib))
        .map(String::as_str)
        .collect();
    let pip_checked = check_records(
        rootfs,
        &distributions,
        |d| &d.name,
        |d| match dpkg_dirs.contains(d.location.as_str()) {
            true => Ok(None),
            false => python::recorded_files(rootfs, d),
        },
        |_, file| Some(file.to_string()),
        &mut pip_findings.modified_files,
    )?;
    checked.insert("pip", pip_checked);

    // R: every installation's libraries; their MD5 files.
    let packages: Vec<&r::RPackage> = inventory.r.iter().flat_map(|r| &r.packages).collect();
    let found = packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone(), Some(p.library.clone())))
        .collect();
    let promised = lock
        .r
        .iter()
        .map(|p| (p.name.clone(), p.version.to_string()));
    let mut r_findings = compare(found, &base.r, promised, |n| n.to_string());
    let r_checked = check_records(
        rootfs,
        &packages,
        |p| &p.name,
        |p| r::recorded_files(rootfs, p),
        |_, file| Some(file.to_string()),
        &mut r_findings.modified_files,
    )?;
    checked.insert("r", r_checked);

    let drift = !(apt_findings.is_empty() && pip_findings.is_empty() && r_findings.is_empty());
    Ok(Audit {
        image,
        status: if drift { Status::Drift } else { Status::Match },
        apt: apt_findings,
        pip: pip_findings,
        r: r_findings,
        checked,
    })
}

/// One ecosystem's packages: `found` (name, version, location) against the base's and
/// the lock's, names compared through `key` (PEP 503 for pip). See the module docs.
fn compare(
    found: Vec<(String, String, Option<String>)>,
    base: &[(String, String)],
    locked: impl Iterator<Item = (String, String)>,
    key: impl Fn(&str) -> String,
) -> Findings {
    #[derive(Default)]
    struct Entry {
        /// The name as the image, else the lock, else the base spells it.
        name: Option<String>,
        found: Vec<(String, Option<String>)>,
        base: BTreeSet<String>,
        locked: Option<String>,
    }
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for (name, version, location) in found {
        let entry = entries.entry(key(&name)).or_default();
        entry.name.get_or_insert(name);
        entry.found.push((version, location));
    }
    for (name, version) in locked {
        let entry = entries.entry(key(&name)).or_default();
        entry.name.get_or_insert(name);
        entry.locked = Some(version);
    }
    for (name, version) in base {
        let entry = entries.entry(key(name)).or_default();
        entry.name.get_or_insert_with(|| name.clone());
        entry.base.insert(version.clone());
    }
    let mut out = Findings::default();
    for entry in entries.into_values() {
        let name = entry.name.unwrap_or_default();
        let found: BTreeSet<&str> = entry.found.iter().map(|(v, _)| v.as_str()).collect();
        let required: BTreeSet<&str> = match &entry.locked {
            Some(version) => BTreeSet::from([version.as_str()]),
            None => entry.base.iter().map(String::as_str).collect(),
        };
        if required.is_empty() {
            for (version, location) in entry.found {
                out.extra.push(Pinned {
                    name: name.clone(),
                    version,
                    location,
                });
            }
        } else if found.is_empty() {
            for version in required {
                out.missing.push(Pinned {
                    name: name.clone(),
                    version: version.to_string(),
                    location: None,
                });
            }
        } else {
            let allowed = |v: &&str| required.contains(v) || entry.base.contains(*v);
            if !required.is_subset(&found) || !found.iter().all(allowed) {
                let join =
                    |set: &BTreeSet<&str>| set.iter().copied().collect::<Vec<_>>().join(", ");
                out.changed.push(Changed {
                    name,
                    locked: join(&required),
                    found: join(&found),
                });
            }
        }
    }
    out
}

/// Compares every installed package's record (`record`; `None` when it has none) with
/// the image, adding what differs to `out`. `actual` maps a recorded path as
/// [`check_files`] says.
fn check_records<T>(
    rootfs: &RootFs,
    packages: &[T],
    name: impl Fn(&T) -> &str,
    record: impl Fn(&T) -> Result<Option<Vec<Recorded>>, ImageError>,
    actual: impl Fn(&T, &str) -> Option<String>,
    out: &mut Vec<ModifiedFile>,
) -> Result<Checked, ImageError> {
    let mut checked = Checked {
        packages: packages.len(),
        ..Checked::default()
    };
    for package in packages {
        match record(package)? {
            Some(files) => check_files(
                rootfs,
                name(package),
                files,
                |file| actual(package, file),
                out,
                &mut checked,
            )?,
            None => checked.without_record += 1,
        }
    }
    Ok(checked)
}

/// Compares one package's recorded files with the image. `actual` maps a recorded
/// path to where the file really is (a dpkg diversion), `None` when it was never
/// unpacked (dpkg's `path-exclude`), so it may be missing.
fn check_files(
    rootfs: &RootFs,
    package: &str,
    files: Vec<Recorded>,
    actual: impl Fn(&str) -> Option<String>,
    out: &mut Vec<ModifiedFile>,
    checked: &mut Checked,
) -> Result<(), ImageError> {
    for file in files {
        let (path, may_be_missing) = match actual(&file.path) {
            Some(path) => (path, false),
            None => (file.path.clone(), true),
        };
        let digests = rootfs.digests(&path)?;
        checked.files += 1;
        let found = match digests {
            Some(d) if file.digest.matches(&d) => continue,
            Some(d) => Some(file.digest.shown_of(&d)),
            None if may_be_missing => continue,
            None => None,
        };
        out.push(ModifiedFile {
            package: package.to_string(),
            path,
            expected: file.digest.shown(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(list: &[(&str, &str, Option<&str>)]) -> Vec<(String, String, Option<String>)> {
        list.iter()
            .map(|(n, v, l)| (n.to_string(), v.to_string(), l.map(str::to_string)))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn versions_as_sets() {
        let base = pairs(&[("idna", "3.3"), ("six", "1.16.0"), ("gone", "1")]);
        let locked = pairs(&[("IDNA", "3.7"), ("urllib3", "2.2.1")]);
        let image = found(&[
            // The base's Debian copy, shadowed by the lock's wheel: no drift.
            ("idna", "3.3", Some("/usr/lib/python3/dist-packages")),
            (
                "idna",
                "3.7",
                Some("/usr/local/lib/python3.11/dist-packages"),
            ),
            ("six", "1.17.0", None),
            (
                "requests",
                "2.32.0",
                Some("/root/.local/lib/python3.11/site-packages"),
            ),
        ]);
        let f = compare(image, &base, locked.into_iter(), crate::pip::normalize_name);
        assert_eq!(
            f.missing,
            [
                Pinned {
                    name: "gone".into(),
                    version: "1".into(),
                    location: None
                },
                Pinned {
                    name: "urllib3".into(),
                    version: "2.2.1".into(),
                    location: None
                },
            ]
        );
        assert_eq!(
            f.changed,
            [Changed {
                name: "six".into(),
                locked: "1.16.0".into(),
                found: "1.17.0".into()
            }]
        );
        assert_eq!(f.extra.len(), 1);
        assert_eq!(
            f.extra[0].location.as_deref(),
            Some("/root/.local/lib/python3.11/site-packages")
        );

        // A locked name found only at the base's old version is a change.
        let f = compare(
            found(&[("idna", "3.3", None)]),
            &base[..1],
            pairs(&[("idna", "3.7")]).into_iter(),
            crate::pip::normalize_name,
        );
        assert_eq!(f.changed[0].found, "3.3");
        assert_eq!(f.changed[0].locked, "3.7");
    }
}
