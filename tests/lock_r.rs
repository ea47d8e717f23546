//! `rtlock lock` with `[r] packages`: against the test bed's CRAN-like repository of real
//! R packages (Debian's `r-cran-*` binaries, CRAN source tarballs, an `Archive/`), served
//! on 127.0.0.1, and its R base image (Debian's r-base-core without recommends: the base
//! packages only). R itself is the oracle: `tools::package_dependencies` over
//! `available.packages()` of the same repository, in a container of the same base.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use tempfile::TempDir;
use url::Url;

use common::cran::{self, CranRepo, Fields, dependency_names, r_closure, rscript};
use common::testbed::{docker, ok, testbed};
use rtlock::fetch::sha256_hex;
use rtlock::lockfile::{AptPackage, Lockfile, RKind, RPackage};

fn rtlock(dir: &Path, cache: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rtlock").unwrap();
    cmd.current_dir(dir)
        .envs(testbed().env())
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("--cache-dir")
        .arg(cache);
    cmd
}

/// A manifest on the bed's R base; `repos: None` leaves `[r] repos` out.
fn manifest(dir: &Path, repos: Option<&Url>, packages: &[&str], extra: &str) {
    let packages: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    let repos = repos.map_or(String::new(), |u| format!("repos = [\"{u}\"]\n"));
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}\"\n[r]\npackages = [{}]\n{repos}{extra}",
            testbed().image_r,
            packages.join(", ")
        ),
    )
    .unwrap();
}

fn read_lock(dir: &Path) -> Lockfile {
    Lockfile::read(&dir.join("runtime.lock")).unwrap()
}

fn names(r: &[RPackage]) -> BTreeSet<String> {
    r.iter().map(|p| p.name.clone()).collect()
}

fn entry<'a>(r: &'a [RPackage], name: &str) -> &'a RPackage {
    r.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the lock: {:?}", names(r)))
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A request's package name, without its version constraint.
fn bare(request: &str) -> &str {
    request.split('(').next().unwrap().trim()
}

/// One request set of the oracle test.
struct Case {
    /// A word: the oracle's output is keyed by it.
    label: &'static str,
    packages: &'static [&'static str],
    suggests: bool,
}

