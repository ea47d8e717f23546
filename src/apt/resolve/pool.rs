//! Every version the resolver may pick, installed ones included, with the indexes it
//! asks: versions by name, providers by virtual name, and apt's candidate version.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use debversion::Version;

use super::error::ResolveError;
use super::installed::InstalledPackage;
use super::{Candidate, PRIORITY_INSTALLED};
use crate::apt::index::{PackageRecord, RelationField};
use crate::apt::relation::{Relation, VersionOp};

/// Index of an [`Entry`] in [`Pool::entries`].
pub type EntryId = usize;

/// A package identity: name and architecture (`all` counted as the native one, as apt
/// does, so an `all` upgrade replaces a native installed version). Both borrowed: the
/// solver builds and compares keys on every step, so they must cost no allocation.
pub type Key<'a> = (&'a str, &'a str);

/// One version of one package.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub record: PackageRecord<'a>,
    /// Parsed on first use ([`Entry::version`]): a lock compares the versions of a few
    /// hundred packages out of tens of thousands, and parsing (and freeing) every one
    /// was a tenth of its time. [`Pool::push`] has checked that it parses.
    version: OnceCell<Version>,
    /// `all` mapped to the native architecture.
    pub arch: &'a str,
    pub priority: i32,
    pub installed: bool,
    /// From an index (`false` for a status entry no source carries any more).
    pub downloadable: bool,
    /// `(virtual name, provided version)`; empty (no allocation) for most packages.
    pub provides: Vec<(String, Option<Version>)>,
}

impl<'a> Entry<'a> {
    pub fn version(&self) -> &Version {
        self.version.get_or_init(|| {
            crate::apt::relation::parse_debian_version(self.record.version)
                .expect("Pool::push checked the version")
        })
    }

    pub fn key(&self) -> Key<'a> {
        (self.record.package, self.arch)
    }

    fn multi_arch(&self) -> &str {
        self.record.multi_arch.unwrap_or("no")
    }

    /// Can a relation written in a package of `from_arch` (with the relation's own
    /// qualifier) be satisfied by this entry's architecture? dpkg's rules: an
    /// unqualified relation wants the same architecture unless the target is
    /// `Multi-Arch: foreign`; `:any` accepts any architecture of a `Multi-Arch: allowed`
    /// target; an explicit architecture wants exactly that one.
    pub(crate) fn arch_fits(&self, qualifier: Option<&str>, from_arch: &str, native: &str) -> bool {
        match qualifier {
            None => self.arch == from_arch || self.multi_arch() == "foreign",
            Some("any") => {
                self.arch == from_arch || matches!(self.multi_arch(), "allowed" | "foreign")
            }
            Some("native") => self.arch == native,
            Some(arch) => self.arch == arch,
        }
    }

    pub fn relations(&self, field: RelationField) -> Result<Vec<Vec<Relation>>, ResolveError> {
        self.record
            .relations(field)
            .map_err(|e| ResolveError::BadField {
                package: self.record.package.to_string(),
                version: self.record.version.to_string(),
                field: field_name(field),
                message: e.message,
            })
    }
}

pub fn field_name(field: RelationField) -> &'static str {
    match field {
        RelationField::Provides => "Provides",
        RelationField::Depends => "Depends",
        RelationField::PreDepends => "Pre-Depends",
        RelationField::Recommends => "Recommends",
        RelationField::Suggests => "Suggests",
        RelationField::Breaks => "Breaks",
        RelationField::Conflicts => "Conflicts",
        RelationField::Replaces => "Replaces",
    }
}

/// The universe, indexed. Built once per lock and shared by its solves: with a Debian
/// suite this is tens of thousands of versions, and building it is most of the cost of
/// a small resolution.
#[derive(Debug)]
pub struct Pool<'a> {
    pub native: &'static str,
    pub entries: Vec<Entry<'a>>,
    /// Versions of each real package name, by architecture (sorted by architecture).
    pub by_name: FxHashMap<&'a str, Vec<(&'a str, Vec<EntryId>)>>,
    /// Entries providing each virtual name.
    pub providers: FxHashMap<String, Vec<EntryId>>,
    /// The installed entry of each installed package.
    pub installed: BTreeMap<Key<'a>, EntryId>,
}

fn check_version(record: &PackageRecord<'_>) -> Result<(), ResolveError> {
    crate::apt::relation::split_debian_version(record.version)
        .map(drop)
        .map_err(|e| ResolveError::BadField {
            package: record.package.to_string(),
            version: record.version.to_string(),
            field: "Version",
            message: e.to_string(),
        })
}

/// `arch` as a `&'static str`, so that `all` entries can carry the native architecture
/// in their borrowed [`Key`]. Debian's architectures are few; a name outside the list
/// is kept once for the life of the process.
fn interned(arch: &str) -> &'static str {
    const KNOWN: [&str; 12] = [
        "amd64", "arm64", "armel", "armhf", "i386", "loong64", "mips64el", "mipsel", "ppc64el",
        "riscv64", "s390x", "all",
    ];
    if let Some(known) = KNOWN.iter().find(|k| **k == arch) {
        return known;
    }
    static OTHERS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut others = OTHERS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(other) = others.iter().find(|o| **o == arch) {
        return other;
    }
    let leaked: &'static str = Box::leak(arch.to_string().into_boxed_str());
    others.push(leaked);
    leaked
}

