//! The PubGrub dependency provider: packages (and their extras as virtual packages),
//! the versions the target can install, and their dependencies from core metadata.
//!
//! PubGrub is synchronous and runs on a blocking thread; the source is async. What the
//! solver needs now it waits for with `Handle::block_on`; what it will likely need next
//! (the project pages of new dependencies and the metadata of their best versions,
//! transitively) is fetched ahead on the runtime by [`Prefetch`], so many requests are in
//! flight while the solver waits on one.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};

use pep440_rs::Version;
use pep508_rs::{ExtraName, PackageName, Requirement, VersionOrUrl};
use pubgrub::{Dependencies, DependencyProvider, PackageResolutionStatistics, Ranges};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use super::candidates::{Candidate, Candidates};
use crate::pip::target::Target;
use crate::pip::{CoreMetadata, DistFile, PackageSource};

/// How many prefetch requests run at once.
const PREFETCH_CONCURRENCY: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Pkg {
    /// The manifest's `[pip] packages`.
    Root,
    Name(PackageName),
    /// `name[extra]`: depends on `name` at the same version plus the extra's requirements.
    Extra(PackageName, ExtraName),
}

impl Pkg {
    pub fn name(&self) -> Option<&PackageName> {
        match self {
            Pkg::Root => None,
            Pkg::Name(n) | Pkg::Extra(n, _) => Some(n),
        }
    }
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => write!(f, "the [pip] packages"),
            Pkg::Name(n) => write!(f, "{n}"),
            Pkg::Extra(n, e) => write!(f, "{n}[{e}]"),
        }
    }
}

/// Why the solver cannot use a version at all (pubgrub's "unavailable" reason), worded
/// as the conflict report shows it after the package and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// Its `Requires-Python` excludes the base image's Python.
    Python { needs: String, has: String },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Python { needs, has } => {
                write!(f, "needs Python {needs}, and the base image has {has}")
            }
        }
    }
}

/// A failure of the package source, with the package it was for.
#[derive(Debug, thiserror::Error)]
#[error("{package}: {source}")]
pub(crate) struct SourceError {
    pub package: PackageName,
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// What the provider knows besides the source: the request turned into rules.
pub(crate) struct Rules {
    pub root: Vec<(Pkg, Ranges<Version>)>,
    /// Base-image distributions not in `allow-upgrade`: only this version.
    pub held: HashMap<PackageName, Version>,
    /// The previous lock's pins, preferred while they satisfy.
    pub locked: HashMap<PackageName, Version>,
    /// Packages a requirement of the request names a pre-release for.
    pub explicit_pre: HashSet<PackageName>,
}

pub(crate) struct Provider<S> {
    handle: Handle,
    source: S,
    target: Arc<Target>,
    pub rules: Arc<Rules>,
    cache: Arc<Cache>,
    prefetch: Prefetch<S>,
    /// Direct dependencies (names) of each package version asked for, for `requires`.
    deps: RefCell<HashMap<(Pkg, Version), Vec<PackageName>>>,
    /// The version last chosen for a name, by the package or any of its extras, tried first
    /// for the others so `name` and `name[extra]` agree without backtracking.
    last_choice: RefCell<HashMap<PackageName, Version>>,
    /// Discovery order, the tie-break of priorities (breadth first, deterministic).
    order: RefCell<HashMap<Pkg, usize>>,
}

/// Candidates computed once per project, shared with the prefetch tasks.
#[derive(Default)]
pub(crate) struct Cache {
    candidates: Mutex<HashMap<PackageName, Arc<Candidates>>>,
}

impl<S: PackageSource + Clone + Send + 'static> Provider<S> {
    pub fn new(handle: Handle, source: S, target: Arc<Target>, rules: Rules) -> Self {
        let rules = Arc::new(rules);
        let cache = Arc::new(Cache::default());
        let prefetch = Prefetch {
            handle: handle.clone(),
            source: source.clone(),
            target: target.clone(),
            rules: rules.clone(),
            cache: cache.clone(),
            seen: Arc::default(),
            permits: Arc::new(Semaphore::new(PREFETCH_CONCURRENCY)),
        };
        for (pkg, _) in &rules.root {
            if let Some(name) = pkg.name() {
                prefetch.spawn(name.clone());
            }
        }
        Provider {
            handle,
            source,
            target,
            rules,
            cache,
            prefetch,
            deps: RefCell::default(),
            last_choice: RefCell::default(),
            order: RefCell::default(),
        }
    }