const fn case(label: &'static str, packages: &'static [&'static str]) -> Case {
    Case {
        label,
        packages,
        suggests: false,
    }
}

/// Deep Imports (ggplot2, dplyr, shiny), compiled code (data.table, igraph, sf),
/// LinkingTo (RSQLite's plogr, lme4's RcppEigen; nloptr, whose only link to testthat is
/// LinkingTo), version constraints, base packages in the request, Suggests, source
/// packages (foreach, purrr, stringr) and a mix.
const CASES: &[Case] = &[
    case("ggplot2", &["ggplot2"]),
    case("dplyr", &["dplyr"]),
    case("data.table", &["data.table"]),
    case("dbi", &["DBI", "RSQLite"]),
    case("shiny", &["shiny"]),
    case("lme4", &["lme4"]),
    case("sf", &["sf"]),
    case("igraph", &["igraph"]),
    case("linkingto-only", &["nloptr"]),
    case("constraints", &["ggplot2 (>= 3.4)", "Rcpp (>= 1.0)"]),
    case("with-base", &["utils", "R6", "stats"]),
    case("base-only", &["utils", "tools"]),
    Case {
        label: "suggests",
        packages: &["RcppArmadillo"],
        suggests: true,
    },
    Case {
        label: "suggests-source",
        packages: &["purrr"],
        suggests: true,
    },
    case("foreach", &["foreach"]),
    case("purrr", &["purrr"]),
    case("stringr", &["stringr"]),
    case(
        "mix",
        &[
            "shiny",
            "lme4",
            "sf",
            "data.table (>= 1.14)",
            "foreach",
            "utils",
        ],
    ),
];

/// [`r_closure`] for every case in one container (each `docker run` costs about 2 s),
/// and the packages `installed.packages()` lists in the image. The R code is
/// `r_closure`'s, except that a requested name the image has installed (`utils`) is not
/// "missing from the repository": R's `install.packages("utils")` says it is a base
/// package and installs nothing, and `package_dependencies` gives it no dependencies.
fn r_closures(
    image: &str,
    repo: &Url,
    cases: &[Case],
) -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    const CODE: &str = r#"
        a <- commandArgs(TRUE)
        repo <- a[1]; sets <- a[-1]
        db <- available.packages(repos = repo)
        installed <- rownames(installed.packages())
        base <- rownames(installed.packages(priority = "base"))
        hard <- c("Depends", "Imports", "LinkingTo")
        writeLines(paste("installed:", paste(installed, collapse = " ")))
        for (set in sets) {
            f <- strsplit(set, "|", fixed = TRUE)[[1]]
            label <- f[1]; suggests <- f[2] == "TRUE"; pkgs <- strsplit(f[3], ",", fixed = TRUE)[[1]]
            missing <- setdiff(pkgs, c(rownames(db), installed))
            if (length(missing)) stop(label, ": not in the repository: ", paste(missing, collapse = ", "))
            roots <- pkgs
            if (suggests) {
                s <- unlist(tools::package_dependencies(pkgs, db = db, which = "Suggests"), use.names = FALSE)
                roots <- union(roots, intersect(s, rownames(db)))
            }
            deps <- unlist(tools::package_dependencies(roots, db = db, which = hard, recursive = TRUE),
                use.names = FALSE)
            all <- union(roots, deps)
            lost <- setdiff(all, c(rownames(db), installed, base))
            if (length(lost)) stop(label, ": dependencies not in the repository: ", paste(lost, collapse = ", "))
            writeLines(paste0(label, ":"), sep = "")
            writeLines(paste0(" ", sort(setdiff(all, c(installed, base)))), sep = "")
            writeLines("")
        }
    "#;
    let sets: Vec<String> = cases
        .iter()
        .map(|c| {
            let pkgs: Vec<&str> = c.packages.iter().map(|p| bare(p)).collect();
            format!(
                "{}|{}|{}",
                c.label,
                if c.suggests { "TRUE" } else { "FALSE" },
                pkgs.join(",")
            )
        })
        .collect();
    let mut args = vec![repo.as_str()];
    args.extend(sets.iter().map(String::as_str));
    let out = ok(
        &format!(
            "R's package_dependencies of {} request sets from {repo}",
            cases.len()
        ),
        rscript(image, true, CODE, &args),
    );
    let mut closures = BTreeMap::new();
    let mut installed = BTreeSet::new();
    for line in out.lines() {
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        let words: BTreeSet<String> = rest.split_whitespace().map(str::to_string).collect();
        if label == "installed" {
            installed = words;
        } else {
            closures.insert(label.to_string(), words);
        }
    }
    assert_eq!(
        closures.len(),
        cases.len(),
        "R answered for every case:\n{out}"
    );
    (closures, installed)
}

/// The served repository and what its files hold, read by the test itself.
struct Served<'r> {
    repo: &'r CranRepo,
    index: BTreeMap<String, Fields>,
    archived: BTreeMap<String, Vec<String>>,
    /// sha256, size and DESCRIPTION per served file, computed once.
    files: Mutex<HashMap<PathBuf, (String, u64, Fields)>>,
}

