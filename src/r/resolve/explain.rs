//! Resolution failures told in the manifest's terms: who asks for what (`[r] packages`
//! or a package at its version, through which chain), what the base image holds, what
//! the repositories have, and what to change.

use std::fmt::Write;

use super::{Demand, Failure, Field, Pick, Round, Solver};
use crate::r::index::Available;
use crate::r::requirement::RRequirement;

/// How many versions a message lists before it counts the rest.
const VERSIONS_SHOWN: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RResolveError {
    /// No repository has the name, and the base does not either.
    #[error("{}", unknown(name, chain, suggestion.as_deref()))]
    Unknown {
        name: String,
        /// `[r] packages → a 1.0 → NAME`.
        chain: String,
        /// A known name close to it.
        suggestion: Option<String>,
    },

    /// Every version that satisfies the constraints needs a newer R than the base's.
    #[error("{}", needs_newer_r(name, demands, needs, r_version, older_than))]
    NeedsNewerR {
        name: String,
        /// Every demand on it, one line each.
        demands: Vec<String>,
        /// `foo 2.0 needs R (>= 4.3.0)`, newest first.
        needs: Vec<String>,
        r_version: String,
        /// The oldest of those versions: an older one may support the base's R.
        older_than: String,
    },

    /// A package the base holds fails a constraint.
    #[error(
        "the base image holds {name} {version}, which does not satisfy:\n{}\
         help: add \"{name}\" to [r] allow-upgrade to let rtlock install a version that does",
        lines(failing)
    )]
    Held {
        name: String,
        version: String,
        /// The demands it fails, one line each.
        failing: Vec<String>,
    },

    /// One of R's base packages fails a constraint.
    #[error(
        "{name} {version} is part of the base image's R and cannot be replaced, but:\n{}\
         help: use a base image with a newer R; or, in [r] packages, relax the constraint \
         on {name}, or request older versions of the packages that need more",
        lines(failing)
    )]
    Base {
        name: String,
        version: String,
        failing: Vec<String>,
    },

    /// Every version that satisfies the constraints is for another OS.
    #[error(
        "no version of {name} runs on Linux: it is for {os_type} only (OS_type: {os_type}); \
         it is needed by {chain}\n\
         help: leave out of [r] packages what needs {name}"
    )]
    OsType {
        name: String,
        chain: String,
        os_type: String,
    },

    /// No version satisfies every constraint.
    #[error("{}", conflict(name, demands, base.as_deref(), versions))]
    Conflict {
        name: String,
        /// Every demand on it, one line each.
        demands: Vec<String>,
        /// `the base image holds NAME 1.0` when it is installed (and may be upgraded).
        base: Option<String>,
        /// The versions the repositories have, newest first.
        versions: Vec<String>,
    },

    /// The choices keep changing (each round's choices change the next round's
    /// constraints, in a cycle).
    #[error(
        "the R resolution does not settle: the versions chosen for {} keep changing as \
         the requirements on them change (R has no backtracking resolver, nor has rtlock)\n\
         help: pin versions of these packages in [r] packages",
        names.join(", ")
    )]
    Unsettled { names: Vec<String> },
}

fn lines(items: &[String]) -> String {
    items.iter().map(|l| format!("  {l}\n")).collect()
}

fn unknown(name: &str, chain: &str, suggestion: Option<&str>) -> String {
    let mut out = format!("no repository has an R package named {name}");
    let requested_only = chain == format!("[r] packages → {name}");
    if requested_only {
        out.push_str(" ([r] packages ask for it)");
    } else {
        let _ = write!(out, " (needed by {chain})");
    }
    out.push_str("\nhelp: ");
    if let Some(s) = suggestion {
        let _ = write!(out, "did you mean {s}? ");
    }
    if requested_only {
        out.push_str(
            "check the name in [r] packages (R's package names are case-sensitive), or add \
             the repository that has it to [r] repos",
        );
    } else {
        let _ = write!(out, "add the repository that has {name} to [r] repos");
    }
    out
}

fn needs_newer_r(
    name: &str,
    demands: &[String],
    needs: &[String],
    r_version: &str,
    older_than: &str,
) -> String {
    format!(
        "no version of {name} works with the base image's R {r_version}:\n{}\
         what asks for {name}:\n{}\
         help: use a base image with a newer R, or request a version of {name} older than \
         {older_than} in [r] packages (\"{name} (< {older_than})\"; the repository's archive \
         may hold one)",
        lines(needs),
        lines(demands)
    )
}

fn conflict(name: &str, demands: &[String], base: Option<&str>, versions: &[String]) -> String {
    let mut out = format!("no version of {name} satisfies every requirement on it:\n");
    out.push_str(&lines(demands));
    if let Some(base) = base {
        let _ = writeln!(out, "{base}");
    }
    if versions.is_empty() {
        let _ = writeln!(out, "the repositories have no version of {name}");
    } else {
        let _ = writeln!(out, "the repositories have {name} {}", listing(versions));
    }
    out.push_str(
        "help: change the version constraints in [r] packages so that they agree; to use \
         a version only a repository's archive holds, request it there (\"NAME (== VERSION)\")",
    );
    out
}

