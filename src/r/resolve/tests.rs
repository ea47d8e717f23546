use std::collections::BTreeMap;

use url::Url;

use super::*;
use crate::r::index::{merge, parse_packages};

/// A small CRAN-like universe, written as PACKAGES is (read by the real parser): the
/// ggplot2 closure trimmed, recommended packages newer than the base's, a version that
/// needs a newer R than the base's, LinkingTo-only users of Rcpp, a Windows-only
/// package, and chains that end in a name no repository has.
const PACKAGES: &str = "\
Package: cli
Version: 3.6.2
Depends: R (>= 3.4)
Imports: utils

Package: glue
Version: 1.7.0
Depends: R (>= 3.6)
Imports: methods

Package: rlang
Version: 1.1.3
Depends: R (>= 3.5.0)
Imports: utils

Package: rlang
Version: 1.1.2
Depends: R (>= 3.5.0)
Imports: utils

Package: lifecycle
Version: 1.0.4
Depends: R (>= 3.6)
Imports: cli (>= 3.4.0), glue, rlang (>= 1.1.0)

Package: vctrs
Version: 0.6.5
Depends: R (>= 3.5.0)
Imports: cli (>= 3.4.0), glue, lifecycle (>= 1.0.3), rlang (>= 1.1.0)

Package: scales
Version: 1.3.0
Depends: R (>= 3.6)
Imports: cli, farver (>= 2.0.3), lifecycle, R6, rlang (>= 1.0.0)

Package: farver
Version: 2.1.1
NeedsCompilation: yes

Package: R6
Version: 2.5.1
Depends: R (>= 3.0)

Package: ggplot2
Version: 3.5.1
Depends: R (>= 4.3)
Imports: cli, glue, grDevices, grid, lifecycle (> 1.0.1), MASS, rlang (>= 1.1.0),
        scales (>= 1.3.0), stats, vctrs (>= 0.6.0)

Package: ggplot2
Version: 3.4.4
Depends: R (>= 3.3)
Imports: cli, glue, grDevices, grid, lifecycle (> 1.0.1), MASS, rlang (>= 1.1.0),
        scales (>= 1.2.0), stats, vctrs (>= 0.5.0)
Suggests: knitr, testthat (>= 3.1.2), vdiffr (>= 1.0.0)

Package: knitr
Version: 1.45
Imports: xfun (>= 0.39), tools

Package: xfun
Version: 0.41
Imports: grDevices, stats, tools

Package: testthat
Version: 3.2.1
Imports: cli, rlang
Suggests: covr

Package: MASS
Version: 7.3-60.2
Priority: recommended
Depends: R (>= 4.4.0), grDevices, graphics, stats, utils
Imports: methods

Package: MASS
Version: 7.3-60
Priority: recommended
Depends: R (>= 4.0), grDevices, graphics, stats, utils
Imports: methods

Package: Matrix
Version: 1.6-5
Priority: recommended
Depends: R (>= 3.5.0), methods
Imports: grDevices, graphics, grid, lattice, stats, utils

Package: lme4
Version: 1.1-35.1
Depends: R (>= 3.5.0), Matrix (>= 1.6-1), methods, stats
LinkingTo: Rcpp (>= 0.10.5)

Package: Rcpp
Version: 1.0.12
Imports: methods, utils

Package: Rcpp
Version: 1.0.11
Imports: methods, utils

Package: RcppArmadillo
Version: 0.12.8.0.0
Depends: R (>= 3.3.0)
Imports: Rcpp (>= 1.0.8), stats, utils, methods
LinkingTo: Rcpp

Package: fancy
Version: 2.0
Depends: R (>= 4.4)

Package: fancy
Version: 2.1
Depends: R (>= 4.5.0)

Package: usesfancy
Version: 1.0
Imports: fancy

Package: winonly
Version: 1.0
OS_type: windows

Package: deep
Version: 1.0
Imports: deeper

Package: deeper
Version: 0.1-2
Imports: nosuchpkg (>= 1.0)

Package: newtools
Version: 1.0
Imports: tools (>= 4.3.0), utils

Package: early
Version: 1.0
Imports: shared

Package: late
Version: 1.0
Imports: middle

Package: middle
Version: 1.0
Imports: shared (< 2.0)

Package: shared
Version: 2.0

Package: shared
Version: 1.5

Package: mixed
Version: 1.0
Imports: lme4 (>= 1.1-30)

Package: aa
Version: 1.0
Suggests: bb

Package: bb
Version: 1.0
Suggests: aa
";

fn v(text: &str) -> RVersion {
    text.parse().unwrap()
}

fn universe() -> BTreeMap<String, Vec<Available>> {
    let repo = Url::parse("http://127.0.0.1:8080/cran/").unwrap();
    merge(vec![parse_packages(PACKAGES, &repo).unwrap()])
}