impl<'r> Served<'r> {
    fn new(repo: &'r CranRepo) -> Served<'r> {
        Served {
            repo,
            index: cran::packages(repo.root()),
            archived: cran::archived(repo.root()),
            files: Mutex::new(HashMap::new()),
        }
    }

    /// The file a lock URL names, relative to the repository root.
    fn relative<'u>(&self, url: &'u str) -> Option<&'u str> {
        url.strip_prefix(self.repo.url().as_str())
    }

    fn file(&self, relative: &str) -> (String, u64, Fields) {
        let path = self.repo.root().join(relative);
        if let Some(known) = self.files.lock().unwrap().get(&path) {
            return known.clone();
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let facts = (
            sha256_hex(&bytes),
            bytes.len() as u64,
            cran::description(&path),
        );
        self.files.lock().unwrap().insert(path, facts.clone());
        facts
    }

    /// What is wrong with `p`, an entry of a lock holding `locked`, checked against the
    /// served file: its version (PACKAGES, or Archive/), sha256 and size, kind (`Built:`
    /// in its DESCRIPTION), and `requires` (its DESCRIPTION's Depends, Imports and
    /// LinkingTo, and its Suggests when `suggested`, that the lock holds; every other
    /// hard dependency is in the base).
    fn problems(
        &self,
        p: &RPackage,
        locked: &BTreeSet<String>,
        base: &BTreeSet<String>,
        suggested: bool,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let version = p.version.as_str();
        let Some(relative) = self.relative(&p.url) else {
            return vec![format!(
                "{}: {} is not in the served repository",
                p.name, p.url
            )];
        };
        let current = format!("src/contrib/{}_{version}.tar.gz", p.name);
        let archive = format!("src/contrib/Archive/{}/{}_{version}.tar.gz", p.name, p.name);
        if relative == current {
            let listed = self.index.get(&p.name).map(|f| f["Version"].as_str());
            if listed != Some(version) {
                out.push(format!(
                    "{}: locked {version}, PACKAGES lists {listed:?}",
                    p.name
                ));
            }
        } else if relative == archive {
            if !self
                .archived
                .get(&p.name)
                .is_some_and(|v| v.iter().any(|v| v == version))
            {
                out.push(format!("{}: {version} is not in Archive/", p.name));
            }
        } else {
            out.push(format!(
                "{}: {relative} is neither {current} nor {archive}",
                p.name
            ));
            return out;
        }
        let (sha256, size, description) = self.file(relative);
        if p.sha256 != sha256 || p.size != size {
            out.push(format!(
                "{}: locked sha256 {} size {}, the served file has {sha256} size {size}",
                p.name, p.sha256, p.size
            ));
        }
        if description["Package"] != p.name || description["Version"] != version {
            out.push(format!("{}: the tarball holds {description:?}", p.name));
        }
        let kind = if description.contains_key("Built") {
            RKind::Binary
        } else {
            RKind::Source
        };
        if p.kind != kind {
            out.push(format!(
                "{}: locked {:?}, the tarball is {kind:?}",
                p.name, p.kind
            ));
        }
        let field = |f: &str| description.get(f).map_or(vec![], |v| dependency_names(v));
        let hard: BTreeSet<String> = ["Depends", "Imports", "LinkingTo"]
            .iter()
            .flat_map(|f| field(f))
            .collect();
        let mut wanted = hard.clone();
        if suggested {
            wanted.extend(field("Suggests"));
        }
        let expected: Vec<&String> = wanted.iter().filter(|d| locked.contains(*d)).collect();
        if p.requires.iter().collect::<Vec<_>>() != expected {
            out.push(format!(
                "{}: requires {:?}, the DESCRIPTION gives {expected:?}",
                p.name, p.requires
            ));
        }
        let elsewhere: Vec<&String> = hard
            .iter()
            .filter(|d| !locked.contains(*d) && !base.contains(*d))
            .collect();
        if !elsewhere.is_empty() {
            out.push(format!(
                "{}: needs {elsewhere:?}, neither in the lock nor in the base",
                p.name
            ));
        }
        out
    }
}

