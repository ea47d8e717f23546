//! The R solver: `[r]` requirements against the repositories' candidates and the base
//! image's installed packages, as `install.packages(pkgs, dependencies = NA)` resolves
//! them on the base's own R.
//!
//! What R does (`install.packages` and `getDependencies`, src/library/utils/R/
//! packages2.R; `available.packages` and `.clean_up_dependencies2`,
//! src/library/utils/R/packages.R): from `available.packages()` — per name the newest
//! version whose `R (op v)` Depends entries the running R satisfies and whose
//! `OS_type` fits — it follows Depends, Imports and LinkingTo recursively, and with
//! `dependencies = TRUE` also the Suggests of the packages asked for (the first level
//! only: `getDependencies` switches to `dep2` after it). A dependency already installed
//! is not installed again; requested packages are installed at the newest version
//! available. R has no backtracking solver: it takes one version per name and never
//! revisits it.
//!
//! What rtlock does beyond that, because a lock must be reproducible and explain
//! itself:
//! - **Version constraints are honoured.** Among every version known (the index, the
//!   archive versions the lock adds, kept pins) the newest that satisfies every
//!   constraint on the name is chosen. A constraint discovered later that rules out a
//!   choice makes it chosen again, in rounds, until nothing changes (a fixed point:
//!   deterministic, no backtracking search, as R has none).
//! - **The base's packages.** Packages of priority `base` (and R's own base packages,
//!   `R_PKGS_BASE` of share/make/vars.mk, which ship with every R) are never replaced:
//!   a constraint they fail is an error. Every other installed package, recommended
//!   ones included, is held at its version unless `[r] allow-upgrade` names it. Named
//!   there, it is kept while it satisfies every constraint and not requested, as
//!   `install.packages` keeps installed dependencies; when requested, the newest
//!   candidate is chosen if it is newer than the installed one (as `install.packages`
//!   installs a requested package anew), never an older one unless a constraint needs
//!   it. The dependencies of an installed package are the base's business: they are
//!   not followed. (`.clean_up_dependencies2` would quietly install a newer copy of an
//!   installed dependency that fails a `>=` constraint; rtlock says so instead, and
//!   `allow-upgrade` is the way to let it.)
//! - **Kept pins.** A version of the previous lock is chosen again while it is a
//!   candidate that fits every constraint and the base's R.
//! - **Suggests** of requested packages (with `[r] suggests = true`) that no
//!   repository has are left out with a warning, as `install.packages` leaves out
//!   what is "not available"; every other unknown name is an error.

mod explain;
mod order;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

pub use explain::RResolveError;
pub use order::install_order;

use super::index::Available;
use super::requirement::{ROp, RRequirement, RVersion};

/// R's base packages (`R_PKGS_BASE` in share/make/vars.mk): part of every R, on no
/// repository, at R's own version.
pub const BASE_PACKAGES: [&str; 14] = [
    "base",
    "compiler",
    "datasets",
    "grDevices",
    "graphics",
    "grid",
    "methods",
    "parallel",
    "splines",
    "stats",
    "stats4",
    "tcltk",
    "tools",
    "utils",
];

/// A package of the base image's library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: RVersion,
    /// `base` or `recommended` for R's own packages.
    pub priority: Option<String>,
}

/// What to resolve.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The manifest's `[r] packages`.
    pub requested: &'a [RRequirement],
    /// Every version known per name (repositories, archive versions, kept pins), in
    /// any order; among equal versions the first listed wins.
    pub candidates: &'a BTreeMap<String, Vec<Available>>,
    /// The base image's library, in `.libPaths()` order (the first of a name wins).
    pub installed: &'a [Installed],
    /// `[r] allow-upgrade`.
    pub allow_upgrade: &'a [String],
    /// `[r] suggests`: the Suggests of the requested packages too.
    pub suggests: bool,
    /// The base's R.
    pub r_version: &'a RVersion,
    /// The previous lock's versions, chosen again while they fit.
    pub pinned: &'a BTreeMap<String, RVersion>,
}