/// Debian's r-base-core 4.2.2 (R's base packages) plus some recommended packages.
fn base_library() -> Vec<Installed> {
    let mut out: Vec<Installed> = [
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
    ]
    .iter()
    .map(|name| Installed {
        name: name.to_string(),
        version: v("4.2.2"),
        priority: Some("base".into()),
    })
    .collect();
    for (name, version) in [
        ("MASS", "7.3-58.2"),
        ("Matrix", "1.5-3"),
        ("lattice", "0.20-45"),
    ] {
        out.push(Installed {
            name: name.into(),
            version: v(version),
            priority: Some("recommended".into()),
        });
    }
    out
}

struct Case {
    candidates: BTreeMap<String, Vec<Available>>,
    installed: Vec<Installed>,
    allow_upgrade: Vec<String>,
    suggests: bool,
    r_version: RVersion,
    pinned: BTreeMap<String, RVersion>,
}

impl Case {
    fn new() -> Case {
        Case {
            candidates: universe(),
            installed: base_library(),
            allow_upgrade: Vec::new(),
            suggests: false,
            r_version: v("4.2.2"),
            pinned: BTreeMap::new(),
        }
    }

    fn resolve(&self, requested: &[&str]) -> Result<Vec<Resolved>, RResolveError> {
        let requested: Vec<RRequirement> = requested.iter().map(|r| r.parse().unwrap()).collect();
        resolve(&Request {
            requested: &requested,
            candidates: &self.candidates,
            installed: &self.installed,
            allow_upgrade: &self.allow_upgrade,
            suggests: self.suggests,
            r_version: &self.r_version,
            pinned: &self.pinned,
        })
    }

    /// `name version` of each package to install, `*` when requested, then what it
    /// requires.
    fn lines(&self, requested: &[&str]) -> Vec<String> {
        let resolved = self.resolve(requested).unwrap();
        resolved
            .iter()
            .map(|r| {
                format!(
                    "{} {}{} <- {}",
                    r.package.name,
                    r.package.version,
                    if r.requested { "*" } else { "" },
                    r.requires.join(" ")
                )
            })
            .collect()
    }

    fn error(&self, requested: &[&str]) -> String {
        self.resolve(requested).unwrap_err().to_string()
    }
}

#[test]
fn deep_imports_follow_depends_imports_linking_to() {
    let case = Case::new();
    assert_eq!(
        case.lines(&["ggplot2"]),
        [
            "R6 2.5.1 <- ",
            "cli 3.6.2 <- ",
            "farver 2.1.1 <- ",
            // 3.5.1 needs R (>= 4.3): R's R_version filter drops it on R 4.2.2.
            "ggplot2 3.4.4* <- MASS cli glue lifecycle rlang scales vctrs",
            "glue 1.7.0 <- ",
            "lifecycle 1.0.4 <- cli glue rlang",
            "rlang 1.1.3 <- ",
            "scales 1.3.0 <- R6 cli farver lifecycle rlang",
            "vctrs 0.6.5 <- cli glue lifecycle rlang",
        ],
        "MASS is the base's (held, not listed), base packages are in no requires"
    );
    // LinkingTo alone pulls a package in.
    assert_eq!(
        case.lines(&["RcppArmadillo"]),
        ["Rcpp 1.0.12 <- ", "RcppArmadillo 0.12.8.0.0* <- Rcpp"]
    );
}

#[test]
fn results_do_not_depend_on_candidate_order() {
    let case = Case::new();
    let mut shuffled = Case::new();
    for versions in shuffled.candidates.values_mut() {
        versions.reverse();
    }
    for request in [
        &["ggplot2"][..],
        &["lme4", "RcppArmadillo"],
        &["early", "late"],
    ] {
        let (a, b) = (case.resolve(request), shuffled.resolve(request));
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{request:?}");
        assert_eq!(format!("{a:?}"), format!("{:?}", case.resolve(request)));
    }
}

#[test]
fn requested_constraints_pick_older_versions() {
    let case = Case::new();
    assert_eq!(case.lines(&["Rcpp (< 1.0.12)"]), ["Rcpp 1.0.11* <- "]);
    assert_eq!(
        case.lines(&["rlang (== 1.1.2)", "lifecycle"])[3],
        "rlang 1.1.2* <- "
    );
}

#[test]
fn a_constraint_found_late_makes_the_choice_again() {
    // `shared` is chosen at 2.0 for `early` before `middle` (reached through `late`)
    // says `shared (< 2.0)`: the next round chooses 1.5 for both.
    let case = Case::new();
    assert_eq!(
        case.lines(&["early", "late"]),
        [
            "early 1.0* <- shared",
            "late 1.0* <- middle",
            "middle 1.0 <- shared",
            "shared 1.5 <- ",
        ]
    );
}

#[test]
fn the_base_holds_its_packages_unless_allowed_to_upgrade() {
    let mut case = Case::new();
    // Requested but held: the base's MASS is kept, nothing to install.
    assert!(case.lines(&["MASS"]).is_empty());
    // R's base packages are never installed.
    assert!(case.lines(&["stats", "tools"]).is_empty());

    case.allow_upgrade = vec!["MASS".into(), "Matrix".into()];
    // A dependency the base has and that satisfies is kept (install.packages does not
    // upgrade installed dependencies).
    assert!(
        !case
            .lines(&["ggplot2"])
            .iter()
            .any(|l| l.starts_with("MASS"))
    );
    // Requested and allowed: the newest that fits the base's R (7.3-60.2 needs 4.4).
    assert_eq!(case.lines(&["MASS"]), ["MASS 7.3-60* <- "]);
    // A constraint the base's Matrix fails: upgraded; lattice is the base's.
    assert_eq!(
        case.lines(&["lme4"]),
        [
            "Matrix 1.6-5 <- lattice",
            "Rcpp 1.0.12 <- ",
            "lme4 1.1-35.1* <- Matrix Rcpp"
        ]
    );
    // Nothing newer than the base's: kept.
    case.candidates.remove("Matrix");
    assert!(case.lines(&["Matrix"]).is_empty());
}