    /// A project's candidates, fetched now unless a prefetch already did.
    pub fn candidates(&self, name: &PackageName) -> Result<Arc<Candidates>, SourceError> {
        if let Some(c) = self.cache.get(name) {
            return Ok(c);
        }
        let project = self
            .handle
            .block_on(self.source.project(name))
            .map_err(|e| source_error(name, e))?;
        Ok(self
            .cache
            .insert(name, Candidates::new(&project, &self.target)))
    }

    pub fn requires(&self, pkg: &Pkg, version: &Version) -> Vec<PackageName> {
        self.deps
            .borrow()
            .get(&(pkg.clone(), version.clone()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The file that installs `name` at `version`: its best wheel, else its yanked one
    /// (chosen only under an exact pin).
    pub fn file(&self, name: &PackageName, version: &Version) -> Option<DistFile> {
        let c = self.cache.get(name)?;
        let c = c.get(version)?;
        c.wheel.clone().or_else(|| c.yanked.clone())
    }

    fn choose(
        &self,
        name: &PackageName,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, SourceError> {
        if let Some(held) = self.rules.held.get(name) {
            return Ok(range.contains(held).then(|| held.clone()));
        }
        let candidates = self.candidates(name)?;
        let exact = range.as_singleton();
        let usable = |v: &Version, c: &Candidate| {
            range.contains(v) && (c.wheel.is_some() || (c.yanked.is_some() && exact == Some(v)))
        };
        let preferred = [
            self.last_choice.borrow().get(name).cloned(),
            self.rules.locked.get(name).cloned(),
        ];
        for v in preferred.into_iter().flatten() {
            if candidates.get(&v).is_some_and(|c| usable(&v, c)) {
                return Ok(Some(v));
            }
        }
        // uv's `if-necessary-or-explicit`: pre-releases where the request names one, or
        // when no final release in the range has a wheel.
        let allow_pre = self.rules.explicit_pre.contains(name);
        let pick = |pre: bool| {
            candidates
                .versions
                .iter()
                .find(|(v, c)| (pre || !v.any_prerelease()) && usable(v, c))
                .map(|(v, _)| v.clone())
        };
        Ok(pick(allow_pre).or_else(|| if allow_pre { None } else { pick(true) }))
    }

    fn dependencies(
        &self,
        pkg: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Ranges<Version>, Unavailable>, SourceError> {
        let (name, extra) = match pkg {
            Pkg::Root => {
                return Ok(Dependencies::Available(
                    self.rules.root.iter().cloned().collect(),
                ));
            }
            Pkg::Name(n) => (n, None),
            Pkg::Extra(n, e) => (n, Some(e)),
        };
        let held = self.rules.held.get(name) == Some(version);
        let candidates = self.candidates(name)?;
        let candidate = candidates.get(version);
        let file = candidate.and_then(|c| {
            let installable = c.wheel.as_ref().or(c.yanked.as_ref());
            // A held version need not be installable here: the base image has it already.
            if held {
                installable.or(c.any_wheel.as_ref())
            } else {
                installable
            }
        });
        let mut constraints: BTreeMap<Pkg, Ranges<Version>> = BTreeMap::new();
        if extra.is_some() {
            constraints.insert(Pkg::Name(name.clone()), Ranges::singleton(version.clone()));
        }
        let Some(file) = file else {
            // A base-image version the index does not have: its dependencies are already in
            // the base, which is all the lock needs to know.
            return Ok(Dependencies::Available(constraints.into_iter().collect()));
        };
        let metadata = self
            .handle
            .block_on(self.source.metadata(file))
            .map_err(|e| source_error(name, e))?;
        if let Some(spec) = &metadata.requires_python
            && !held
            && !spec.contains(self.target.python_version())
        {
            return Ok(Dependencies::Unavailable(Unavailable::Python {
                needs: spec.to_string(),
                has: self.target.python_version().to_string(),
            }));
        }
        let mut names = Vec::new();
        for (dep, range) in requirements(&metadata, extra, &self.target) {
            if dep == *pkg {
                continue;
            }
            if let Some(n) = dep.name() {
                if n != name {
                    names.push(n.clone());
                }
                self.prefetch.spawn(n.clone());
            }
            let slot = constraints.entry(dep).or_insert_with(Ranges::full);
            *slot = slot.intersection(&range);
        }
        names.sort();
        names.dedup();
        self.deps
            .borrow_mut()
            .insert((pkg.clone(), version.clone()), names);
        Ok(Dependencies::Available(constraints.into_iter().collect()))
    }
}

/// The packages a version's metadata requires on the target: markers evaluated with no
/// extra for the package itself, or only the requirements an extra adds for `name[extra]`.
fn requirements<'a>(
    metadata: &'a CoreMetadata,
    extra: Option<&'a ExtraName>,
    target: &'a Target,
) -> impl Iterator<Item = (Pkg, Ranges<Version>)> + 'a {
    let env = target.markers();
    metadata
        .requires_dist
        .iter()
        .filter(move |r| match extra {
            None => r.marker.evaluate(env, &[]),
            Some(e) => {
                r.marker.evaluate(env, std::slice::from_ref(e)) && !r.marker.evaluate(env, &[])
            }
        })
        .flat_map(requirement_packages)
}

/// `name[a,b]>=1` → `name>=1`, `name[a]>=1`, `name[b]>=1`.
pub(crate) fn requirement_packages(r: &Requirement) -> Vec<(Pkg, Ranges<Version>)> {
    let range = match &r.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(spec)) => Ranges::from(spec.clone()),
        // A URL dependency in an index's metadata: the index's own versions stand in.
        _ => Ranges::full(),
    };
    let mut out = vec![(Pkg::Name(r.name.clone()), range.clone())];
    out.extend(
        r.extras
            .iter()
            .map(|e| (Pkg::Extra(r.name.clone(), e.clone()), range.clone())),
    );
    out
}

fn source_error<E: std::error::Error + Send + Sync + 'static>(
    name: &PackageName,
    e: E,
) -> SourceError {
    SourceError {
        package: name.clone(),
        source: Box::new(e),
    }
}

