//! The R part of the test bed is what tests/common/testbed.rs says it is: R images (one
//! without the recommended packages, one that compiles), and a CRAN-like repository of
//! real packages that R itself reads and installs from. Checked with peers (docker, R,
//! curl) and by reading the repository's own files, never with rtlock's code.

mod common;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use common::cran::{
    CranRepo, archived, cran_dir, dependency_names, description, installed_in, packages, r_closure,
    r_version_cmp, rscript,
};
use common::testbed::{curl, docker, ok, testbed};
use md5::{Digest, Md5};

const RECOMMENDED: [&str; 5] = ["Matrix", "lattice", "MASS", "nlme", "survival"];

fn r_version(image: &str) -> String {
    ok(
        &format!("R's version in {image}"),
        rscript(image, false, "cat(as.character(getRversion()))", &[]),
    )
}

#[test]
fn r_images_run_r() {
    let bed = testbed();
    for image in [&bed.image_r, &bed.image_r_dev] {
        let version = ok(
            &format!("Rscript in {image}"),
            rscript(image, false, "cat(R.version.string)", &[]),
        );
        assert!(version.starts_with("R version 4."), "{image}: {version}");
    }
    assert_eq!(r_version(&bed.image_r), r_version(&bed.image_r_dev));
}

#[test]
fn only_the_dev_image_has_a_compiler() {
    let bed = testbed();
    let cc = ok(
        "R CMD config CC in the dev image",
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &bed.image_r_dev,
            "sh",
            "-c",
            "$(R CMD config CC) --version && test -f /usr/share/R/include/R.h",
        ]),
    );
    assert!(cc.contains("gcc"), "{cc}");
    common::cran::pull(&bed.image_r);
    let plain = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &bed.image_r,
        "sh",
        "-c",
        "command -v gcc",
    ]);
    assert!(
        !plain.status.success(),
        "debian-r must not have gcc: {}",
        String::from_utf8_lossy(&plain.stdout)
    );
}

#[test]
fn debian_r_holds_the_base_packages_only() {
    let installed = installed_in(&testbed().image_r);
    for base in ["base", "stats", "utils", "methods", "grid", "tools"] {
        assert_eq!(
            installed.get(base).map(String::as_str),
            Some("base"),
            "{base} in {installed:?}"
        );
    }
    for p in RECOMMENDED {
        assert!(
            !installed.contains_key(p),
            "debian-r has {p}: {installed:?}"
        );
    }
    let not_base: Vec<_> = installed.iter().filter(|(_, p)| *p != "base").collect();
    assert!(not_base.is_empty(), "not of priority base: {not_base:?}");
}

#[test]
fn packages_lists_every_tarball_with_its_md5_and_dependencies() {
    let dir = cran_dir();
    let db = packages(dir);
    assert!(db.len() >= 100, "{} packages in PACKAGES", db.len());
    let contrib = dir.join("src/contrib");
    let tarballs = std::fs::read_dir(&contrib)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tar.gz")
        })
        .count();
    assert_eq!(tarballs, db.len(), "one PACKAGES entry per tarball");
    for (name, fields) in &db {
        let tarball = contrib.join(format!("{name}_{}.tar.gz", fields["Version"]));
        let bytes = std::fs::read(&tarball)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", tarball.display()));
        let md5 = format!("{:x}", Md5::digest(&bytes));
        assert_eq!(
            fields.get("MD5sum"),
            Some(&md5),
            "{name}: MD5sum of {}",
            tarball.display()
        );
        assert_eq!(&description(&tarball)["Package"], name);
    }
    // The dependency fields as R writes them, version constraints included.
    assert!(
        db["ggplot2"]["Imports"].contains("rlang (>= "),
        "{:?}",
        db["ggplot2"]
    );
    assert!(db["sf"]["LinkingTo"].contains("Rcpp"), "{:?}", db["sf"]);
    assert!(db["lme4"]["Depends"].contains("Matrix"), "{:?}", db["lme4"]);
    // The recommended packages the base lacks are in the repository.
    for p in RECOMMENDED {
        assert!(db.contains_key(p), "{p} is not in the repository");
    }
    // Closed: every hard dependency is in the repository or in base R.
    let base = installed_in(&testbed().image_r);
    for (name, fields) in &db {
        for field in ["Depends", "Imports", "LinkingTo"] {
            for dep in dependency_names(fields.get(field).map_or("", String::as_str)) {
                assert!(
                    db.contains_key(&dep) || base.contains_key(&dep),
                    "{name} {field}: {dep} is neither in the repository nor in base R"
                );
            }
        }
    }
}