/// `1.2, 1.1, 1.0, … (12 versions)`.
fn listing(versions: &[String]) -> String {
    let mut out = versions
        .iter()
        .take(VERSIONS_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if versions.len() > VERSIONS_SHOWN {
        let _ = write!(out, ", … ({} versions)", versions.len());
    }
    out
}

impl Solver<'_, '_> {
    /// `failure` of `name` in `round`, as an error.
    pub(super) fn explain(&self, name: &str, failure: Failure, round: &Round) -> RResolveError {
        let demands = round.demands_on(name);
        let chain = self.chain(name, round);
        let failing = |version| {
            demands
                .iter()
                .filter(|d| !d.allows(version))
                .map(|d| self.demand_line(name, d, round))
                .collect()
        };
        match failure {
            Failure::Unknown => RResolveError::Unknown {
                name: name.to_string(),
                chain,
                suggestion: self.close_name(name),
            },
            Failure::Base { version } => RResolveError::Base {
                name: name.to_string(),
                version: version.to_string(),
                failing: failing(&version),
            },
            Failure::Held { version } => RResolveError::Held {
                name: name.to_string(),
                version: version.to_string(),
                failing: failing(&version),
            },
            Failure::NoVersion => self.no_version(name, &demands, chain, round),
        }
    }

    fn no_version(
        &self,
        name: &str,
        demands: &[&Demand],
        chain: String,
        round: &Round,
    ) -> RResolveError {
        let candidates = self.candidates(name);
        let satisfying: Vec<&Available> = candidates
            .iter()
            .copied()
            .filter(|a| demands.iter().all(|d| d.allows(&a.version)))
            .collect();
        if satisfying.is_empty() {
            // Only constraints can rule versions out: the others are noise here.
            let constrained: Vec<&Demand> = demands
                .iter()
                .copied()
                .filter(|d| d.constraint.is_some())
                .collect();
            return RResolveError::Conflict {
                name: name.to_string(),
                demands: self.demand_lines(name, &constrained, round),
                base: self
                    .installed
                    .get(name)
                    .map(|p| format!("the base image holds {name} {}", p.version)),
                versions: candidates.iter().map(|a| a.version.to_string()).collect(),
            };
        }
        let r = self.request.r_version;
        let for_linux: Vec<&Available> =
            satisfying.iter().copied().filter(|a| a.fits_os()).collect();
        if for_linux.is_empty() {
            return RResolveError::OsType {
                name: name.to_string(),
                chain,
                os_type: satisfying[0].os_type.clone().unwrap_or_default(),
            };
        }
        let needs: Vec<String> = for_linux
            .iter()
            .filter_map(|a| {
                a.r_constraint_failed(r).map(|(op, bound)| {
                    format!("{name} {} needs R ({} {bound})", a.version, op.as_str())
                })
            })
            .collect();
        let mut shown: Vec<String> = needs.iter().take(VERSIONS_SHOWN).cloned().collect();
        if needs.len() > VERSIONS_SHOWN {
            shown.push(format!(
                "… and {} older versions",
                needs.len() - VERSIONS_SHOWN
            ));
        }
        RResolveError::NeedsNewerR {
            name: name.to_string(),
            demands: self.demand_lines(name, demands, round),
            needs: shown,
            r_version: r.to_string(),
            older_than: for_linux
                .last()
                .map(|a| a.version.to_string())
                .unwrap_or_default(),
        }
    }

    /// One line per demand, each once.
    fn demand_lines(&self, name: &str, demands: &[&Demand], round: &Round) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        for d in demands {
            let line = self.demand_line(name, d, round);
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        lines
    }

    /// `[r] packages → a 1.0 → b 2.1 → NAME`: the first chain that reached `name`.
    fn chain(&self, name: &str, round: &Round) -> String {
        let mut names = vec![name.to_string()];
        let mut at = name.to_string();
        while let Some(Some(parent)) = round.parent.get(&at) {
            if names.contains(parent) {
                break;
            }
            names.push(parent.clone());
            at = parent.clone();
        }
        names.reverse();
        let mut out = String::from("[r] packages");
        let last = names.len() - 1;
        for (i, n) in names.iter().enumerate() {
            out.push_str(" → ");
            out.push_str(n);
            if i < last
                && let Some(version) = self.picked_version(n, round)
            {
                let _ = write!(out, " {version}");
            }
        }
        out
    }

    fn picked_version(&self, name: &str, round: &Round) -> Option<String> {
        match round.picks.get(name)? {
            Pick::Candidate(i) => Some(self.candidates(name)[*i].version.to_string()),
            Pick::Provided => self.installed.get(name).map(|p| p.version.to_string()),
        }
    }

    /// One demand on `name`: `[r] packages ask for NAME (>= 1)`, or
    /// `pkg 1.0 imports NAME (>= 1)` with the chain to `pkg` unless it is requested.
    fn demand_line(&self, name: &str, demand: &Demand, round: &Round) -> String {
        let wanted = RRequirement {
            name: name.to_string(),
            constraint: demand.constraint.clone(),
        };
        let Some((from, version)) = &demand.from else {
            return format!("[r] packages ask for {wanted}");
        };
        let verb = match demand.field {
            Field::Requested => "asks for",
            Field::Depends => "depends on",
            Field::Imports => "imports",
            Field::LinkingTo => "links to",
            Field::Suggests => "suggests",
        };
        let mut line = format!("{from} {version}");
        if self.requested.contains(from.as_str()) {
            line.push_str(" (requested)");
        }
        let _ = write!(line, " {verb} {wanted}");
        if !self.requested.contains(from.as_str()) {
            let _ = write!(line, ", via {}", self.chain(from, round));
        }
        line
    }

    /// A known name that `name` is likely a typo of: one differing only in case first
    /// (R's names are case-sensitive; `getDependencies` says "Perhaps you meant" for
    /// just that), else the closest by Jaro-Winkler.
    fn close_name(&self, name: &str) -> Option<String> {
        let names: Vec<&str> = self
            .sorted
            .keys()
            .copied()
            .chain(self.installed.keys().copied())
            .chain(super::BASE_PACKAGES)
            .filter(|n| *n != name)
            .collect();
        names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .copied()
            .or_else(|| crate::diagnostic::did_you_mean(name, &names))
            .map(str::to_string)
    }
}
