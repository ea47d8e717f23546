//! What changed between two locks, per ecosystem: added, removed, upgraded and
//! downgraded packages (each in its own ecosystem's version order), artifacts replaced
//! or moved under an unchanged version, the download size before and after, the
//! requested packages that pulled each added one in, and the base image, with what
//! changed inside it: plain data, rendered by [`render`] as text, markdown or JSON (the
//! JSON shape is SPEC.md's, with its extra fields).
//!
//! Above the lockfile and `why`: the base's packages come in as
//! [`crate::why::BasePackages`], read by the command.

pub mod render;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Serialize;

use crate::apt::lock::dpkg_arch;
use crate::lockfile::Lockfile;
use crate::oci::Digest;
use crate::why::BasePackages;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockDiff {
    /// `None` when the base did not change.
    pub base: Option<BaseChange>,
    pub apt: PackageChanges,
    pub pip: PackageChanges,
    pub r: PackageChanges,
    /// The download size of every artifact of the lock, before and after.
    pub size: FromTo<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseChange {
    /// The platform manifest digests (what the image is built on).
    pub from: Digest,
    pub to: Digest,
    /// The reference, when it changed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<(String, String)>,
    /// What changed inside the base: its dpkg packages, Python distributions and R
    /// packages. `None` when it was not compared (`--no-base-contents`, or a base that
    /// could not be read).
    pub contents: Option<BaseContents>,
}

/// The base's own packages, compared: the same shape as the lock's (no sizes, and
/// nothing is replaced or moved, as the base's databases name no artifacts).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct BaseContents {
    pub apt: PackageChanges,
    pub pip: PackageChanges,
    pub r: PackageChanges,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PackageChanges {
    pub added: Vec<Package>,
    pub removed: Vec<Package>,
    /// Every version change; [`upgraded`](Self::upgraded) and
    /// [`downgraded`](Self::downgraded) split it by the ecosystem's version order (a
    /// version its grammar refuses is in neither).
    pub changed: Vec<Change>,
    pub upgraded: Vec<Change>,
    pub downgraded: Vec<Change>,
    /// Same version, another file (sha256 or size): what a reviewer must see, since
    /// nothing else in the diff would show it.
    pub replaced: Vec<Replaced>,
    /// Same version and file, fetched from elsewhere (url, or apt's `filename`).
    pub moved: Vec<Moved>,
    /// The download size of the ecosystem's artifacts, before and after (the base's
    /// contents have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<FromTo<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// An added package the manifest names itself.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requested: bool,
    /// For an added package nobody requested: the requested packages nearest to it in
    /// the new lock's graph (what `rtlock why` shows first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pulled_in_by: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub name: String,
    pub from: String,
    pub to: String,
}

/// A value before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

/// One side's entry for a name: what a lock pins, or what a base holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pinned {
    version: String,
    /// The artifact, with where it is fetched; `None` for a base's package.
    artifact: Option<Artifact>,
    requested: bool,
    /// The name the lock's graph knows it by (apt's without `:arch`).
    graph_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Artifact {
    sha256: String,
    size: u64,
    /// The url, then apt's archive-relative `filename` (pip's and R's file is the url's).
    location: [String; 2],
}

impl PackageChanges {
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// How many packages changed in any way (a version change counts once).
    pub fn count(&self) -> usize {
        self.added.len()
            + self.removed.len()
            + self.changed.len()
            + self.replaced.len()
            + self.moved.len()
    }

    /// The version changes in neither order (a version its grammar refuses).
    pub fn unordered(&self) -> impl Iterator<Item = &Change> {
        self.changed
            .iter()
            .filter(|c| !self.upgraded.contains(c) && !self.downgraded.contains(c))
    }
}

impl BaseContents {
    pub fn is_empty(&self) -> bool {
        self.ecosystems().iter().all(|(_, c)| c.is_empty())
    }

    pub fn ecosystems(&self) -> [(&'static str, &PackageChanges); 3] {
        [("apt", &self.apt), ("pip", &self.pip), ("r", &self.r)]
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

/// Compares `old` with `new`; `base_contents` is what changed inside the base, when the
/// command compared it.
pub fn diff(old: &Lockfile, new: &Lockfile, base_contents: Option<BaseContents>) -> LockDiff {
    let base = (old.base.manifest != new.base.manifest || old.base.reference != new.base.reference)
        .then(|| BaseChange {
            from: old.base.manifest.clone(),
            to: new.base.manifest.clone(),
            reference: (old.base.reference != new.base.reference)
                .then(|| (old.base.reference.clone(), new.base.reference.clone())),
            contents: base_contents,
        });
    let pulled_in_by = crate::why::pulled_in_by(new);
    let origins = |ecosystem: &'static str, name: &str| {
        pulled_in_by
            .get(&(ecosystem, name.to_string()))
            .cloned()
            .unwrap_or_default()
    };
    let changes = |ecosystem: &'static str| {
        let mut changes = compare(
            ecosystem,
            pinned(old, ecosystem),
            pinned(new, ecosystem),
            &origins,
        );
        changes.size = Some(FromTo {
            from: download_size(old, ecosystem),
            to: download_size(new, ecosystem),
        });
        changes
    };
    let (apt, pip, r) = (changes("apt"), changes("pip"), changes("r"));
    let total = |side: fn(&FromTo<u64>) -> u64| {
        [&apt, &pip, &r]
            .iter()
            .filter_map(|c| c.size.as_ref())
            .map(side)
            .sum()
    };
    let size = FromTo {
        from: total(|s| s.from),
        to: total(|s| s.to),
    };
    LockDiff {
        base,
        apt,
        pip,
        r,
        size,
    }
}

/// What changed inside the base, from both images' own databases.
pub fn base_contents(old: &BasePackages, new: &BasePackages) -> BaseContents {
    let none = |_: &'static str, _: &str| Vec::new();
    let side = |base: &BasePackages, ecosystem: &'static str| -> Vec<(String, Pinned)> {
        base.of(ecosystem)
            .iter()
            .map(|(name, version)| {
                let key = match ecosystem {
                    "pip" => crate::pip::normalize_name(name),
                    _ => name.clone(),
                };
                let pin = Pinned {
                    version: version.clone(),
                    artifact: None,
                    requested: false,
                    graph_name: key.clone(),
                };
                (key, pin)
            })
            .collect()
    };
    let of = |ecosystem| compare(ecosystem, side(old, ecosystem), side(new, ecosystem), &none);
    BaseContents {
        apt: of("apt"),
        pip: of("pip"),
        r: of("r"),
    }
}

fn download_size(lock: &Lockfile, ecosystem: &str) -> u64 {
    match ecosystem {
        "apt" => lock.apt.iter().map(|p| p.size).sum(),
        "pip" => lock.pip.iter().map(|p| p.size).sum(),
        _ => lock.r.iter().map(|p| p.size).sum(),
    }
}

/// A lock's entries of `ecosystem`, keyed as the diff compares them: apt packages by
/// name and architecture (libc6 and libc6:i386 are two), the platform's own
/// architecture going without saying.
fn pinned(lock: &Lockfile, ecosystem: &str) -> Vec<(String, Pinned)> {
    let pin = |name: &str, version: &str, requested: bool, artifact: Artifact| Pinned {
        version: version.to_string(),
        artifact: Some(artifact),
        requested,
        graph_name: name.to_string(),
    };
    let artifact = |sha256: &str, size: u64, url: &str, filename: &str| Artifact {
        sha256: sha256.to_string(),
        size,
        location: [url.to_string(), filename.to_string()],
    };
    match ecosystem {
        "apt" => {
            let platform = &lock.base.platform;
            let native = dpkg_arch(&platform.architecture, platform.variant.as_deref());
            lock.apt
                .iter()
                .map(|p| {
                    let key = if p.arch == "all" || p.arch == native {
                        p.name.clone()
                    } else {
                        format!("{}:{}", p.name, p.arch)
                    };
                    let file = artifact(&p.sha256, p.size, &p.url, &p.filename);
                    (key, pin(&p.name, p.version.as_str(), p.requested, file))
                })
                .collect()
        }
        "pip" => lock
            .pip
            .iter()
            .map(|p| {
                let file = artifact(&p.sha256, p.size, &p.url, &p.file);
                (
                    p.name.clone(),
                    pin(&p.name, p.version.as_str(), p.requested, file),
                )
            })
            .collect(),
        _ => lock
            .r
            .iter()
            .map(|p| {
                let file = artifact(&p.sha256, p.size, &p.url, "");
                (
                    p.name.clone(),
                    pin(&p.name, p.version.as_str(), p.requested, file),
                )
            })
            .collect(),
    }
}

/// `a` against `b` in `ecosystem`'s version order: dpkg's, PEP 440's, R's
/// `package_version`. `None` when either is not a version of that grammar.
pub fn version_order(ecosystem: &str, a: &str, b: &str) -> Option<Ordering> {
    match ecosystem {
        "apt" => {
            let parse = crate::apt::relation::parse_debian_version;
            Some(parse(a).ok()?.cmp(&parse(b).ok()?))
        }
        "pip" => {
            let parse = crate::pip::Version::from_str;
            Some(parse(a).ok()?.cmp(&parse(b).ok()?))
        }
        _ => {
            let parse = crate::r::requirement::RVersion::from_str;
            Some(parse(a).ok()?.cmp(&parse(b).ok()?))
        }
    }
}

fn compare(
    ecosystem: &'static str,
    old: Vec<(String, Pinned)>,
    new: Vec<(String, Pinned)>,
    origins: &dyn Fn(&'static str, &str) -> Vec<String>,
) -> PackageChanges {
    let old: BTreeMap<String, Pinned> = old.into_iter().collect();
    let new: BTreeMap<String, Pinned> = new.into_iter().collect();
    let mut changes = PackageChanges::default();
    for (name, before) in &old {
        let Some(after) = new.get(name) else {
            changes.removed.push(Package {
                name: name.clone(),
                version: before.version.clone(),
                requested: false,
                pulled_in_by: Vec::new(),
            });
            continue;
        };
        if after.version != before.version {
            let change = Change {
                name: name.clone(),
                from: before.version.clone(),
                to: after.version.clone(),
            };
            match version_order(ecosystem, &before.version, &after.version) {
                Some(Ordering::Less) => changes.upgraded.push(change.clone()),
                Some(Ordering::Greater) => changes.downgraded.push(change.clone()),
                // Equal by the grammar but not by text (`1.0` and `1.0.0` in PEP 440):
                // a change of spelling, neither way.
                Some(Ordering::Equal) | None => {}
            }
            changes.changed.push(change);
            continue;
        }
        let (Some(b), Some(a)) = (&before.artifact, &after.artifact) else {
            continue;
        };
        if (&a.sha256, a.size) != (&b.sha256, b.size) {
            changes.replaced.push(Replaced {
                name: name.clone(),
                version: after.version.clone(),
                sha256: FromTo {
                    from: b.sha256.clone(),
                    to: a.sha256.clone(),
                },
                size: FromTo {
                    from: b.size,
                    to: a.size,
                },
            });
        } else if let Some(i) = (0..2).find(|&i| b.location[i] != a.location[i]) {
            changes.moved.push(Moved {
                name: name.clone(),
                version: after.version.clone(),
                from: b.location[i].clone(),
                to: a.location[i].clone(),
            });
        }
    }
    for (name, pin) in &new {
        if !old.contains_key(name) {
            changes.added.push(Package {
                name: name.clone(),
                version: pin.version.clone(),
                requested: pin.requested,
                pulled_in_by: if pin.requested {
                    Vec::new()
                } else {
                    origins(ecosystem, &pin.graph_name)
                },
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_in_their_ecosystems_order() {
        use Ordering::*;
        // dpkg: `~` sorts before anything, epochs win.
        assert_eq!(version_order("apt", "1.0~rc1", "1.0"), Some(Less));
        assert_eq!(version_order("apt", "1:0.9", "2.0"), Some(Greater));
        // PEP 440: a pre-release before its release, `1.0` equals `1.0.0`.
        assert_eq!(version_order("pip", "2.0rc1", "2.0"), Some(Less));
        assert_eq!(version_order("pip", "1.0", "1.0.0"), Some(Equal));
        assert_eq!(version_order("pip", "10.0", "9.0"), Some(Greater));
        // R: `-` and `.` separate numbers alike.
        assert_eq!(version_order("r", "1.5-3", "1.5.10"), Some(Less));
        assert_eq!(version_order("pip", "not a version", "1.0"), None);
    }

    #[test]
    fn base_contents_compare_pip_names_normalized() {
        let old = BasePackages {
            apt: vec![("libc6".into(), "2.36-9".into())],
            pip: vec![("PyYAML".into(), "6.0".into())],
            r: vec![],
        };
        let new = BasePackages {
            apt: vec![("libc6".into(), "2.36-9+deb12u4".into())],
            pip: vec![("pyyaml".into(), "6.0.1".into())],
            r: vec![("MASS".into(), "7.3-58.2".into())],
        };
        let contents = base_contents(&old, &new);
        assert_eq!(contents.apt.upgraded.len(), 1);
        assert_eq!(contents.pip.upgraded[0].to, "6.0.1");
        assert!(contents.pip.added.is_empty(), "{contents:?}");
        assert_eq!(contents.r.added[0].name, "MASS");
        assert!(contents.apt.size.is_none());
    }
}