/// Debian builds an arch:all r-cran package once and keeps it while R's ABI (`r-api-4.0`)
/// holds, so some binaries were built by an older R 4.x than the image's; R loads them (it
/// asks for a reinstall only across major versions, and warns for a newer R).
#[test]
fn binaries_are_built_for_the_images_r_and_sources_are_not() {
    let dir = cran_dir();
    let image = &testbed().image_r;
    let platform = ok(
        "R's platform",
        rscript(image, false, "cat(R.version$platform)", &[]),
    );
    let r = r_version(image);
    let major = r.split('.').next().unwrap();
    let (mut binaries, mut older_minor, mut sources, mut compiled_sources) =
        (0, 0, Vec::new(), Vec::new());
    for (name, fields) in packages(dir) {
        let tarball = dir.join(format!("src/contrib/{name}_{}.tar.gz", fields["Version"]));
        let desc = description(&tarball);
        match desc.get("Built") {
            Some(built) => {
                // "R 4.2.2; x86_64-pc-linux-gnu; <date>; unix", the platform empty when
                // there is no compiled code.
                let parts: Vec<&str> = built.split(';').map(str::trim).collect();
                let version = parts[0].strip_prefix("R ").expect("Built: R x.y.z");
                assert!(
                    version.starts_with(&format!("{major}."))
                        && r_version_cmp(version, &r) != Ordering::Greater,
                    "{name}: Built: {built} (the image has R {r})"
                );
                assert!(
                    parts[1].is_empty() || parts[1] == platform,
                    "{name}: Built: {built} (the image is {platform})"
                );
                if !r.starts_with(&format!("{}.", version.rsplit_once('.').unwrap().0)) {
                    older_minor += 1;
                }
                binaries += 1;
            }
            None => {
                if desc.get("NeedsCompilation").map(String::as_str) == Some("yes") {
                    compiled_sources.push(name.clone());
                }
                sources.push(name);
            }
        }
    }
    assert!(binaries >= 100, "{binaries} binary packages");
    assert!(
        older_minor > 0,
        "no binary built by an older R {major}.x than {r}"
    );
    assert!(sources.len() >= 3, "source packages: {sources:?}");
    assert!(
        !compiled_sources.is_empty(),
        "no source package with NeedsCompilation: yes among {sources:?}"
    );
}

#[test]
fn archive_holds_older_versions_listed_by_the_served_index() {
    let dir = cran_dir();
    let db = packages(dir);
    let archive = archived(dir);
    assert!(!archive.is_empty(), "src/contrib/Archive is empty");
    let repo = CranRepo::serve();
    let mut archived_sources = 0;
    for (pkg, versions) in &archive {
        let current = &db
            .get(pkg)
            .unwrap_or_else(|| panic!("{pkg} is archived but not current"))["Version"];
        assert!(!versions.is_empty(), "Archive/{pkg}/ holds no tarball");
        let page = ok(
            &format!("GET Archive/{pkg}/"),
            curl(&[repo
                .url()
                .join(&format!("src/contrib/Archive/{pkg}/"))
                .unwrap()
                .as_str()]),
        );
        for v in versions {
            assert_eq!(
                r_version_cmp(v, current),
                Ordering::Less,
                "{pkg} {v} archived, {current} current"
            );
            assert!(
                page.contains(&format!("href=\"{pkg}_{v}.tar.gz\"")),
                "Archive/{pkg}/ lists no {pkg}_{v}.tar.gz:\n{page}"
            );
            let tarball = dir.join(format!("src/contrib/Archive/{pkg}/{pkg}_{v}.tar.gz"));
            let desc = description(&tarball);
            assert_eq!(desc["Version"], *v);
            if !desc.contains_key("Built") {
                archived_sources += 1;
            }
        }
    }
    assert!(
        archived_sources > 0,
        "no archived source package: {archive:?}"
    );
    // Without the trailing slash the server redirects to the listing, as Apache does.
    let (pkg, versions) = archive.iter().next().unwrap();
    let bare = repo
        .url()
        .join(&format!("src/contrib/Archive/{pkg}"))
        .unwrap();
    let page = ok("GET Archive/<pkg> -L", curl(&["-fL", bare.as_str()]));
    assert!(
        page.contains(&format!("href=\"{pkg}_{}.tar.gz\"", versions[0])),
        "{page}"
    );
    // A listed file downloads byte for byte.
    let path = format!("src/contrib/Archive/{pkg}/{pkg}_{}.tar.gz", versions[0]);
    let tmp = tempfile::TempDir::new().unwrap();
    let got = tmp.path().join("got.tar.gz");
    ok(
        "download an archived tarball",
        curl(&[
            "-f",
            "-o",
            got.to_str().unwrap(),
            repo.url().join(&path).unwrap().as_str(),
        ]),
    );
    assert_eq!(
        std::fs::read(&got).unwrap(),
        std::fs::read(dir.join(&path)).unwrap()
    );
}

