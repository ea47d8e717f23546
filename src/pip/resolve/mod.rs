//! Lock `[pip]` packages: PubGrub over PEP 440 versions for the base image's Python.
//!
//! Semantics follow `uv pip compile --python-version X.Y.Z --python-platform <arch>-manylinux_2_N
//! --only-binary :all: --constraint <base pins>`: wheels only; markers evaluated against
//! the target; `requires-python` of each file and version against the exact Python;
//! yanked files only under an exact `==` pin; pre-releases where a requested requirement
//! names one, or when nothing else fits (uv's `if-necessary-or-explicit`); the base
//! image's distributions held at their installed version unless `allow-upgrade` names
//! them (a constraint: it matters only when something needs the package).

mod candidates;
mod provider;
mod report;

use std::collections::HashMap;
use std::sync::Arc;

use pep440_rs::Version;
use pep508_rs::{PackageName, Requirement, VersionOrUrl};
use pubgrub::{PubGrubError, Ranges};
use tokio::runtime::Handle;

use self::provider::{Pkg, Provider, Rules, requirement_packages};
use super::{DistFile, PackageSource};
use crate::pip::target::Target;

/// What to lock.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The manifest's `[pip] packages`.
    pub requirements: Vec<Requirement>,
    /// The base image's distributions.
    pub installed: Vec<(PackageName, Version)>,
    /// Base distributions that may change version (`[pip] allow-upgrade`).
    pub allow_upgrade: Vec<PackageName>,
    /// The previous lock's pins, preferred while they still satisfy (cargo-like stability;
    /// `lock --update NAME` leaves NAME out).
    pub locked: Vec<(PackageName, Version)>,
}

/// One package the layer installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinned {
    pub name: PackageName,
    pub version: Version,
    /// The wheel to install.
    pub file: DistFile,
    /// Named by the manifest (rather than pulled in).
    pub requested: bool,
    /// Its direct dependencies in this resolution (base-held ones included), sorted.
    pub requires: Vec<PackageName>,
}

/// Every package to install, sorted by name. Base-image distributions that stay at their
/// installed version are not in it: the base digest pins them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    pub packages: Vec<Pinned>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("no set of versions satisfies the [pip] packages:\n{0}")]
    NoSolution(String),
    #[error(
        "[pip] package {0:?} points at a URL; rtlock locks packages from the index only: \
         write it as a name and version specifier"
    )]
    UrlRequirement(String),
    #[error("reading {package} from the index failed: {source}")]
    Source {
        package: PackageName,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the pip resolver stopped: {0}")]
    Internal(String),
}

/// Lock `request` for `target`, reading packages from `source`. The solver runs on a
/// blocking thread of the current runtime; `source` should memoize its answers (the
/// index does), since the prefetch that keeps many requests in flight relies on it.
pub async fn resolve<S>(
    source: S,
    target: &Target,
    request: &Request,
) -> Result<Resolution, ResolveError>
where
    S: PackageSource + Clone + Send + 'static,
{
    let handle = Handle::current();
    let target = Arc::new(target.clone());
    let request = request.clone();
    tokio::task::spawn_blocking(move || solve(handle, source, target, &request))
        .await
        .map_err(|e| ResolveError::Internal(e.to_string()))?
}

fn solve<S>(
    handle: Handle,
    source: S,
    target: Arc<Target>,
    request: &Request,
) -> Result<Resolution, ResolveError>
where
    S: PackageSource + Clone + Send + 'static,
{
    let mut root: Vec<(Pkg, Ranges<Version>)> = Vec::new();
    let mut requested: HashMap<PackageName, Vec<String>> = HashMap::new();
    let mut explicit_pre = std::collections::HashSet::new();
    for r in &request.requirements {
        match &r.version_or_url {
            Some(VersionOrUrl::Url(_)) => return Err(ResolveError::UrlRequirement(r.to_string())),
            Some(VersionOrUrl::VersionSpecifier(spec))
                if spec.iter().any(|s| s.version().any_prerelease()) =>
            {
                explicit_pre.insert(r.name.clone());
            }
            _ => {}
        }
        if !r.marker.evaluate(target.markers(), &[]) {
            continue;
        }
        requested
            .entry(r.name.clone())
            .or_default()
            .push(r.to_string());
        for (pkg, range) in requirement_packages(r) {
            match root.iter_mut().find(|(p, _)| *p == pkg) {
                Some((_, have)) => *have = have.intersection(&range),
                None => root.push((pkg, range)),
            }
        }
    }
    let installed: HashMap<PackageName, Version> = request.installed.iter().cloned().collect();
    let held = installed
        .iter()
        .filter(|(n, _)| !request.allow_upgrade.contains(n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let rules = Rules {
        root,
        held,
        locked: request.locked.iter().cloned().collect(),
        explicit_pre,
    };
    let provider = Provider::new(handle, source, target, rules);

    let selected = match pubgrub::resolve(&provider, Pkg::Root, Version::new([0])) {
        Ok(selected) => selected,
        Err(PubGrubError::NoSolution(tree)) => {
            return Err(ResolveError::NoSolution(report::explain(
                &tree, &provider, &requested,
            )));
        }
        Err(
            PubGrubError::ErrorRetrievingDependencies { source, .. }
            | PubGrubError::ErrorChoosingVersion { source, .. },
        ) => {
            return Err(ResolveError::Source {
                package: source.package,
                source: source.source,
            });
        }
        Err(e) => return Err(ResolveError::Internal(e.to_string())),
    };

    let mut requires: HashMap<&PackageName, Vec<PackageName>> = HashMap::new();
    for (pkg, version) in selected.iter() {
        if let Some(name) = pkg.name() {
            requires
                .entry(name)
                .or_default()
                .extend(provider.requires(pkg, version));
        }
    }
    let mut packages = Vec::new();
    for (pkg, version) in selected.iter() {
        let Pkg::Name(name) = pkg else { continue };
        if installed.get(name) == Some(version) {
            continue;
        }
        let file = provider.file(name, version).ok_or_else(|| {
            ResolveError::Internal(format!("{name} {version} was chosen without a wheel"))
        })?;
        let mut deps = requires.remove(name).unwrap_or_default();
        deps.sort();
        deps.dedup();
        packages.push(Pinned {
            name: name.clone(),
            version: version.clone(),
            file,
            requested: requested.contains_key(name),
            requires: deps,
        });
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Resolution { packages })
}
