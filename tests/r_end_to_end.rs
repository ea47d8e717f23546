//! The whole R path as a user takes it: `rtlock lock` of `[r] packages` on the test bed's
//! R base (r-base-core only: no recommended packages, and none of the shared libraries
//! igraph links against beyond what R itself needs), `rtlock build` into the Docker
//! Engine, then R itself in the built image: `library()` of every requested package and
//! `installed.packages()` showing the locked versions. Two builds from two caches give
//! one digest, and `build --check` agrees.
//!
//! sf (GDAL, GEOS, PROJ: about a hundred apt packages) joins in the full run
//! (`scripts/test --full`, which sets `RTLOCK_TEST_FULL=1`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::cli::{last_line, rtlock, stderr};
use common::cran::CranRepo;
use common::testbed::{docker, ok, registry_digest, testbed};
use rtlock::lockfile::Lockfile;

fn full_run() -> bool {
    std::env::var("RTLOCK_TEST_FULL").is_ok_and(|v| v == "1")
}

fn lock(dir: &Path, cache: &Path, packages: &[&str], repo: &CranRepo) -> Lockfile {
    lock_with(dir, cache, packages, repo, "")
}

/// [`lock`], with `extra` lines in the manifest's `[r]` table.
fn lock_with(
    dir: &Path,
    cache: &Path,
    packages: &[&str],
    repo: &CranRepo,
    extra: &str,
) -> Lockfile {
    let bed = testbed();
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}@{}\"\n\n[r]\npackages = {packages:?}\nrepos = [\"{}\"]\n{extra}",
            bed.image_r,
            registry_digest(&bed.image_r),
            repo.url()
        ),
    )
    .unwrap();
    let manifest = dir.join("runtime.toml");
    let lock_path = dir.join("runtime.lock");
    let out = rtlock(
        cache,
        &[
            "lock",
            "-m",
            manifest.to_str().unwrap(),
            "-o",
            lock_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "rtlock lock: {}", stderr(&out));
    Lockfile::read(&lock_path).unwrap()
}

fn build(cache: &Path, lock: &Path, destination: &str) -> String {
    let out = rtlock(
        cache,
        &["build", "-l", lock.to_str().unwrap(), "-o", destination],
    );
    assert!(out.status.success(), "rtlock build: {}", stderr(&out));
    last_line(&out)
}

#[test]
fn locked_r_packages_load_in_the_built_image_with_their_system_libraries() {
    let repo = CranRepo::serve();
    let dir = tempfile::tempdir().unwrap();
    let mut packages = vec!["igraph", "data.table", "ggplot2"];
    if full_run() {
        packages.push("sf");
    }
    let cache = dir.path().join("cache");
    let locked = lock(dir.path(), &cache, &packages, &repo);
    let lock_path = dir.path().join("runtime.lock");

    // igraph links against libxml2, which the base lacks: the lock brings it for igraph.
    let libxml2 = locked
        .apt
        .iter()
        .find(|p| p.name == "libxml2")
        .unwrap_or_else(|| panic!("libxml2 is not in the lock: {:#?}", locked.apt));
    assert!(libxml2.needed_by.iter().any(|n| n == "r:igraph"));
    if full_run() {
        assert!(
            locked
                .apt
                .iter()
                .any(|p| p.name.starts_with("libgdal") && p.needed_by.iter().any(|n| n == "r:sf")),
            "no libgdal needed by sf: {:#?}",
            locked.apt
        );
    }

    let tag = format!("rtlock-test/r-e2e:{}", std::process::id());
    let digest = build(&cache, &lock_path, &format!("docker-daemon:{tag}"));
    let script = format!(
        "for (p in c({})) suppressPackageStartupMessages(library(p, character.only = TRUE)); \
         ip <- installed.packages(); cat(paste(ip[, 'Package'], ip[, 'Version']), sep = '\\n')",
        packages
            .iter()
            .map(|p| format!("'{p}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = ok(
        &format!("library() of {packages:?} in the built image"),
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &tag,
            "Rscript",
            "-e",
            &script,
        ]),
    );
    let _ = docker(&["rmi", &tag]);
    let installed: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    for p in &locked.r {
        assert_eq!(
            installed.get(p.name.as_str()).copied(),
            Some(p.version.as_str()),
            "{} as installed.packages() shows it",
            p.name
        );
    }

    // The same lock from another cache: the same image ID; and build --check agrees.
    let other = dir.path().join("other-cache");
    let again = build(
        &other,
        &lock_path,
        &format!("oci:{}", dir.path().join("oci").display()),
    );
    let first = build(
        &cache,
        &lock_path,
        &format!("oci:{}", dir.path().join("oci2").display()),
    );
    assert_eq!(again, first, "two caches, one manifest digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    let check = rtlock(
        &cache,
        &["build", "--check", "-l", lock_path.to_str().unwrap()],
    );
    assert!(check.status.success(), "build --check: {}", stderr(&check));
}

/// With `[r] system-requirements = false` the lock only warns that igraph's libraries
/// are missing; the build then refuses the image the dynamic loader would fail in,
/// naming the object, each soname and the Debian package that ships it.
#[test]
fn a_build_whose_r_package_lacks_its_libraries_fails_and_names_them() {
    let repo = CranRepo::serve();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let locked = lock_with(
        dir.path(),
        &cache,
        &["igraph"],
        &repo,
        "system-requirements = false\n",
    );
    assert!(
        locked.apt.iter().all(|p| p.name != "libxml2"),
        "the lock was told not to add system libraries: {:#?}",
        locked.apt
    );
    let lock_path = dir.path().join("runtime.lock");
    let out_dir = dir.path().join("oci");
    let out = rtlock(
        &cache,
        &[
            "build",
            "-l",
            lock_path.to_str().unwrap(),
            "-o",
            &format!("oci:{}", out_dir.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!out_dir.exists(), "nothing written");
    insta::assert_snapshot!(stderr(&out));
}