impl Cache {
    fn get(&self, name: &PackageName) -> Option<Arc<Candidates>> {
        self.candidates.lock().unwrap().get(name).cloned()
    }

    fn insert(&self, name: &PackageName, c: Candidates) -> Arc<Candidates> {
        self.candidates
            .lock()
            .unwrap()
            .entry(name.clone())
            .or_insert_with(|| Arc::new(c))
            .clone()
    }
}

impl<S: PackageSource + Clone + Send + 'static> DependencyProvider for Provider<S> {
    type P = Pkg;
    type V = Version;
    type VS = Ranges<Version>;
    type M = Unavailable;
    type Err = SourceError;
    /// Exact pins first (nothing to choose), then extras (so they follow their package's
    /// choice), then packages that conflicted most, then the order they were found in.
    type Priority = (u8, u32, Reverse<usize>);

    fn prioritize(
        &self,
        pkg: &Pkg,
        range: &Ranges<Version>,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let mut order = self.order.borrow_mut();
        let next = order.len();
        let found = *order.entry(pkg.clone()).or_insert(next);
        let kind = match pkg {
            Pkg::Root => 4,
            _ if range.as_singleton().is_some() => 3,
            Pkg::Extra(..) => 2,
            Pkg::Name(_) => 1,
        };
        (kind, stats.conflict_count(), Reverse(found))
    }

    fn choose_version(
        &self,
        pkg: &Pkg,
        range: &Ranges<Version>,
    ) -> Result<Option<Version>, SourceError> {
        let Some(name) = pkg.name() else {
            return Ok(range.as_singleton().cloned());
        };
        let chosen = self.choose(name, range)?;
        if let Some(v) = &chosen {
            self.last_choice
                .borrow_mut()
                .insert(name.clone(), v.clone());
        }
        Ok(chosen)
    }

    fn get_dependencies(
        &self,
        pkg: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, Ranges<Version>, Unavailable>, SourceError> {
        self.dependencies(pkg, version)
    }
}

