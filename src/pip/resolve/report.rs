//! PubGrub's derivation tree told in the user's terms: which request needs what, what
//! the base image holds, which package has no wheel for the target.

use std::collections::HashMap;
use std::fmt::Write;
use std::ops::Bound;

use pep440_rs::Version;
use pep508_rs::PackageName;
use pubgrub::{DerivationTree, External, Ranges};

use super::provider::{Pkg, Provider, Unavailable};
use crate::pip::PackageSource;

/// How many tags the no-wheel message lists before the count.
const TAGS_SHOWN: usize = 3;

/// One line per fact the conflict rests on, in the order the proof uses them.
pub(crate) fn explain<S: PackageSource + Clone + Send + 'static>(
    tree: &DerivationTree<Pkg, Ranges<Version>, Unavailable>,
    provider: &Provider<S>,
    requested: &HashMap<PackageName, Vec<String>>,
) -> String {
    let mut lines = Vec::new();
    collect(tree, provider, requested, &mut lines);
    let mut out = String::new();
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn collect<S: PackageSource + Clone + Send + 'static>(
    tree: &DerivationTree<Pkg, Ranges<Version>, Unavailable>,
    provider: &Provider<S>,
    requested: &HashMap<PackageName, Vec<String>>,
    lines: &mut Vec<String>,
) {
    match tree {
        DerivationTree::Derived(d) => {
            collect(&d.cause1, provider, requested, lines);
            collect(&d.cause2, provider, requested, lines);
        }
        DerivationTree::External(e) => {
            if let Some(line) = external(e, provider, requested)
                && !lines.contains(&line)
            {
                lines.push(line);
            }
        }
    }
}

fn external<S: PackageSource + Clone + Send + 'static>(
    e: &External<Pkg, Ranges<Version>, Unavailable>,
    provider: &Provider<S>,
    requested: &HashMap<PackageName, Vec<String>>,
) -> Option<String> {
    Some(match e {
        External::NotRoot(..) => return None,
        External::FromDependencyOf(Pkg::Root, _, dep, range) => {
            let name = dep.name()?;
            let mut line = match requested.get(name) {
                Some(reqs) => format!("{} (requested)", reqs.join(", ")),
                None => format!("{dep}{} (requested)", specifier(range)),
            };
            if range.is_empty() {
                line.push_str(", which no version can satisfy");
            }
            line
        }
        // `name[extra]` needing `name` at its own version says nothing to a user.
        External::FromDependencyOf(Pkg::Extra(n, _), _, Pkg::Name(d), _) if n == d => return None,
        External::FromDependencyOf(pkg, versions, dep, range) => {
            format!(
                "{pkg}{} needs {dep}{}",
                versions_of(versions),
                specifier(range)
            )
        }
        External::NoVersions(pkg, range) => no_versions(pkg.name()?, range, provider),
        External::Custom(pkg, versions, reason) => {
            format!("{pkg}{} {reason}", versions_of(versions))
        }
    })
}

fn no_versions<S: PackageSource + Clone + Send + 'static>(
    name: &PackageName,
    range: &Ranges<Version>,
    provider: &Provider<S>,
) -> String {
    if let Some(held) = provider.rules.held.get(name) {
        return format!(
            "the base image holds {name} {held}; add \"{name}\" to [pip] allow-upgrade to let it change"
        );
    }
    let Ok(candidates) = provider.candidates(name) else {
        return format!(
            "no version of {name}{} could be read from the index",
            specifier(range)
        );
    };
    if candidates.files == 0 {
        return format!("{name} is not on the index (check the name)");
    }
    if !candidates.any_installable() {
        let tags = provider.target().tags();
        let shown: Vec<String> = tags
            .iter()
            .take(TAGS_SHOWN)
            .map(ToString::to_string)
            .collect();
        let mut why = format!(
            "no version of {name} has a wheel for the base image's Python: looked for tags {}, … ({} tags)",
            shown.join(", "),
            tags.len()
        );
        let mut notes = Vec::new();
        if candidates.sdists > 0 {
            notes.push(format!(
                "{} source distributions, which rtlock does not build",
                candidates.sdists
            ));
        }
        if candidates.python_excluded > 0 {
            notes.push(format!(
                "{} fitting wheels whose requires-python excludes it",
                candidates.python_excluded
            ));
        }
        if candidates.unhashed > 0 {
            notes.push(format!(
                "{} fitting wheels without a sha256 on the index",
                candidates.unhashed
            ));
        }
        if !notes.is_empty() {
            let _ = write!(why, "; the index has {}", notes.join(", "));
        }
        return why;
    }
    let yanked: Vec<String> = candidates
        .versions
        .iter()
        .filter(|(v, c)| c.wheel.is_none() && c.yanked.is_some() && range.contains(v))
        .map(|(v, _)| v.to_string())
        .collect();
    if !yanked.is_empty() {
        return format!(
            "the versions of {name}{} with a wheel for the base image's Python are yanked: {} \
             (pin one with == to use it)",
            specifier(range),
            yanked.join(", ")
        );
    }
    let with_wheel: Vec<String> = candidates
        .versions
        .iter()
        .filter(|(_, c)| c.wheel.is_some())
        .take(5)
        .map(|(v, _)| v.to_string())
        .collect();
    format!(
        "no version of {name}{} has a wheel for the base image's Python (newest that do: {})",
        specifier(range),
        with_wheel.join(", ")
    )
}