/// One package to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub package: Available,
    /// Named by `[r] packages`.
    pub requested: bool,
    /// Its direct dependencies (the Suggests followed included), sorted, without `R`
    /// and R's base packages; packages the base holds are listed.
    pub requires: Vec<String>,
}

/// Every package to install, sorted by name; packages the base provides and keeps are
/// not in it (the base digest pins them).
pub fn resolve(request: &Request<'_>) -> Result<Vec<Resolved>, RResolveError> {
    Solver::new(request).run()
}

/// Which dependency field a demand comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Field {
    Requested,
    Depends,
    Imports,
    LinkingTo,
    Suggests,
}

/// A constraint on a name, and who puts it there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Demand {
    /// The package that depends, `None` for `[r] packages`.
    pub from: Option<(String, RVersion)>,
    pub field: Field,
    pub constraint: Option<(ROp, RVersion)>,
}

impl Demand {
    fn allows(&self, version: &RVersion) -> bool {
        self.constraint
            .as_ref()
            .is_none_or(|(op, bound)| op.matches(version, bound))
    }
}

/// What a name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// The base provides it and keeps it (a base package, or an installed one kept).
    Provided,
    /// The candidate at this index of the name's sorted list.
    Candidate(usize),
}

/// How the base stands toward a name.
#[derive(Debug, Clone, Copy)]
enum Standing<'a> {
    /// Part of R: never replaced.
    Base(&'a RVersion),
    /// Installed; `upgradable` when `[r] allow-upgrade` names it.
    Installed {
        version: &'a RVersion,
        upgradable: bool,
    },
    /// Not in the base: from the repositories.
    Absent,
}

/// Why a name has no acceptable choice, before it is told in the user's terms.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No repository knows the name.
    Unknown,
    /// A base package fails a constraint.
    Base { version: RVersion },
    /// A held package fails a constraint.
    Held { version: RVersion },
    /// Versions exist, none fits.
    NoVersion,
}

/// One round's traversal.
#[derive(Debug, Default)]
struct Round {
    demands: BTreeMap<String, Vec<Demand>>,
    /// Who first asked for each name (`None`: requested), for chains in messages.
    parent: BTreeMap<String, Option<String>>,
    picks: BTreeMap<String, Pick>,
    /// Suggests left out because no repository has them: (package, suggested).
    skipped: BTreeSet<(String, String)>,
    /// Names with no acceptable choice, in the order they were reached.
    failed: Vec<String>,
}

impl Round {
    fn demands_on(&self, name: &str) -> Vec<&Demand> {
        self.demands.get(name).into_iter().flatten().collect()
    }
}

struct Solver<'r, 'a> {
    request: &'r Request<'a>,
    /// Per name, the candidates newest first, one per version (the first listed).
    sorted: BTreeMap<&'a str, Vec<&'a Available>>,
    installed: BTreeMap<&'a str, &'a Installed>,
    requested: BTreeSet<&'a str>,
}

impl<'r, 'a> Solver<'r, 'a> {
    fn new(request: &'r Request<'a>) -> Self {
        let mut sorted = BTreeMap::new();
        for (name, versions) in request.candidates {
            let mut list: Vec<&Available> = versions.iter().collect();
            list.sort_by(|a, b| b.version.cmp(&a.version));
            list.dedup_by(|later, first| later.version == first.version);
            sorted.insert(name.as_str(), list);
        }
        let mut installed = BTreeMap::new();
        for package in request.installed {
            installed.entry(package.name.as_str()).or_insert(package);
        }
        Solver {
            request,
            sorted,
            installed,
            requested: request.requested.iter().map(|r| r.name.as_str()).collect(),
        }
    }

