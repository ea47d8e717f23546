//! What changed between two locks, per ecosystem: added, removed and changed packages,
//! and the base image. Plain data, rendered by `commands::diff` as text, markdown or JSON
//! (the JSON shape is SPEC.md's).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::lockfile::Lockfile;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockDiff {
    /// `None` when the base did not change.
    pub base: Option<BaseChange>,
    pub apt: PackageChanges,
    pub pip: PackageChanges,
    pub r: PackageChanges,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseChange {
    /// The platform manifest digests (what the image is built on).
    pub from: String,
    pub to: String,
    /// The reference, when it changed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PackageChanges {
    pub added: Vec<Package>,
    pub removed: Vec<Package>,
    pub changed: Vec<Change>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub name: String,
    pub from: String,
    pub to: String,
}

impl PackageChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    pub fn count(&self) -> usize {
        self.added.len() + self.removed.len() + self.changed.len()
    }
}

impl LockDiff {
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.apt.is_empty() && self.pip.is_empty() && self.r.is_empty()
    }

    /// The ecosystems in the order they are shown.
    pub fn ecosystems(&self) -> [(&'static str, &PackageChanges); 3] {
        [("apt", &self.apt), ("pip", &self.pip), ("r", &self.r)]
    }
}

/// Compares `old` with `new`.
pub fn diff(old: &Lockfile, new: &Lockfile) -> LockDiff {
    let base = (old.base.manifest != new.base.manifest || old.base.reference != new.base.reference)
        .then(|| BaseChange {
            from: old.base.manifest.clone(),
            to: new.base.manifest.clone(),
            reference: (old.base.reference != new.base.reference)
                .then(|| (old.base.reference.clone(), new.base.reference.clone())),
        });
    // apt packages are keyed by name and architecture (libc6 and libc6:i386 are two).
    let apt_key = |name: &str, arch: &str| {
        if arch == "all" || arch == new.base.platform.rsplit('/').next().unwrap_or("") {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        }
    };
    LockDiff {
        base,
        apt: compare(
            old.apt
                .iter()
                .map(|p| (apt_key(&p.name, &p.arch), p.version.clone())),
            new.apt
                .iter()
                .map(|p| (apt_key(&p.name, &p.arch), p.version.clone())),
        ),
        pip: compare(
            old.pip.iter().map(|p| (p.name.clone(), p.version.clone())),
            new.pip.iter().map(|p| (p.name.clone(), p.version.clone())),
        ),
        r: compare(
            old.r.iter().map(|p| (p.name.clone(), p.version.clone())),
            new.r.iter().map(|p| (p.name.clone(), p.version.clone())),
        ),
    }
}

fn compare(
    old: impl Iterator<Item = (String, String)>,
    new: impl Iterator<Item = (String, String)>,
) -> PackageChanges {
    let old: BTreeMap<String, String> = old.collect();
    let new: BTreeMap<String, String> = new.collect();
    let mut changes = PackageChanges::default();
    for (name, version) in &old {
        match new.get(name) {
            None => changes.removed.push(Package {
                name: name.clone(),
                version: version.clone(),
            }),
            Some(to) if to != version => changes.changed.push(Change {
                name: name.clone(),
                from: version.clone(),
                to: to.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, version) in &new {
        if !old.contains_key(name) {
            changes.added.push(Package {
                name: name.clone(),
                version: version.clone(),
            });
        }
    }
    changes
}
