//! The marking walk, after apt's `MarkInstall`: each request, then depth first each
//! chosen package's Pre-Depends, Depends and (when asked) Recommends.
//!
//! Rules, as apt-get applies them relative to the installed packages:
//! - A dependency already satisfied by an installed or already chosen package is left
//!   alone: nothing is upgraded unless a versioned relation needs it.
//! - Otherwise the alternatives of an OR group are tried left to right; for each, the
//!   candidate of the named package (apt never falls back to a non-candidate version
//!   for a dependency), else a provider.
//! - Providers of a virtual package are ranked as apt's `CompareProviders` does in
//!   essence: an installed (or already chosen) provider first, then the native
//!   architecture, then `Essential: yes`, then the `Priority` field (required,
//!   important, standard, optional, extra), then apt's last resort,
//!   its cache order, which is not reproducible outside apt; it is approximated here
//!   by the name, last first, which is what apt chose on the oracle's ties
//!   (`x-terminal-emulator`: zutty over alacritty and kitty).
//! - A Recommends that cannot be satisfied is skipped, and leaves no trace. Recommends of
//!   packages that stay as installed are not followed, and an upgrade follows only the
//!   Recommends its installed version did not already have (apt's "new recommends").
//! - Breaks and Conflicts between a chosen package and an installed one upgrade the
//!   installed one when its candidate no longer clashes, else fail naming both; an
//!   upgrade that leaves installed packages with a broken Depends upgrades them too (a
//!   library and its `(= version)` siblings move together).
//! - A request with a version constraint takes the candidate when it fits, else the best
//!   (priority, version) that fits; a request for a virtual package takes its only
//!   provider and refuses to guess between several, as apt-get does.
//!
//! - Upgrade by source package (apt 2.x, `APT::Get::Upgrade-By-Source-Package`): when
//!   a version of source S at version V is installed or upgraded, installed binaries of
//!   S whose candidate is also built from S at V are upgraded with it (a new `xz-utils`
//!   brings `liblzma5` along, a new `libssl3` brings `openssl`).
//!
//! Simplified against apt: no problem resolver. Where apt's pkgProblemResolver would
//! search further after a clash between two new packages, this fails with both names.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use rustc_hash::FxHashMap;

use super::error::{ConflictError, ResolveError};
use super::order::{Edge, install_order};
use super::pool::{EntryId, Key, Pool, field_name};
use super::{Planned, Resolution, ResolveOptions};
use crate::apt::index::RelationField;
use crate::apt::relation::Relation;

/// What can be rolled back when an alternative or a Recommends does not work out.
/// Cloned before each alternative and Recommends is tried: its keys are borrowed, so a
/// clone copies the maps' nodes and allocates no strings.
#[derive(Debug, Clone, Default)]
struct State<'a> {
    /// Installed packages, with chosen versions laid over them.
    current: BTreeMap<Key<'a>, EntryId>,
    chosen: BTreeMap<Key<'a>, EntryId>,
    requested: BTreeSet<Key<'a>>,
    requires: BTreeMap<Key<'a>, BTreeSet<&'a str>>,
}

/// The Breaks and Conflicts of one entry, parsed once per solve: every install checks
/// them for each current package.
type Clashes = Rc<[(Clash, Relation)]>;

struct Solver<'p, 'a> {
    pool: &'p Pool<'a>,
    options: &'p ResolveOptions,
    state: State<'a>,
    clashes: RefCell<FxHashMap<EntryId, Clashes>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clash {
    Breaks,
    Conflicts,
}

impl Clash {
    fn verb(self) -> &'static str {
        match self {
            Clash::Breaks => "breaks",
            Clash::Conflicts => "conflicts with",
        }
    }
}