    fn standing(&self, name: &str) -> Standing<'a> {
        let installed = self.installed.get(name).copied();
        let is_base = BASE_PACKAGES.contains(&name)
            || installed.is_some_and(|p| p.priority.as_deref() == Some("base"));
        match installed {
            Some(p) if is_base => Standing::Base(&p.version),
            None if is_base => Standing::Base(self.request.r_version),
            Some(p) => Standing::Installed {
                version: &p.version,
                upgradable: self.request.allow_upgrade.iter().any(|n| n == name),
            },
            None => Standing::Absent,
        }
    }

    fn is_base(&self, name: &str) -> bool {
        matches!(self.standing(name), Standing::Base(_))
    }

    fn known(&self, name: &str) -> bool {
        self.sorted.get(name).is_some_and(|c| !c.is_empty())
            || !matches!(self.standing(name), Standing::Absent)
    }

    fn candidates(&self, name: &str) -> &[&'a Available] {
        self.sorted.get(name).map_or(&[], Vec::as_slice)
    }

    /// Whether candidate `a` is usable on the base and satisfies every demand.
    fn fits(&self, a: &Available, demands: &[&Demand]) -> bool {
        a.fits_os()
            && a.fits_r(self.request.r_version)
            && demands.iter().all(|d| d.allows(&a.version))
    }

    /// The newest candidate that fits, the kept pin first.
    fn best(&self, name: &str, demands: &[&Demand]) -> Option<usize> {
        let candidates = self.candidates(name);
        if let Some(pin) = self.request.pinned.get(name)
            && let Some(i) = candidates
                .iter()
                .position(|a| a.version == *pin && self.fits(a, demands))
        {
            return Some(i);
        }
        candidates.iter().position(|a| self.fits(a, demands))
    }

    /// The choice for `name` under `demands` (see the module's rules).
    fn select(&self, name: &str, demands: &[&Demand]) -> Result<Pick, Failure> {
        let satisfied = |version: &RVersion| demands.iter().all(|d| d.allows(version));
        match self.standing(name) {
            Standing::Base(version) => {
                satisfied(version)
                    .then_some(Pick::Provided)
                    .ok_or_else(|| Failure::Base {
                        version: version.clone(),
                    })
            }
            Standing::Installed {
                version,
                upgradable: false,
            } => satisfied(version)
                .then_some(Pick::Provided)
                .ok_or_else(|| Failure::Held {
                    version: version.clone(),
                }),
            Standing::Installed {
                version,
                upgradable: true,
            } => {
                let best = self.best(name, demands);
                let pinned = best.filter(|&i| {
                    self.request.pinned.get(name) == Some(&self.candidates(name)[i].version)
                });
                let newer = best.filter(|&i| {
                    self.requested.contains(name) && self.candidates(name)[i].version > *version
                });
                match pinned.or(newer) {
                    Some(i) => Ok(Pick::Candidate(i)),
                    None if satisfied(version) => Ok(Pick::Provided),
                    None => best.map(Pick::Candidate).ok_or(Failure::NoVersion),
                }
            }
            Standing::Absent if self.candidates(name).is_empty() => Err(Failure::Unknown),
            Standing::Absent => self
                .best(name, demands)
                .map(Pick::Candidate)
                .ok_or(Failure::NoVersion),
        }
    }

    fn run(&self) -> Result<Vec<Resolved>, RResolveError> {
        let mut previous: BTreeMap<String, Vec<Demand>> = BTreeMap::new();
        let mut seen: Vec<BTreeMap<String, Pick>> = Vec::new();
        loop {
            let round = self.traverse(&previous);
            if let Some(name) = round.failed.first() {
                // More demands only rule out more, so it still fails with all of them.
                let failure = match self.select(name, &round.demands_on(name)) {
                    Err(failure) => failure,
                    Ok(_) => Failure::NoVersion,
                };
                return Err(self.explain(name, failure, &round));
            }
            // Demands that came after their name was chosen: is every choice still the
            // one these demands make?
            let mut unsettled = Vec::new();
            let mut failed = None;
            for (name, pick) in &round.picks {
                let demands = round.demands_on(name);
                match self.select(name, &demands) {
                    Ok(again) if again == *pick => {}
                    Ok(_) => unsettled.push(name.clone()),
                    Err(failure) => {
                        unsettled.push(name.clone());
                        failed.get_or_insert((name.clone(), failure));
                    }
                }
            }
            if unsettled.is_empty() {
                return Ok(self.result(&round));
            }
            if seen.contains(&round.picks) {
                return Err(match failed {
                    Some((name, failure)) => self.explain(&name, failure, &round),
                    None => RResolveError::Unsettled { names: unsettled },
                });
            }
            seen.push(round.picks);
            previous = round.demands;
        }
    }

    /// One pass from the requested packages, breadth first (so that the chain that
    /// first reaches a name is a shortest one), choosing each name when it is reached
    /// under the demands known so far and those of the previous round.
    fn traverse(&self, previous: &BTreeMap<String, Vec<Demand>>) -> Round {
        let mut round = Round::default();
        let mut queue = VecDeque::new();
        for r in self.request.requested {
            round
                .demands
                .entry(r.name.clone())
                .or_default()
                .push(Demand {
                    from: None,
                    field: Field::Requested,
                    constraint: r.constraint.clone(),
                });
            round.parent.entry(r.name.clone()).or_insert(None);
            queue.push_back(r.name.clone());
        }
        while let Some(name) = queue.pop_front() {
            if round.picks.contains_key(&name) || round.failed.contains(&name) {
                continue;
            }
            let current = round.demands_on(&name);
            let known: Vec<&Demand> = current
                .iter()
                .copied()
                .chain(previous.get(&name).into_iter().flatten())
                .collect();
            // The previous round's demands may come from choices this round changed:
            // when they leave nothing, this round's alone decide.
            let pick = match self.select(&name, &known) {
                Ok(pick) => pick,
                Err(_) => match self.select(&name, &current) {
                    Ok(pick) => pick,
                    Err(_) => {
                        // Told once the traversal is over, with every demand on it.
                        round.failed.push(name);
                        continue;
                    }
                },
            };
            round.picks.insert(name.clone(), pick);
            let Pick::Candidate(i) = pick else { continue };
            let package = self.candidates(&name)[i];
            for (field, dependency) in self.followed(package) {
                if dependency.name == name {
                    continue;
                }
                if field == Field::Suggests && !self.known(&dependency.name) {
                    if round
                        .skipped
                        .insert((name.clone(), dependency.name.clone()))
                    {
                        tracing::warn!(
                            "{name} suggests {}, which no repository has: left out",
                            dependency.name
                        );
                    }
                    continue;
                }
                round
                    .demands
                    .entry(dependency.name.clone())
                    .or_default()
                    .push(Demand {
                        from: Some((name.clone(), package.version.clone())),
                        field,
                        constraint: dependency.constraint.clone(),
                    });
                round
                    .parent
                    .entry(dependency.name.clone())
                    .or_insert_with(|| Some(name.clone()));
                if !round.picks.contains_key(&dependency.name) {
                    queue.push_back(dependency.name.clone());
                }
            }
        }
        round
    }

    /// The dependencies of `package` that resolution follows, with their field.
    fn followed(&self, package: &'a Available) -> Vec<(Field, &'a RRequirement)> {
        let mut out: Vec<(Field, &RRequirement)> = Vec::new();
        out.extend(package.depends.iter().map(|d| (Field::Depends, d)));
        out.extend(package.imports.iter().map(|d| (Field::Imports, d)));
        out.extend(package.linking_to.iter().map(|d| (Field::LinkingTo, d)));
        if self.request.suggests && self.requested.contains(package.name.as_str()) {
            out.extend(package.suggests.iter().map(|d| (Field::Suggests, d)));
        }
        out
    }

    fn result(&self, round: &Round) -> Vec<Resolved> {
        let mut out = Vec::new();
        for (name, pick) in &round.picks {
            let Pick::Candidate(i) = *pick else { continue };
            let package = self.candidates(name)[i];
            let mut requires: Vec<String> = self
                .followed(package)
                .into_iter()
                .map(|(_, d)| d.name.clone())
                .filter(|d| {
                    d != name
                        && !self.is_base(d)
                        && !round.skipped.contains(&(name.clone(), d.clone()))
                })
                .collect();
            requires.sort();
            requires.dedup();
            out.push(Resolved {
                package: package.clone(),
                requested: self.requested.contains(name.as_str()),
                requires,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
