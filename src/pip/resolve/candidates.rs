//! A project's files sorted into versions the resolver can choose, each with the one
//! wheel it would install on the target.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use crate::pip::target::Target;
use crate::pip::wheel_name::{BuildTag, WheelName, is_sdist};
use crate::pip::{DistFile, Project};

/// One version of a project, as the target sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Candidate {
    /// The wheel to install: best tag rank, then highest build tag, then the first the
    /// index lists (uv's order), among files not yanked.
    pub wheel: Option<DistFile>,
    /// The same among yanked files: usable only when a requirement pins this version
    /// exactly (PEP 592).
    pub yanked: Option<DistFile>,
    /// Any wheel of the version, compatible or not: its metadata describes the version a
    /// base image holds even when no wheel of it fits the target.
    pub any_wheel: Option<DistFile>,
    best: Option<(usize, Reverse<Option<BuildTag>>)>,
    best_yanked: Option<(usize, Reverse<Option<BuildTag>>)>,
}

/// Every version of a project, newest first, and counts that explain an empty list.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    pub versions: Vec<(Version, Candidate)>,
    pub files: usize,
    pub sdists: usize,
    /// Wheels whose tags fit the target but whose `requires-python` excludes it.
    pub python_excluded: usize,
    /// Wheels that fit but have no sha256 on the index (a lock cannot pin them).
    pub unhashed: usize,
}

impl Candidates {
    pub fn new(project: &Project, target: &Target) -> Candidates {
        let mut by_version: BTreeMap<Version, Candidate> = BTreeMap::new();
        let mut out = Candidates {
            files: project.files.len(),
            ..Default::default()
        };
        for file in &project.files {
            if !file.filename.ends_with(".whl") {
                out.sdists += usize::from(is_sdist(&file.filename));
                continue;
            }
            let Ok(wheel) = WheelName::from_str(&file.filename) else {
                continue;
            };
            let candidate = by_version.entry(wheel.version.clone()).or_default();
            if candidate.any_wheel.is_none() {
                candidate.any_wheel = Some(file.clone());
            }
            let Some(rank) = target.compatibility(&wheel) else {
                continue;
            };
            if !python_allows(file.requires_python.as_deref(), target) {
                out.python_excluded += 1;
                continue;
            }
            if file.sha256.is_none() {
                out.unhashed += 1;
                continue;
            }
            let key = (rank, Reverse(wheel.build));
            let (slot, best) = if file.yanked.is_some() {
                (&mut candidate.yanked, &mut candidate.best_yanked)
            } else {
                (&mut candidate.wheel, &mut candidate.best)
            };
            if best.as_ref().is_none_or(|b| key < *b) {
                *best = Some(key);
                *slot = Some(file.clone());
            }
        }
        out.versions = by_version.into_iter().rev().collect();
        out
    }

    pub fn get(&self, version: &Version) -> Option<&Candidate> {
        self.versions
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, c)| c)
    }

    /// Whether any version has a wheel the target can install.
    pub fn any_installable(&self) -> bool {
        self.versions
            .iter()
            .any(|(_, c)| c.wheel.is_some() || c.yanked.is_some())
    }
}

/// An index's `requires-python` against the target's exact version. One that does not
/// parse is ignored, as pip and uv do (old uploads carry odd ones like `>=3.6.*`).
pub(crate) fn python_allows(requires_python: Option<&str>, target: &Target) -> bool {
    match requires_python.map(VersionSpecifiers::from_str) {
        Some(Ok(spec)) => spec.contains(target.python_version()),
        _ => true,
    }
}
