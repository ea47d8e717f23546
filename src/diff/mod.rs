//! What changed between two locks, per ecosystem: added, removed and changed packages,
//! artifacts replaced or moved under an unchanged version, and the base image: plain
//! data, rendered by [`render`] as text, markdown or JSON (the JSON shape is SPEC.md's).
//!
//! Above the lockfile: imports only `lockfile`.

pub mod render;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::apt::lock::dpkg_arch;
use crate::lockfile::Lockfile;
use crate::oci::Digest;

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
    pub from: Digest,
    pub to: Digest,
    /// The reference, when it changed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PackageChanges {
    pub added: Vec<Package>,
    pub removed: Vec<Package>,
    pub changed: Vec<Change>,
    /// Same version, another file (sha256 or size): what a reviewer must see, since
    /// nothing else in the diff would show it.
    pub replaced: Vec<Replaced>,
    /// Same version and file, fetched from elsewhere (url, or apt's `filename`).
    pub moved: Vec<Moved>,
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

/// A value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FromTo<T> {
    pub from: T,
    pub to: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replaced {
    pub name: String,
    pub version: String,
    pub sha256: FromTo<String>,
    pub size: FromTo<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moved {
    pub name: String,
    pub version: String,
    /// The urls (for apt, the `filename` instead when only it changed).
    pub from: String,
    pub to: String,
}

/// What a lock entry pins: the version and the artifact, with where it is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pinned {
    version: String,
    sha256: String,
    size: u64,
    /// The url, then apt's archive-relative `filename` (pip's and R's file is the url's).
    location: [String; 2],
}

impl PackageChanges {
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    pub fn count(&self) -> usize {
        self.added.len()
            + self.removed.len()
            + self.changed.len()
            + self.replaced.len()
            + self.moved.len()
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
    // apt packages are keyed by name and architecture (libc6 and libc6:i386 are two);
    // the platform's own architecture goes without saying.
    let platform = &new.base.platform;
    let native = dpkg_arch(&platform.architecture, platform.variant.as_deref());
    let apt_key = |name: &str, arch: &str| {
        if arch == "all" || arch == native {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        }
    };
    let pinned = |version: &str, sha256: &str, size: u64, url: &str, filename: &str| Pinned {
        version: version.to_string(),
        sha256: sha256.to_string(),
        size,
        location: [url.to_string(), filename.to_string()],
    };
    let apt = |lock: &Lockfile| -> Vec<(String, Pinned)> {
        lock.apt
            .iter()
            .map(|p| {
                let pin = pinned(p.version.as_str(), &p.sha256, p.size, &p.url, &p.filename);
                (apt_key(&p.name, &p.arch), pin)
            })
            .collect()
    };
    let pip = |lock: &Lockfile| -> Vec<(String, Pinned)> {
        lock.pip
            .iter()
            .map(|p| {
                let pin = pinned(p.version.as_str(), &p.sha256, p.size, &p.url, &p.file);
                (p.name.clone(), pin)
            })
            .collect()
    };
    let r = |lock: &Lockfile| -> Vec<(String, Pinned)> {
        lock.r
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    pinned(p.version.as_str(), &p.sha256, p.size, &p.url, ""),
                )
            })
            .collect()
    };
    LockDiff {
        base,
        apt: compare(apt(old), apt(new)),
        pip: compare(pip(old), pip(new)),
        r: compare(r(old), r(new)),
    }
}

fn compare(old: Vec<(String, Pinned)>, new: Vec<(String, Pinned)>) -> PackageChanges {
    let old: BTreeMap<String, Pinned> = old.into_iter().collect();
    let new: BTreeMap<String, Pinned> = new.into_iter().collect();
    let mut changes = PackageChanges::default();
    for (name, before) in &old {
        let Some(after) = new.get(name) else {
            changes.removed.push(Package {
                name: name.clone(),
                version: before.version.clone(),
            });
            continue;
        };
        if after.version != before.version {
            changes.changed.push(Change {
                name: name.clone(),
                from: before.version.clone(),
                to: after.version.clone(),
            });
        } else if (&after.sha256, after.size) != (&before.sha256, before.size) {
            changes.replaced.push(Replaced {
                name: name.clone(),
                version: after.version.clone(),
                sha256: FromTo {
                    from: before.sha256.clone(),
                    to: after.sha256.clone(),
                },
                size: FromTo {
                    from: before.size,
                    to: after.size,
                },
            });
        } else if let Some(i) = (0..2).find(|&i| before.location[i] != after.location[i]) {
            changes.moved.push(Moved {
                name: name.clone(),
                version: after.version.clone(),
                from: before.location[i].clone(),
                to: after.location[i].clone(),
            });
        }
    }
    for (name, pin) in &new {
        if !old.contains_key(name) {
            changes.added.push(Package {
                name: name.clone(),
                version: pin.version.clone(),
            });
        }
    }
    changes
}