#[test]
fn kept_pins_are_chosen_while_they_fit() {
    let mut case = Case::new();
    case.pinned.insert("rlang".into(), v("1.1.2"));
    assert!(
        case.lines(&["lifecycle"])
            .contains(&"rlang 1.1.2 <- ".to_string())
    );
    // A pin the constraints rule out is given up.
    case.pinned.insert("rlang".into(), v("1.1.2"));
    assert!(
        case.lines(&["rlang (>= 1.1.3)"])
            .contains(&"rlang 1.1.3* <- ".to_string())
    );
    // A pin of a version no repository lists is given up too.
    case.pinned.insert("cli".into(), v("3.0.0"));
    assert!(case.lines(&["cli"]).contains(&"cli 3.6.2* <- ".to_string()));
}

#[test]
fn suggests_of_requested_packages_only() {
    let mut case = Case::new();
    case.suggests = true;
    let lines = case.lines(&["ggplot2"]);
    // knitr and testthat come in, with their own strong dependencies (xfun); vdiffr is
    // on no repository and is left out; testthat's own Suggests (covr) are not followed.
    assert!(lines.contains(
        &"ggplot2 3.4.4* <- MASS cli glue knitr lifecycle rlang scales testthat vctrs".to_string()
    ));
    assert!(lines.contains(&"knitr 1.45 <- xfun".to_string()));
    assert!(lines.contains(&"xfun 0.41 <- ".to_string()));
    assert!(lines.contains(&"testthat 3.2.1 <- cli rlang".to_string()));
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("vdiffr") || l.starts_with("covr"))
    );
    // Off, they are not followed.
    case.suggests = false;
    assert!(
        !case
            .lines(&["ggplot2"])
            .iter()
            .any(|l| l.starts_with("knitr"))
    );
}

#[test]
fn install_order_puts_dependencies_first() {
    let mut case = Case::new();
    case.allow_upgrade = vec!["Matrix".into()];
    let resolved = case.resolve(&["ggplot2", "lme4"]).unwrap();
    let order = install_order(&resolved);
    assert_eq!(order.len(), resolved.len());
    let position = |name: &str| {
        order
            .iter()
            .position(|&i| resolved[i].package.name == name)
            .unwrap()
    };
    for r in &resolved {
        for dependency in &r.requires {
            if resolved.iter().any(|o| o.package.name == *dependency) {
                assert!(
                    position(dependency) < position(&r.package.name),
                    "{dependency} before {}",
                    r.package.name
                );
            }
        }
    }
    assert_eq!(install_order(&resolved), order, "deterministic");
}

#[test]
fn install_order_breaks_suggests_cycles_the_same_way_every_time() {
    let mut case = Case::new();
    case.suggests = true;
    let resolved = case.resolve(&["bb", "aa"]).unwrap();
    assert_eq!(resolved[0].requires, ["bb"]);
    assert_eq!(resolved[1].requires, ["aa"]);
    // aa → bb is added first (by index); bb → aa would close the cycle.
    assert_eq!(install_order(&resolved), [0, 1]);
}

#[test]
fn errors_say_who_asks_for_what() {
    let mut case = Case::new();
    let mut report = String::new();
    let mut say = |title: &str, text: String| {
        report.push_str(&format!("--- {title}\n{text}\n"));
    };
    say("unknown, requested", case.error(&["ggplot"]));
    say("unknown, wrong case", case.error(&["Rcpparmadillo"]));
    say("unknown, deep", case.error(&["deep"]));
    say(
        "needs a newer R, requested",
        case.error(&["ggplot2 (>= 3.5)"]),
    );
    say("needs a newer R, deep", case.error(&["usesfancy"]));
    say("held by the base", case.error(&["lme4"]));
    say("held by the base, deep", case.error(&["mixed"]));
    say(
        "held by the base, requested",
        case.error(&["Matrix (>= 1.6)"]),
    );
    say("a base package", case.error(&["newtools"]));
    say("a base package, requested", case.error(&["utils (>= 4.3)"]));
    say(
        "conflict",
        case.error(&["Rcpp (< 1.0.11)", "RcppArmadillo"]),
    );
    say("windows only", case.error(&["winonly"]));
    case.allow_upgrade = vec!["Matrix".into()];
    say("conflict with the base", case.error(&["Matrix (>= 1.7)"]));
    say(
        "unsettled",
        RResolveError::Unsettled {
            names: vec!["aa".into(), "bb".into()],
        }
        .to_string(),
    );
    insta::assert_snapshot!(report);
}