/// A set of versions of the depending package: ` 2.2.3`, ` >=2.0, <=2.2.3`, or nothing
/// when it is every version.
fn versions_of(range: &Ranges<Version>) -> String {
    match range.as_singleton() {
        Some(v) => format!(" {v}"),
        None if *range == Ranges::full() => String::new(),
        None => format!(" {}", pep440(range)),
    }
}

/// A required range as a PEP 440 specifier glued to the name: `>=1.23.2`, `==2.0`.
fn specifier(range: &Ranges<Version>) -> String {
    match range.as_singleton() {
        Some(v) => format!("=={v}"),
        None if *range == Ranges::full() => String::new(),
        None => pep440(range),
    }
}

fn pep440(range: &Ranges<Version>) -> String {
    let parts: Vec<String> = range
        .iter()
        .map(|(lo, hi)| {
            let lo = match lo {
                Bound::Included(v) => Some(format!(">={}", plain(v))),
                Bound::Excluded(v) => Some(format!(">{}", plain(v))),
                Bound::Unbounded => None,
            };
            let hi = match hi {
                Bound::Included(v) => Some(format!("<={}", plain(v))),
                Bound::Excluded(v) => Some(format!("<{}", plain(v))),
                Bound::Unbounded => None,
            };
            match (lo, hi) {
                (Some(l), Some(h)) => format!("{l},{h}"),
                (Some(b), None) | (None, Some(b)) => b,
                (None, None) => String::new(),
            }
        })
        .collect();
    parts.join(" or ")
}

/// PubGrub's bounds carry pep440_rs's internal min/max markers (`<2` is "below 2's
/// smallest pre-release"); a message shows the version as written.
fn plain(v: &Version) -> Version {
    let mut v = v.clone();
    if Version::min(&v).is_some() {
        v = v.with_min(None);
    }
    if Version::max(&v).is_some() {
        v = v.with_max(None);
    }
    v
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use pep440_rs::VersionSpecifiers;

    use super::*;

    fn range(spec: &str) -> Ranges<Version> {
        Ranges::from(VersionSpecifiers::from_str(spec).unwrap())
    }

    #[test]
    fn ranges_read_as_pep440() {
        assert_eq!(specifier(&range(">=1.23.2")), ">=1.23.2");
        // `<3` is "below 3's first pre-release" inside; the message says `<3`.
        assert_eq!(specifier(&range(">=1.21.1,<3")), ">=1.21.1,<3");
        assert_eq!(specifier(&range("==2.2.3")), "==2.2.3");
        assert_eq!(specifier(&range("!=2.0")), "<2.0 or >2.0");
        assert_eq!(specifier(&Ranges::full()), "");
        assert_eq!(versions_of(&range("==2.2.3")), " 2.2.3");
        assert_eq!(versions_of(&Ranges::full()), "");
    }

    #[test]
    fn an_unavailable_version_says_why_after_its_name() {
        let reason = Unavailable::Python {
            needs: ">=3.12".into(),
            has: "3.11.2".into(),
        };
        assert_eq!(
            format!("numpy{} {reason}", versions_of(&range("==2.3.0"))),
            "numpy 2.3.0 needs Python >=3.12, and the base image has 3.11.2"
        );
    }
}