#[test]
fn r_installs_binaries_from_the_served_repository() {
    let repo = CranRepo::serve();
    let image = &testbed().image_r;
    // cli is compiled by the image's R; KernSmooth (compiled) and R6 (pure R) by an older
    // R 4.x (see binaries_are_built_for_the_images_r_and_sources_are_not).
    let out = rscript(
        image,
        true,
        r#"repo <- commandArgs(TRUE)[1]
           install.packages(c("cli", "KernSmooth", "R6"), repos = repo)
           library(cli); library(KernSmooth); library(R6)
           cat("loaded", as.character(packageVersion("cli")), "\n")"#,
        &[repo.url().as_str()],
    );
    let stdout = ok(
        "install.packages(c(\"cli\", \"KernSmooth\", \"R6\"))",
        out.clone(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let db = packages(cran_dir());
    assert!(
        stdout.contains(&format!("loaded {}", db["cli"]["Version"])),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("installing *binary* package"),
        "R did not see binary packages:\n{stderr}"
    );
}

/// Depends/Imports/LinkingTo closure computed here from PACKAGES, less `installed`.
fn closure_from_packages(
    db: &BTreeMap<String, BTreeMap<String, String>>,
    roots: &[&str],
    installed: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = roots.iter().map(|r| r.to_string()).collect();
    while let Some(p) = queue.pop_front() {
        if !seen.insert(p.clone()) {
            continue;
        }
        let Some(fields) = db.get(&p) else { continue };
        for field in ["Depends", "Imports", "LinkingTo"] {
            queue.extend(dependency_names(
                fields.get(field).map_or("", String::as_str),
            ));
        }
    }
    seen.retain(|p| !installed.contains_key(p));
    seen
}

#[test]
fn r_oracle_gives_the_closure_of_ggplot2() {
    let bed = testbed();
    let repo = CranRepo::serve();
    let closure = r_closure(&bed.image_r, &repo.url(), &["ggplot2"], false);
    for p in [
        "ggplot2", "rlang", "scales", "MASS", "mgcv", "Matrix", "lattice", "nlme",
    ] {
        assert!(closure.contains(p), "{p} not in {closure:?}");
    }
    for base in ["base", "grid", "stats", "utils", "methods", "grDevices"] {
        assert!(
            !closure.contains(base),
            "base package {base} in {closure:?}"
        );
    }
    let db = packages(cran_dir());
    let installed = installed_in(&bed.image_r);
    assert_eq!(
        closure,
        closure_from_packages(&db, &["ggplot2"], &installed),
        "R's closure vs the one read from PACKAGES here"
    );

    // Suggests on: the requested package's Suggests that the repository has, and their
    // hard dependencies; not the Suggests of those.
    let with = r_closure(&bed.image_r, &repo.url(), &["ggplot2"], true);
    let suggested: Vec<String> = dependency_names(&db["ggplot2"]["Suggests"])
        .into_iter()
        .filter(|s| db.contains_key(s))
        .collect();
    assert!(
        !suggested.is_empty(),
        "ggplot2 suggests nothing the repo has"
    );
    let mut roots: Vec<&str> = vec!["ggplot2"];
    roots.extend(suggested.iter().map(String::as_str));
    assert_eq!(with, closure_from_packages(&db, &roots, &installed));
    assert!(with.is_superset(&closure) && with.len() > closure.len());
}

#[test]
fn dev_image_builds_compiled_sources_that_debian_r_cannot() {
    let bed = testbed();
    let repo = CranRepo::serve();
    // bitops is C without dependencies; xml2 needs libxml2's headers, which r-base-dev
    // does not bring: the source build that fails, saying so.
    let code = r#"repo <- commandArgs(TRUE)[1]
        install.packages(c("bitops", "xml2"), repos = repo)
        cat("bitops", requireNamespace("bitops", quietly = TRUE),
            "xml2", requireNamespace("xml2", quietly = TRUE), "\n")"#;
    let out = rscript(&bed.image_r_dev, true, code, &[repo.url().as_str()]);
    let stdout = ok("install.packages in the dev image", out.clone());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("bitops TRUE xml2 FALSE"),
        "{stdout}\n{stderr}"
    );
    assert!(stderr.contains("libxml-2.0"), "{stderr}");
    let out = rscript(&bed.image_r, true, code, &[repo.url().as_str()]);
    let stdout = ok("install.packages in debian-r", out.clone());
    assert!(
        stdout.contains("bitops FALSE"),
        "debian-r compiled bitops without a compiler: {stdout}"
    );
}