/// Every request set locks exactly what R itself would install, each pin checked
/// against the file the repository serves.
#[test]
fn locks_equal_what_r_resolves() {
    let repo = CranRepo::serve();
    let served = Served::new(&repo);
    let image = &testbed().image_r;
    let (oracle, installed) = r_closures(image, &repo.url(), CASES);
    // The batched oracle is the shared one: check it on one set.
    assert_eq!(
        r_closure(image, &repo.url(), &["ggplot2"], false),
        oracle["ggplot2"],
        "the batched R code agrees with common::cran::r_closure"
    );
    assert!(
        installed.contains("utils") && !installed.contains("Matrix"),
        "{installed:?}"
    );
    for case in CASES {
        let empty = oracle[case.label].is_empty();
        assert_eq!(
            empty,
            case.label == "base-only",
            "R's closure of {}",
            case.label
        );
    }

    // One cache for every lock, as one user's machine has; two locks at a time.
    let cache = TempDir::new().unwrap();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, TempDir, Output)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = CASES.get(i) else { break };
                    let dir = TempDir::new().unwrap();
                    let extra = if case.suggests {
                        "suggests = true\n"
                    } else {
                        ""
                    };
                    manifest(dir.path(), Some(&repo.url()), case.packages, extra);
                    let out = rtlock(dir.path(), cache.path())
                        .arg("lock")
                        .output()
                        .unwrap();
                    results.lock().unwrap().push((i, dir, out));
                }
            });
        }
    });

    let mut failures = Vec::new();
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _, _)| *i);
    let mut kinds = BTreeSet::new();
    for (i, dir, out) in &results {
        let case = &CASES[*i];
        if !out.status.success() {
            failures.push(format!("{}: lock failed:\n{}", case.label, stderr_of(out)));
            continue;
        }
        if case.label == "suggests" {
            // As install.packages says "not available" and goes on.
            for absent in ["reticulate", "slam"] {
                let said = format!("RcppArmadillo suggests {absent}, which no repository has");
                if !stderr_of(out).contains(&said) {
                    failures.push(format!("suggests: no warning {said:?}"));
                }
            }
        }
        let r = read_lock(dir.path()).r;
        let locked = names(&r);
        let want = &oracle[case.label];
        if &locked != want {
            failures.push(format!(
                "{}: rtlock locks {} packages, R installs {}\n  only rtlock: {:?}\n  only R: {:?}",
                case.label,
                locked.len(),
                want.len(),
                locked.difference(want).collect::<Vec<_>>(),
                want.difference(&locked).collect::<Vec<_>>()
            ));
        }
        let requested: BTreeSet<&str> = case.packages.iter().map(|p| bare(p)).collect();
        for p in &r {
            if p.requested != requested.contains(p.name.as_str()) {
                failures.push(format!(
                    "{}: {} requested = {}",
                    case.label, p.name, p.requested
                ));
            }
            let suggested = case.suggests && p.requested;
            for problem in served.problems(p, &locked, &installed, suggested) {
                failures.push(format!("{}: {problem}", case.label));
            }
            kinds.insert((p.kind == RKind::Binary, p.name.clone()));
        }
    }
    for (i, dir, _) in &results {
        if let Ok(lock) = Lockfile::read(&dir.path().join("runtime.lock")) {
            eprintln!(
                "{}: {} [[r]], {} [[apt]]",
                CASES[*i].label,
                lock.r.len(),
                lock.apt.len()
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The sets cover both kinds: binaries (from Debian's packages) and CRAN sources.
    for (binary, name) in [
        (false, "foreach"),
        (false, "purrr"),
        (true, "ggplot2"),
        (true, "sf"),
    ] {
        assert!(
            kinds.contains(&(binary, name.to_string())),
            "{name}: {kinds:?}"
        );
    }
}

/// `stringr (== 1.5.0)`, older than the 1.5.1 that PACKAGES lists, comes from the
/// repository's Archive/.
#[test]
fn an_archived_version_is_locked_from_the_archive() {
    let repo = CranRepo::serve();
    let served = Served::new(&repo);
    assert_eq!(served.index["stringr"]["Version"], "1.5.1");
    assert!(served.archived["stringr"].contains(&"1.5.0".to_string()));

    let dir = TempDir::new().unwrap();
    manifest(dir.path(), Some(&repo.url()), &["stringr (== 1.5.0)"], "");
    rtlock(dir.path(), &dir.path().join("cache"))
        .arg("lock")
        .assert()
        .success();
    let r = read_lock(dir.path()).r;
    let stringr = entry(&r, "stringr");
    assert_eq!(stringr.version.as_str(), "1.5.0");
    assert_eq!(
        stringr.url,
        repo.url()
            .join("src/contrib/Archive/stringr/stringr_1.5.0.tar.gz")
            .unwrap()
            .as_str()
    );
    assert_eq!(stringr.kind, RKind::Source, "a CRAN source tarball");
    assert!(stringr.requested);

    // Written out by hand from the DESCRIPTION in Archive/stringr/stringr_1.5.0.tar.gz:
    //   Depends: R (>= 3.3)
    //   Imports: cli, glue (>= 1.6.1), lifecycle (>= 1.0.3), magrittr,
    //            rlang (>= 1.0.0), stringi (>= 1.5.3), vctrs
    // and PACKAGES for those: cli 3.6.0 (utils), glue 1.6.2 (methods), lifecycle 1.0.3
    // (cli, glue, rlang), magrittr 2.0.3 (none), rlang 1.0.6 (utils), stringi 1.7.12
    // (tools, utils, stats), vctrs 0.5.2 (cli, glue, lifecycle, rlang); utils, methods,
    // tools and stats are base packages. (1.5.1 would also ask vctrs (>= 0.4.0), which
    // 0.5.2 satisfies: the closures are equal, the version is not.)
    let expected: BTreeSet<String> = [
        "cli",
        "glue",
        "lifecycle",
        "magrittr",
        "rlang",
        "stringi",
        "stringr",
        "vctrs",
    ]
    .map(String::from)
    .into();
    assert_eq!(names(&r), expected);
    assert_eq!(
        stringr.requires,
        [
            "cli",
            "glue",
            "lifecycle",
            "magrittr",
            "rlang",
            "stringi",
            "vctrs"
        ]
    );
    let locked = names(&r);
    let base: BTreeSet<String> = ["utils", "methods", "tools", "stats"]
        .map(String::from)
        .into();
    let problems: Vec<String> = r
        .iter()
        .flat_map(|p| served.problems(p, &locked, &base, false))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The shared libraries (DT_NEEDED) of every `.so` in `tarball`, and the names those
/// files provide (file names and SONAMEs), read with binutils' readelf.
fn elf_facts(tarball: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let tree = TempDir::new().unwrap();
    let file = std::fs::File::open(tarball).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(tree.path())
        .unwrap();
    let (mut needed, mut provided) = (BTreeSet::new(), BTreeSet::new());
    let mut stack = vec![tree.path().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(path);
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(".so") || name.contains(".so.")) {
                continue;
            }
            provided.insert(name);
            let out = std::process::Command::new("readelf")
                .arg("-dW")
                .arg(&path)
                .output()
                .unwrap();
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let value = line.split_once('[').and_then(|(_, v)| v.split_once(']'));
                if let Some((value, _)) = value {
                    if line.contains("(NEEDED)") {
                        needed.insert(value.to_string());
                    } else if line.contains("(SONAME)") {
                        provided.insert(value.to_string());
                    }
                }
            }
        }
    }
    (needed, provided)
}

/// The sonames the dynamic loader's cache of `image` knows (`ldconfig -p`).
fn loader_cache(image: &str) -> BTreeSet<String> {
    cran::pull(image);
    let out = ok(
        "ldconfig -p",
        docker(&["run", "--rm", image, "ldconfig", "-p"]),
    );
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// The files of the `.deb` an apt entry pins, downloaded from its URL and checked by
/// its sha256 (by file name).
fn deb_files(p: &AptPackage, into: &Path) -> BTreeSet<String> {
    let deb = into.join(&p.name);
    let fetched = std::process::Command::new("curl")
        .args(["-fsSL", "--max-time", "120", "-o"])
        .arg(&deb)
        .arg(&p.url)
        .status()
        .unwrap();
    assert!(fetched.success(), "curl {}", p.url);
    assert_eq!(
        sha256_hex(&std::fs::read(&deb).unwrap()),
        p.sha256,
        "{}",
        p.url
    );
    let list = std::process::Command::new("dpkg-deb")
        .arg("-c")
        .arg(&deb)
        .output()
        .unwrap();
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|path| path.rsplit('/').next())
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// igraph needs libxml2.so.2 and sf libgdal, libgeos and libproj, none of which the R
/// base has: the lock adds the Debian packages that ship them, each marked with the R
/// package that needs it. The sonames are found here by readelf over the served
/// tarballs, against the base's loader cache, and looked for in the locked .debs.
#[test]
fn shared_libraries_the_base_lacks_become_apt_packages_needed_by_r() {
    let repo = CranRepo::serve();
    let image = &testbed().image_r;
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    manifest(dir.path(), Some(&repo.url()), &["igraph", "sf"], "");
    rtlock(dir.path(), &cache).arg("lock").assert().success();
    let lock = read_lock(dir.path());

    // What the test finds missing: sonames the binaries need, the base lacks and no
    // locked package ships.
    let base = loader_cache(image);
    let mut shipped = BTreeSet::new();
    let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in lock.r.iter().filter(|p| p.kind == RKind::Binary) {
        let relative = p.url.strip_prefix(repo.url().as_str()).unwrap();
        let (needed, provided) = elf_facts(&repo.root().join(relative));
        shipped.extend(provided);
        for soname in needed {
            needs
                .entry(soname)
                .or_default()
                .insert(format!("r:{}", p.name));
        }
    }
    needs.retain(|soname, _| !base.contains(soname) && !shipped.contains(soname));
    for soname in [
        "libxml2.so.2",
        "libgdal.so.32",
        "libgeos_c.so.1",
        "libproj.so.25",
    ] {
        assert!(
            needs.contains_key(soname),
            "{soname} is missing from the base: {needs:?}"
        );
    }
    assert_eq!(
        needs["libxml2.so.2"],
        BTreeSet::from(["r:igraph".to_string()])
    );

    // Every missing soname is in a locked .deb whose needed-by names who needs it, and
    // each needed-by entry is earned by a soname it ships.
    let marked: Vec<&AptPackage> = lock
        .apt
        .iter()
        .filter(|a| !a.needed_by.is_empty())
        .collect();
    let debs = TempDir::new().unwrap();
    let files: BTreeMap<&str, BTreeSet<String>> = marked
        .iter()
        .map(|a| (a.name.as_str(), deb_files(a, debs.path())))
        .collect();
    for (soname, by) in &needs {
        let providers: Vec<&&AptPackage> = marked
            .iter()
            .filter(|a| files[a.name.as_str()].contains(soname))
            .collect();
        assert!(
            !providers.is_empty(),
            "no locked .deb ships {soname} (needed by {by:?})"
        );
        for a in providers {
            for r in by {
                assert!(
                    a.needed_by.contains(r),
                    "{}: needed-by {:?} lacks {r}",
                    a.name,
                    a.needed_by
                );
            }
        }
    }
    for a in &marked {
        let earned: BTreeSet<&String> = needs
            .iter()
            .filter(|(soname, _)| files[a.name.as_str()].contains(*soname))
            .flat_map(|(_, by)| by)
            .collect();
        let marks: BTreeSet<&String> = a.needed_by.iter().collect();
        assert_eq!(marks, earned, "{}: needed-by", a.name);
    }
    let needed_by = |name: &str| {
        lock.apt
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("{name} is not in [[apt]]"))
            .needed_by
            .clone()
    };
    assert_eq!(needed_by("libxml2"), ["r:igraph"]);
    assert_eq!(needed_by("libgdal32"), ["r:sf"]);

    let why = rtlock(dir.path(), &cache)
        .args(["why", "libgdal32"])
        .assert()
        .success();
    let why = String::from_utf8_lossy(&why.get_output().stdout).into_owned();
    assert!(why.contains("sf (r) → libgdal32"), "{why}");

    // `system-requirements = false`: nothing added, each missing soname said.
    let off = TempDir::new().unwrap();
    manifest(
        off.path(),
        Some(&repo.url()),
        &["igraph"],
        "system-requirements = false\n",
    );
    let out = rtlock(off.path(), &cache).arg("lock").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lock = read_lock(off.path());
    assert!(lock.apt.is_empty(), "{:#?}", lock.apt);
    assert!(!lock.r.is_empty());
    let warnings: String = stderr_of(&out)
        .lines()
        .skip_while(|l| !l.contains("WARN"))
        .take_while(|l| !l.starts_with("base "))
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    insta::assert_snapshot!("system_requirements_off_warns", warnings);
}

/// Locking again changes nothing; pins stay until `--update` names them.
#[test]
fn relocking_keeps_every_pin_until_update_names_it() {
    let repo = CranRepo::serve();
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    let lock_path = dir.path().join("runtime.lock");
    // R6 2.5.0 is in Archive/; PACKAGES lists 2.5.1. scales, which ggplot2 imports, needs R6.
    manifest(
        dir.path(),
        Some(&repo.url()),
        &["ggplot2", "R6 (== 2.5.0)"],
        "",
    );
    rtlock(dir.path(), &cache).arg("lock").assert().success();
    let first = std::fs::read(&lock_path).unwrap();
    assert_eq!(
        entry(&read_lock(dir.path()).r, "R6").version.as_str(),
        "2.5.0"
    );

    rtlock(dir.path(), &cache)
        .arg("lock")
        .assert()
        .success()
        .stderr(predicates::str::contains("is unchanged"));
    assert_eq!(std::fs::read(&lock_path).unwrap(), first, "the same bytes");
    rtlock(dir.path(), &cache)
        .args(["lock", "--check"])
        .assert()
        .success();

    // The manifest no longer asks for 2.5.0: the pin stays, as Cargo.lock's do.
    manifest(dir.path(), Some(&repo.url()), &["ggplot2"], "");
    rtlock(dir.path(), &cache)
        .args(["lock", "--check"])
        .assert()
        .code(1);
    rtlock(dir.path(), &cache).arg("lock").assert().success();
    let kept = read_lock(dir.path()).r;
    let r6 = entry(&kept, "R6");
    assert_eq!(r6.version.as_str(), "2.5.0");
    assert!(r6.url.contains("/Archive/R6/"), "{}", r6.url);
    assert!(!r6.requested);

    // `--update ggplot2` resolves ggplot2 again and keeps every other pin.
    rtlock(dir.path(), &cache)
        .args(["lock", "--update", "ggplot2"])
        .assert()
        .success();
    let updated = read_lock(dir.path()).r;
    assert_eq!(names(&updated), names(&kept));
    for p in &updated {
        let before = entry(&kept, &p.name);
        assert_eq!(
            (&p.version, &p.url, &p.sha256, &p.requires),
            (
                &before.version,
                &before.url,
                &before.sha256,
                &before.requires
            ),
            "{}",
            p.name
        );
    }
    rtlock(dir.path(), &cache)
        .args(["lock", "--check"])
        .assert()
        .success();

    // `--update R6` moves R6 to the version PACKAGES lists.
    rtlock(dir.path(), &cache)
        .args(["lock", "--update", "R6"])
        .assert()
        .success();
    let r = read_lock(dir.path()).r;
    let r6 = entry(&r, "R6");
    assert_eq!(r6.version.as_str(), "2.5.1");
    assert_eq!(
        r6.url,
        repo.url()
            .join("src/contrib/R6_2.5.1.tar.gz")
            .unwrap()
            .as_str()
    );
    rtlock(dir.path(), &cache)
        .args(["lock", "--check"])
        .assert()
        .success();
}

/// `lock` fetches the apt archives while R resolves, before it knows whether apt is
/// needed: archives out of reach cost a lock that needs no apt package nothing, and fail
/// one that does, naming the source.
#[test]
fn apt_archives_fetched_ahead_matter_only_when_r_needs_apt() {
    let repo = CranRepo::serve();
    // Port 9 (discard) on 127.0.0.1: nothing listens there.
    let unreachable = "[apt]\nsources = [\"deb http://127.0.0.1:9/debian bookworm main\"]\n";
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    // R6 is plain R code: no shared library to find.
    manifest(dir.path(), Some(&repo.url()), &["R6"], unreachable);
    let out = rtlock(dir.path(), &cache).arg("lock").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lock = read_lock(dir.path());
    assert!(lock.apt.is_empty(), "{:#?}", lock.apt);
    assert_eq!(names(&lock.r), BTreeSet::from(["R6".to_string()]));

    // igraph needs libglpk, which the base lacks: now apt is needed.
    manifest(dir.path(), Some(&repo.url()), &["igraph"], unreachable);
    let before = std::fs::read(dir.path().join("runtime.lock")).unwrap();
    let out = rtlock(dir.path(), &cache).arg("lock").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("http://127.0.0.1:9/debian"),
        "{}",
        stderr_of(&out)
    );
    let after = std::fs::read(dir.path().join("runtime.lock")).unwrap();
    assert_eq!(before, after, "a failed lock leaves the lock as it was");

    // An archive that accepts connections and never answers: a lock that needs no apt
    // package does not wait for it (a read times out after 60 s, then is retried), it
    // drops the fetch when R is done.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for connection in silent.incoming().flatten() {
            held.push(connection);
        }
    });
    let silent_source =
        format!("[apt]\nsources = [\"deb http://127.0.0.1:{port}/debian bookworm main\"]\n");
    manifest(dir.path(), Some(&repo.url()), &["R6"], &silent_source);
    let out = rtlock(dir.path(), &cache)
        .arg("lock")
        .timeout(std::time::Duration::from_secs(45))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        names(&read_lock(dir.path()).r),
        BTreeSet::from(["R6".to_string()])
    );
}