impl<'a> Pool<'a> {
    pub fn new(
        universe: &[Candidate<'a>],
        installed: &[InstalledPackage<'a>],
        native: &str,
    ) -> Result<Self, ResolveError> {
        let mut pool = Pool {
            native: interned(native),
            entries: Vec::with_capacity(universe.len() + installed.len()),
            by_name: FxHashMap::with_capacity_and_hasher(universe.len(), Default::default()),
            providers: FxHashMap::default(),
            installed: BTreeMap::new(),
        };
        // The same (name, version, arch) listed by several sources is one version with
        // the highest of their priorities, as in apt's cache.
        // Keyed by the record's own architecture (`all` included): no allocation for
        // each of the index's tens of thousands of versions.
        let mut seen: FxHashMap<(&'a str, &'a str, &'a str), EntryId> =
            FxHashMap::with_capacity_and_hasher(universe.len(), Default::default());
        for candidate in universe {
            let record = candidate.record;
            let id_key = (record.package, record.version, record.architecture);
            if let Some(&id) = seen.get(&id_key) {
                let e = &mut pool.entries[id];
                e.priority = e.priority.max(candidate.priority);
                continue;
            }
            let id = pool.push(record, candidate.priority, false, true)?;
            seen.insert(id_key, id);
        }
        for package in installed {
            let record = package.record;
            let id_key = (record.package, record.version, record.architecture);
            let id = match seen.get(&id_key) {
                Some(&id) => {
                    let e = &mut pool.entries[id];
                    e.priority = e.priority.max(PRIORITY_INSTALLED);
                    e.installed = true;
                    id
                }
                None => pool.push(record, PRIORITY_INSTALLED, true, false)?,
            };
            let key = pool.entries[id].key();
            pool.installed.insert(key, id);
        }
        for arches in pool.by_name.values_mut() {
            arches.sort_by_key(|(arch, _)| *arch);
        }
        Ok(pool)
    }

    fn push(
        &mut self,
        record: PackageRecord<'a>,
        priority: i32,
        installed: bool,
        downloadable: bool,
    ) -> Result<EntryId, ResolveError> {
        check_version(&record)?;
        let arch = if record.architecture == "all" {
            self.native
        } else {
            record.architecture
        };
        let mut entry = Entry {
            record,
            version: OnceCell::new(),
            arch,
            priority,
            installed,
            downloadable,
            provides: Vec::new(),
        };
        for group in entry.relations(RelationField::Provides)? {
            for provided in group {
                let version = match provided.constraint {
                    Some((VersionOp::Equal, v)) => Some(v),
                    _ => None,
                };
                entry.provides.push((provided.name, version));
            }
        }
        let id = self.entries.len();
        for (name, _) in &entry.provides {
            match self.providers.get_mut(name.as_str()) {
                Some(ids) => ids.push(id),
                None => {
                    self.providers.insert(name.clone(), vec![id]);
                }
            }
        }
        let arches = self.by_name.entry(record.package).or_default();
        match arches.iter_mut().find(|(a, _)| *a == arch) {
            Some((_, ids)) => ids.push(id),
            None => arches.push((arch, vec![id])),
        }
        self.entries.push(entry);
        Ok(id)
    }

    /// Every version of `key`.
    pub fn versions(&self, key: &Key<'_>) -> &[EntryId] {
        self.by_name
            .get(key.0)
            .and_then(|arches| arches.iter().find(|(arch, _)| *arch == key.1))
            .map_or(&[], |(_, ids)| ids.as_slice())
    }

    /// apt's candidate: the highest pin priority, then the highest version; a version
    /// older than the installed one is never a candidate below priority 1000 (apt does
    /// not downgrade unless pinned to).
    pub fn candidate(&self, key: &Key<'_>) -> Option<EntryId> {
        let installed = self
            .installed
            .get(key)
            .map(|&id| self.entries[id].version());
        self.versions(key)
            .iter()
            .copied()
            .filter(|&id| {
                let e = &self.entries[id];
                e.priority >= 1000 || installed.is_none_or(|v| e.version() >= v)
            })
            .filter(|&id| self.entries[id].downloadable || self.entries[id].installed)
            .max_by(|&a, &b| {
                let (a, b) = (&self.entries[a], &self.entries[b]);
                (a.priority, a.version()).cmp(&(b.priority, b.version()))
            })
    }

    /// The architectures `name` exists in, as a real package.
    pub fn arches_of(&self, name: &str) -> impl Iterator<Item = &'a str> + '_ {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|(arch, _)| *arch)
    }

    /// The entries providing the virtual `name`.
    pub fn providers_of(&self, name: &str) -> &[EntryId] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// Does entry `id` satisfy `relation` as a real package (name, arch and version)?
    pub fn satisfies_real(&self, id: EntryId, relation: &Relation, from_arch: &str) -> bool {
        let e = &self.entries[id];
        e.record.package == relation.name
            && e.arch_fits(relation.arch.as_deref(), from_arch, self.native)
            && relation
                .constraint
                .as_ref()
                .is_none_or(|(op, v)| op.matches(e.version(), v))
    }

    /// Does entry `id` satisfy `relation` through its Provides? A versioned relation is
    /// satisfied only by a versioned Provides (`Provides: foo (= 2)`), never by an
    /// unversioned one, as dpkg and apt decide.
    pub fn satisfies_provided(&self, id: EntryId, relation: &Relation, from_arch: &str) -> bool {
        let e = &self.entries[id];
        e.arch_fits(relation.arch.as_deref(), from_arch, self.native)
            && e.provides.iter().any(|(name, version)| {
                *name == relation.name
                    && match (&relation.constraint, version) {
                        (None, _) => true,
                        (Some((op, bound)), Some(v)) => op.matches(v, bound),
                        (Some(_), None) => false,
                    }
            })
    }

    pub fn satisfies(&self, id: EntryId, relation: &Relation, from_arch: &str) -> bool {
        self.satisfies_real(id, relation, from_arch)
            || self.satisfies_provided(id, relation, from_arch)
    }
}