/// Fetches ahead of the solver: a package's project page, then the metadata of the
/// version the solver will most likely choose, then the same for its dependencies. The
/// results land in the source's own memo (the index keeps every response), so this needs
/// a memoizing source to pay off; a failure here is left for the solver to meet and report.
struct Prefetch<S> {
    handle: Handle,
    source: S,
    target: Arc<Target>,
    rules: Arc<Rules>,
    cache: Arc<Cache>,
    seen: Arc<Mutex<HashSet<PackageName>>>,
    permits: Arc<Semaphore>,
}

impl<S: Clone> Clone for Prefetch<S> {
    fn clone(&self) -> Self {
        Prefetch {
            handle: self.handle.clone(),
            source: self.source.clone(),
            target: self.target.clone(),
            rules: self.rules.clone(),
            cache: self.cache.clone(),
            seen: self.seen.clone(),
            permits: self.permits.clone(),
        }
    }
}

impl<S: PackageSource + Clone + Send + 'static> Prefetch<S> {
    fn spawn(&self, name: PackageName) {
        if !self.seen.lock().unwrap().insert(name.clone()) {
            return;
        }
        let this = self.clone();
        self.handle.spawn(async move { this.run(name).await });
    }

    async fn run(self, name: PackageName) {
        let Some(project) = self.limited(self.source.project(&name)).await else {
            return;
        };
        let candidates = self
            .cache
            .insert(&name, Candidates::new(&project, &self.target));
        let Some(file) = self.likely_file(&name, &candidates) else {
            return;
        };
        let Some(metadata) = self.limited(self.source.metadata(&file)).await else {
            return;
        };
        for (dep, _) in requirements(&metadata, None, &self.target) {
            if let Some(n) = dep.name() {
                self.spawn(n.clone());
            }
        }
    }

    /// One request under the concurrency bound; a failure is dropped (the solver meets it
    /// again when it needs the answer, and reports it then).
    async fn limited<T, E>(&self, request: impl Future<Output = Result<T, E>>) -> Option<T> {
        let _permit = self.permits.acquire().await.ok()?;
        request.await.ok()
    }

    /// The held or locked version when there is one, else the newest final release with a
    /// wheel (what the solver picks unless something constrains it).
    fn likely_file(&self, name: &PackageName, candidates: &Candidates) -> Option<DistFile> {
        let pinned = self
            .rules
            .held
            .get(name)
            .or_else(|| self.rules.locked.get(name));
        if let Some(c) = pinned.and_then(|v| candidates.get(v)) {
            return c.wheel.clone().or_else(|| c.any_wheel.clone());
        }
        let versions = &candidates.versions;
        let stable = versions
            .iter()
            .find(|(v, c)| !v.any_prerelease() && c.wheel.is_some());
        stable
            .or_else(|| versions.iter().find(|(_, c)| c.wheel.is_some()))
            .and_then(|(_, c)| c.wheel.clone())
    }
}