/// The text from the first `error:` line on, with `replace` applied.
fn error_text(out: &Output, replace: &[(&str, &str)]) -> String {
    let stderr = stderr_of(out);
    // Warnings (retries) come first, and may hold "error:" themselves.
    let at = stderr
        .lines()
        .position(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error in:\n{stderr}"));
    let mut text = stderr.lines().skip(at).collect::<Vec<_>>().join("\n");
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    text
}

fn md5_hex(path: &Path) -> String {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(&bytes))
}

fn gzip(path: &Path, into: &Path) {
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(into).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&std::fs::read(path).unwrap()).unwrap();
    gz.finish().unwrap();
}

/// The `repos` URLs `Rprofile.site` of `image` sets, as R itself reads them.
fn rprofile_repos(image: &str) -> Vec<String> {
    let out = ok(
        "getOption(\"repos\")",
        rscript(image, false, r#"writeLines(getOption("repos"))"#, &[]),
    );
    out.lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

/// Each bad input is a clear error (exit 1) and writes nothing: the lock in place
/// stays as it was, and where there was none, none appears.
#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    let repo = CranRepo::serve();
    let image = &testbed().image_r;
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    let lock_path = dir.path().join("runtime.lock");
    manifest(dir.path(), Some(&repo.url()), &["R6"], "");
    rtlock(dir.path(), &cache).arg("lock").assert().success();
    let good = std::fs::read(&lock_path).unwrap();

    // A copy with a package R 4.2 cannot install and a corrupted tarball.
    let broken = CranRepo::serve_copy();
    let contrib = broken.contrib();
    let packages = contrib.join("PACKAGES");
    // Hand-made for this error: no such package exists, only its index entry.
    let mut index = std::fs::OpenOptions::new()
        .append(true)
        .open(&packages)
        .unwrap();
    index
        .write_all(b"\nPackage: needsnewr\nVersion: 1.0\nDepends: R (>= 9.0)\n")
        .unwrap();
    drop(index);
    gzip(&packages, &contrib.join("PACKAGES.gz"));
    let r6 = contrib.join("R6_2.5.1.tar.gz");
    let listed_md5 = cran::packages(broken.root())["R6"]["MD5sum"].clone();
    let mut bytes = std::fs::read(&r6).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&r6, &bytes).unwrap();
    let served_md5 = md5_hex(&r6);
    assert_ne!(listed_md5, served_md5);

    // A copy without PACKAGES (PACKAGES.rds, which rtlock ignores, stays).
    let bare_repo = CranRepo::serve_copy();
    std::fs::remove_file(bare_repo.contrib().join("PACKAGES")).unwrap();
    std::fs::remove_file(bare_repo.contrib().join("PACKAGES.gz")).unwrap();

    // Debian's Rprofile.site names a public mirror, unreachable from the test bed.
    let rprofile = rprofile_repos(image);
    assert_eq!(rprofile.len(), 1, "{rprofile:?}");
    let rprofile = &rprofile[0];

    let cases: [(&str, Option<&Url>, &[&str]); 6] = [
        ("unknown_package", Some(&repo.url()), &["ggplto2"]),
        ("r_version_too_old", Some(&broken.url()), &["needsnewr"]),
        (
            "base_package_too_old",
            Some(&repo.url()),
            &["utils (>= 99.0)"],
        ),
        ("md5_mismatch", Some(&broken.url()), &["R6"]),
        ("no_packages_index", Some(&bare_repo.url()), &["R6"]),
        ("rprofile_repository_unreachable", None, &["R6"]),
    ];
    let (repo_url, broken_url, bare_url) = (
        repo.url().to_string(),
        broken.url().to_string(),
        bare_repo.url().to_string(),
    );
    let replace = [
        (repo_url.as_str(), "[REPO]/"),
        (broken_url.as_str(), "[BROKEN-REPO]/"),
        (bare_url.as_str(), "[REPO-WITHOUT-PACKAGES]/"),
        (rprofile.as_str(), "[RPROFILE-REPO]"),
        (listed_md5.as_str(), "[MD5-IN-PACKAGES]"),
        (served_md5.as_str(), "[MD5-OF-FILE]"),
        (image.as_str(), "[IMAGE]"),
    ];
    for (name, repos, packages) in cases {
        manifest(dir.path(), repos, packages, "");
        let out = rtlock(dir.path(), &cache).arg("lock").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {}", stderr_of(&out));
        assert_eq!(
            std::fs::read(&lock_path).unwrap(),
            good,
            "{name}: the lock is unchanged"
        );
        let mut text = error_text(&out, &replace);
        if name == "rprofile_repository_unreachable" {
            // Below the download error are the network's own words (DNS, a proxy…):
            // this machine's, not rtlock's. (The test bed has no route to the mirror
            // Debian's Rprofile.site names.)
            let lines: Vec<&str> = text.lines().collect();
            let end = lines
                .iter()
                .position(|l| l.contains("could not download"))
                .unwrap_or_else(|| panic!("no download error in:\n{text}"));
            text = lines[..=end].join("\n");
        }
        insta::assert_snapshot!(name, text);
    }

    // Where there was no lock, none appears.
    for (repos, packages) in [(&repo.url(), &["ggplto2"]), (&broken.url(), &["R6"])] {
        let fresh = TempDir::new().unwrap();
        manifest(fresh.path(), Some(repos), packages, "");
        rtlock(fresh.path(), &cache).arg("lock").assert().code(1);
        assert!(!fresh.path().join("runtime.lock").exists());
    }
}