/// `additions` are installed like `requests` (after them), but not marked `requested`:
/// the manifest did not name them (the apt packages of the shared libraries an R
/// package needs).
pub fn solve<'a>(
    pool: &Pool<'a>,
    requests: &[Relation],
    additions: &[Relation],
    options: &ResolveOptions,
) -> Result<Resolution<'a>, ResolveError> {
    let mut solver = Solver {
        pool,
        options,
        state: State {
            current: pool.installed.clone(),
            ..State::default()
        },
        clashes: RefCell::default(),
    };
    for request in requests {
        solver.request(request, true)?;
    }
    for addition in additions {
        solver.request(addition, false)?;
    }
    solver.upgrade_by_source()?;
    Ok(solver.finish())
}

impl<'a> Solver<'_, 'a> {
    fn entry(&self, id: EntryId) -> &super::pool::Entry<'a> {
        &self.pool.entries[id]
    }

    /// Installs what `request` names; `requested`: the manifest names it.
    fn request(&mut self, request: &Relation, requested: bool) -> Result<(), ResolveError> {
        let pool = self.pool;
        if pool.arches_of(&request.name).next().is_none() {
            return self.request_virtual(request, requested);
        }
        let arch = match request.arch.as_deref() {
            None | Some("any") | Some("native") => pool.native,
            Some(a) => a,
        };
        let versions = pool.versions(&(request.name.as_str(), arch));
        let fits = |id: EntryId| {
            request
                .constraint
                .as_ref()
                .is_none_or(|(op, v)| op.matches(pool.entries[id].version(), v))
        };
        let candidate = pool.candidate(&(request.name.as_str(), arch));
        let target = match candidate.filter(|&c| fits(c)) {
            Some(c) => Some(c),
            None if request.constraint.is_some() => versions
                .iter()
                .copied()
                .filter(|&id| fits(id))
                .filter(|&id| pool.entries[id].downloadable || pool.entries[id].installed)
                .max_by(|&a, &b| {
                    let (a, b) = (&pool.entries[a], &pool.entries[b]);
                    (a.priority, a.version()).cmp(&(b.priority, b.version()))
                }),
            None => None,
        };
        let Some(target) = target else {
            let mut all: Vec<&debversion::Version> = versions
                .iter()
                .map(|&id| pool.entries[id].version())
                .collect();
            all.sort();
            all.dedup();
            return Err(ResolveError::NoVersion {
                request: request.to_string(),
                name: request.name.clone(),
                versions: all.iter().rev().map(|v| v.to_string()).collect(),
            });
        };
        self.install(target)?;
        let key = self.entry(target).key();
        if requested && self.state.chosen.contains_key(&key) {
            self.state.requested.insert(key);
        }
        Ok(())
    }

    fn request_virtual(&mut self, request: &Relation, requested: bool) -> Result<(), ResolveError> {
        // apt-get refuses to choose between several providers even when one of them is
        // installed; it takes the only one when there is one.
        let providers = self.providers(request, self.pool.native);
        match providers.as_slice() {
            [] => Err(ResolveError::Unknown {
                request: request.to_string(),
                close: self.close_names(&request.name),
            }),
            [only] => {
                let only = *only;
                self.install(only)?;
                let key = self.entry(only).key();
                if requested && self.state.chosen.contains_key(&key) {
                    self.state.requested.insert(key);
                }
                Ok(())
            }
            many => {
                let mut names: Vec<String> = many
                    .iter()
                    .map(|&id| self.entry(id).record.package.to_string())
                    .collect();
                names.sort();
                names.dedup();
                Err(ResolveError::VirtualRequest {
                    request: request.to_string(),
                    providers: names,
                })
            }
        }
    }

    /// apt-get's upgrade by source package, to a fixed point; an upgrade that would
    /// not resolve is left out, as apt leaves it.
    fn upgrade_by_source(&mut self) -> Result<(), ResolveError> {
        let mut done = BTreeSet::new();
        loop {
            let chosen: Vec<EntryId> = self
                .state
                .chosen
                .values()
                .copied()
                .filter(|id| !done.contains(id))
                .collect();
            if chosen.is_empty() {
                return Ok(());
            }
            for id in chosen {
                done.insert(id);
                let (source, version) = source_of(&self.entry(id).record);
                let siblings: Vec<(Key<'a>, EntryId)> = self
                    .pool
                    .installed
                    .iter()
                    .filter(|(k, _)| !self.state.chosen.contains_key(*k))
                    .filter(|&(_, &i)| self.entry(i).record.source_name() == source)
                    .map(|(k, &i)| (*k, i))
                    .collect();
                for (key, installed) in siblings {
                    let Some(c) = self.pool.candidate(&key).filter(|&c| c != installed) else {
                        continue;
                    };
                    if source_of(&self.entry(c).record) != (source, version) {
                        continue;
                    }
                    let saved = self.state.clone();
                    if self.install(c).is_err() {
                        self.state = saved;
                    }
                }
            }
        }
    }

    /// Up to three known names close to `name`, closest first.
    fn close_names(&self, name: &str) -> Vec<String> {
        let mut scored: Vec<(u64, &str)> = self
            .pool
            .by_name
            .keys()
            .copied()
            .chain(self.pool.providers.keys().map(String::as_str))
            .map(|c| ((strsim::jaro_winkler(name, c) * 1e6) as u64, c))
            .filter(|(s, _)| *s >= 850_000)
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        scored.dedup_by(|a, b| a.1 == b.1);
        scored
            .into_iter()
            .take(3)
            .map(|(_, c)| c.to_string())
            .collect()
    }

    /// Marks `id` for installation (or upgrade) and follows its relations.
    fn install(&mut self, id: EntryId) -> Result<(), ResolveError> {
        let key = self.entry(id).key();
        if self.state.current.get(&key) == Some(&id) {
            return Ok(());
        }
        if let Some(&other) = self.state.chosen.get(&key) {
            return Err(ResolveError::Unsatisfiable {
                package: key.0.to_string(),
                version: self.entry(other).record.version.to_string(),
                dependency: format!("{} (= {})", key.0, self.entry(id).record.version),
                why: "two versions of the same package are needed".into(),
            });
        }
        let previous = self.state.current.insert(key, id);
        self.state.chosen.insert(key, id);
        self.check_clashes(id)?;
        if previous.is_some() {
            self.fix_installed_dependents(&key)?;
        }
        for field in [RelationField::PreDepends, RelationField::Depends] {
            for group in self.entry(id).relations(field)? {
                self.satisfy(id, &group, field)?;
            }
        }
        if self.options.install_recommends {
            let old: Vec<Vec<Relation>> = match previous {
                Some(old) => self.entry(old).relations(RelationField::Recommends)?,
                None => Vec::new(),
            };
            for group in self.entry(id).relations(RelationField::Recommends)? {
                let same_names = |o: &Vec<Relation>| {
                    o.len() == group.len() && o.iter().zip(&group).all(|(a, b)| a.name == b.name)
                };
                if old.iter().any(same_names) {
                    continue;
                }
                let saved = self.state.clone();
                if self.satisfy(id, &group, RelationField::Recommends).is_err() {
                    self.state = saved;
                }
            }
        }
        Ok(())
    }

    /// The current package satisfying `relation`, if any.
    fn satisfied_now(&self, relation: &Relation, from_arch: &str) -> Option<EntryId> {
        for arch in self.pool.arches_of(&relation.name) {
            if let Some(&id) = self.state.current.get(&(relation.name.as_str(), arch))
                && self.pool.satisfies_real(id, relation, from_arch)
            {
                return Some(id);
            }
        }
        self.pool
            .providers_of(&relation.name)
            .iter()
            .copied()
            .find(|&p| {
                self.state.current.get(&self.entry(p).key()) == Some(&p)
                    && self.pool.satisfies_provided(p, relation, from_arch)
            })
    }

    /// Candidates providing `relation`, best first (see the module's ranking).
    fn providers(&self, relation: &Relation, from_arch: &str) -> Vec<EntryId> {
        let mut found: Vec<EntryId> = self
            .pool
            .providers_of(&relation.name)
            .iter()
            .copied()
            .filter(|&p| self.pool.candidate(&self.entry(p).key()) == Some(p))
            .filter(|&p| self.pool.satisfies_provided(p, relation, from_arch))
            .collect();
        found.sort_by_key(|&p| {
            let e = self.entry(p);
            (
                !self.state.current.contains_key(&e.key()),
                e.arch != self.pool.native,
                !e.record.essential,
                priority_rank(e.record.priority),
                std::cmp::Reverse(e.record.package),
                p,
            )
        });
        found.dedup();
        found
    }

    /// Satisfies one group of alternatives of `from`'s `field`.
    fn satisfy(
        &mut self,
        from: EntryId,
        group: &[Relation],
        field: RelationField,
    ) -> Result<(), ResolveError> {
        let from_arch = self.entry(from).arch;
        let from_key = self.entry(from).key();
        for relation in group {
            if let Some(id) = self.satisfied_now(relation, from_arch) {
                self.note_requires(from_key, id);
                return Ok(());
            }
        }
        let mut last_error = None;
        for relation in group {
            let mut options = Vec::new();
            for arch in self.pool.arches_of(&relation.name) {
                if let Some(c) = self.pool.candidate(&(relation.name.as_str(), arch))
                    && self.pool.satisfies_real(c, relation, from_arch)
                {
                    options.push(c);
                }
            }
            options.sort_by_key(|&c| self.entry(c).arch != from_arch);
            if options.is_empty() {
                options = self.providers(relation, from_arch);
            }
            let Some(&choice) = options.first() else {
                continue;
            };
            let saved = self.state.clone();
            match self.install(choice) {
                Ok(()) => {
                    self.note_requires(from_key, choice);
                    return Ok(());
                }
                Err(e) => {
                    self.state = saved;
                    last_error = Some(e);
                }
            }
        }
        if let Some(e) = last_error {
            return Err(e);
        }
        let e = self.entry(from);
        Err(ResolveError::Unsatisfiable {
            package: e.record.package.to_string(),
            version: e.record.version.to_string(),
            dependency: group
                .iter()
                .map(Relation::to_string)
                .collect::<Vec<_>>()
                .join(" | "),
            why: format!("in its {}; {}", field_name(field), self.what_exists(group)),
        })
    }

    /// For an error: which versions of the named packages exist at all.
    fn what_exists(&self, group: &[Relation]) -> String {
        let mut parts = Vec::new();
        for relation in group {
            let mut versions: Vec<&debversion::Version> = self
                .pool
                .arches_of(&relation.name)
                .flat_map(|a| self.pool.versions(&(relation.name.as_str(), a)))
                .copied()
                .map(|id| self.entry(id).version())
                .collect();
            versions.sort();
            versions.dedup();
            if versions.is_empty() {
                parts.push(format!("no package provides {}", relation.name));
            } else {
                let list: Vec<String> = versions.iter().rev().map(|v| v.to_string()).collect();
                parts.push(format!("{} has {}", relation.name, list.join(", ")));
            }
        }
        parts.join("; ")
    }

    fn note_requires(&mut self, from: Key<'a>, target: EntryId) {
        let name = self.entry(target).record.package;
        if name != from.0 {
            self.state.requires.entry(from).or_default().insert(name);
        }
    }

    fn clashes_of(&self, id: EntryId) -> Result<Clashes, ResolveError> {
        if let Some(known) = self.clashes.borrow().get(&id) {
            return Ok(known.clone());
        }
        let mut out = Vec::new();
        for (field, kind) in [
            (RelationField::Breaks, Clash::Breaks),
            (RelationField::Conflicts, Clash::Conflicts),
        ] {
            for group in self.entry(id).relations(field)? {
                out.extend(group.into_iter().map(|r| (kind, r)));
            }
        }
        let out: Clashes = out.into();
        self.clashes.borrow_mut().insert(id, out.clone());
        Ok(out)
    }

    /// Current packages (other than `id`'s own package) that `relation`, written in
    /// `id`, matches.
    fn matching_current(&self, id: EntryId, relation: &Relation) -> Vec<EntryId> {
        let e = self.entry(id);
        let key = e.key();
        // The current versions named `relation.name`, whatever their architecture: the
        // keys of one name are adjacent in the map.
        let named = (relation.name.as_str(), "")..;
        let mut out: Vec<EntryId> = self
            .state
            .current
            .range(named)
            .take_while(|(k, _)| k.0 == relation.name)
            .filter(|(k, _)| **k != key)
            .map(|(_, &x)| x)
            .filter(|&x| self.pool.satisfies_real(x, relation, e.arch))
            .collect();
        for &p in self.pool.providers_of(&relation.name) {
            let pk = self.entry(p).key();
            if pk != key
                && self.state.current.get(&pk) == Some(&p)
                && self.pool.satisfies_provided(p, relation, e.arch)
            {
                out.push(p);
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Breaks and Conflicts in both directions between `id` and the current packages.
    fn check_clashes(&mut self, id: EntryId) -> Result<(), ResolveError> {
        // `id`'s own Breaks/Conflicts against what is there.
        for (kind, relation) in self.clashes_of(id)?.iter() {
            for other in self.matching_current(id, relation) {
                if self.state.current.get(&self.entry(id).key()) != Some(&id) {
                    break;
                }
                self.move_aside(other, id, *kind, relation, true)?;
            }
        }
        // What is there against `id`.
        let current: Vec<EntryId> = self.state.current.values().copied().collect();
        for other in current {
            if other == id || self.entry(other).key() == self.entry(id).key() {
                continue;
            }
            let other_arch = self.entry(other).arch;
            for (kind, relation) in self.clashes_of(other)?.iter() {
                if self.pool.satisfies(id, relation, other_arch)
                    && self.state.current.get(&self.entry(other).key()) == Some(&other)
                {
                    self.move_aside(other, id, *kind, relation, false)?;
                }
            }
        }
        Ok(())
    }

    /// Resolves a clash between the current package `other` and the new `id` by
    /// upgrading `other` when it is an installed package whose candidate does not clash.
    /// `forward`: the relation is `id`'s (else `other`'s).
    fn move_aside(
        &mut self,
        other: EntryId,
        id: EntryId,
        kind: Clash,
        relation: &Relation,
        forward: bool,
    ) -> Result<(), ResolveError> {
        let other_key = self.entry(other).key();
        let installed = !self.state.chosen.contains_key(&other_key);
        if installed && let Some(c) = self.pool.candidate(&other_key).filter(|&c| c != other) {
            let still = if forward {
                self.pool.satisfies(c, relation, self.entry(id).arch)
            } else {
                let arch = self.entry(c).arch;
                self.clashes_of(c)?
                    .iter()
                    .any(|(_, r)| self.pool.satisfies(id, r, arch))
            };
            if !still {
                return self.install(c);
            }
        }
        let (a, b) = if forward { (id, other) } else { (other, id) };
        let b_installed = if forward {
            installed
        } else {
            !self.state.chosen.contains_key(&self.entry(id).key())
        };
        Err(ResolveError::Conflict(Box::new(ConflictError {
            package: self.entry(a).record.package.to_string(),
            version: self.entry(a).record.version.to_string(),
            kind: kind.verb(),
            relation: relation.to_string(),
            other: self.entry(b).record.package.to_string(),
            other_version: self.entry(b).record.version.to_string(),
            other_origin: if b_installed {
                "installed in the base image"
            } else {
                "to be installed"
            },
            why: if installed {
                format!("no version of {} available fixes it", other_key.0)
            } else {
                String::new()
            },
        })))
    }

    /// After `key` was upgraded: installed packages whose Depends it no longer
    /// satisfies are upgraded to their candidates too, as apt does.
    fn fix_installed_dependents(&mut self, key: &Key<'a>) -> Result<(), ResolveError> {
        let installed: Vec<(Key<'a>, EntryId)> = self
            .state
            .current
            .iter()
            .filter(|(k, _)| !self.state.chosen.contains_key(*k))
            .map(|(k, &id)| (*k, id))
            .collect();
        for (k, id) in installed {
            if self.state.chosen.contains_key(&k) {
                continue;
            }
            let arch = self.entry(id).arch;
            let mut broken = false;
            for field in [RelationField::PreDepends, RelationField::Depends] {
                for group in self.entry(id).relations(field)? {
                    if group.iter().any(|r| r.name == key.0)
                        && group.iter().all(|r| self.satisfied_now(r, arch).is_none())
                    {
                        broken = true;
                    }
                }
            }
            if broken {
                match self.pool.candidate(&k).filter(|&c| c != id) {
                    Some(c) => self.install(c)?,
                    None => {
                        let e = self.entry(id);
                        return Err(ResolveError::Unsatisfiable {
                            package: e.record.package.to_string(),
                            version: e.record.version.to_string(),
                            dependency: key.0.to_string(),
                            why: format!(
                                "it is installed in the base image and no available \
                                 version of it accepts the upgrade of {}",
                                key.0
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Resolution<'a> {
        let pool = self.pool;
        let keys: Vec<(Key<'a>, EntryId)> =
            self.state.chosen.iter().map(|(k, &id)| (*k, id)).collect();
        let mut packages = Vec::with_capacity(keys.len());
        for (key, id) in &keys {
            let e = &pool.entries[*id];
            packages.push(Planned {
                record: e.record,
                arch: e.record.architecture.to_string(),
                requested: self.state.requested.contains(key),
                requires: self
                    .state
                    .requires
                    .get(key)
                    .map(|s| s.iter().map(|n| n.to_string()).collect())
                    .unwrap_or_default(),
                upgrades: pool
                    .installed
                    .get(key)
                    .map(|&old| pool.entries[old].record.version.to_string()),
            });
        }
        // The chosen packages by every name a relation can reach them by (their own
        // and what they provide), so that each relation is tested only against the
        // packages it names, not against the whole closure.
        let mut by_name: FxHashMap<&str, Vec<usize>> = FxHashMap::default();
        for (i, (_, id)) in keys.iter().enumerate() {
            let e = &pool.entries[*id];
            by_name.entry(e.record.package).or_default().push(i);
            for (name, _) in &e.provides {
                let ids = by_name.entry(name.as_str()).or_default();
                // Pushed in order: a second Provides of the same name is one edge.
                if ids.last() != Some(&i) {
                    ids.push(i);
                }
            }
        }
        let mut edges = Vec::new();
        for (i, (_, id)) in keys.iter().enumerate() {
            let e = &pool.entries[*id];
            for (field, pre) in [
                (RelationField::PreDepends, true),
                (RelationField::Depends, false),
            ] {
                // Already parsed once during the walk; a parse error there would have
                // stopped it.
                for group in e.relations(field).unwrap_or_default() {
                    for relation in &group {
                        let named = by_name.get(relation.name.as_str()).map_or(&[][..], |v| v);
                        for &j in named {
                            if j != i && pool.satisfies(keys[j].1, relation, e.arch) {
                                edges.push(Edge {
                                    dependency: j,
                                    dependent: i,
                                    pre,
                                });
                            }
                        }
                    }
                }
            }
        }
        let order = install_order(packages.len(), &edges);
        Resolution { packages, order }
    }
}

/// The source package and its version: `Source: name (version)`, else the binary's
/// own name and version.
fn source_of<'r>(record: &crate::apt::index::PackageRecord<'r>) -> (&'r str, &'r str) {
    let version = record
        .source
        .and_then(|s| s.split_once('('))
        .map(|(_, v)| v.trim_end_matches(')').trim())
        .unwrap_or(record.version);
    (record.source_name(), version)
}

/// Debian's `Priority` field, most important first.
fn priority_rank(priority: Option<&str>) -> u8 {
    match priority {
        Some("required") => 0,
        Some("important") => 1,
        Some("standard") => 2,
        Some("optional") => 3,
        Some("extra") => 4,
        _ => 5,
    }
}
