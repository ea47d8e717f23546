//! `rtlock lock` with `[pip] packages`: against a real local index (real wheels and their
//! core metadata, served on 127.0.0.1) and the test bed's python base image (Debian's
//! python3 + python3-pip, whose setuptools, wheel and pip are the base's distributions).

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

use common::pip_index::{PipIndex, exact};
use common::testbed::testbed;
use rtlock::lockfile::{Lockfile, PipPackage};

/// requests 2.32.3 and what it needs, two versions of idna, setuptools newer than the base's.
fn index() -> PipIndex {
    PipIndex::start(&[
        exact("requests", &["2.32.3"]),
        exact("certifi", &["2024.8.30"]),
        exact("charset-normalizer", &["3.3.2"]),
        exact("idna", &["3.6", "3.7"]),
        exact("urllib3", &["2.2.3"]),
        exact("setuptools", &["70.0.0"]),
    ])
}

fn rtlock(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rtlock").unwrap();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .arg("--cache-dir")
        .arg(dir.join("cache"));
    cmd
}

fn manifest(dir: &Path, image: &str, index: &PipIndex, packages: &[&str], extra: &str) {
    let packages: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "[base]\nimage = \"{image}\"\n[pip]\npackages = [{}]\nindex-url = \"{}\"\n{extra}",
            packages.join(", "),
            index.url()
        ),
    )
    .unwrap();
}

fn locked(dir: &Path) -> Vec<PipPackage> {
    Lockfile::read(&dir.join("runtime.lock")).unwrap().pip
}

fn version_of<'a>(pip: &'a [PipPackage], name: &str) -> &'a str {
    pip.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the lock: {pip:#?}"))
        .version
        .as_str()
}

#[test]
fn the_closure_is_pinned_by_sha256_and_explained() {
    let index = index();
    let dir = TempDir::new().unwrap();
    manifest(
        dir.path(),
        &testbed().image_python,
        &index,
        &["requests"],
        "",
    );
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "pip 5 packages (1 requested, 4 pulled in)",
        ));

    let pip = locked(dir.path());
    let names: Vec<&str> = pip.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "certifi",
            "charset-normalizer",
            "idna",
            "requests",
            "urllib3"
        ]
    );
    assert_eq!(version_of(&pip, "idna"), "3.7", "the newest version wins");
    for p in &pip {
        let served = index
            .files(&p.name)
            .into_iter()
            .find(|f| f.filename == p.file)
            .unwrap_or_else(|| panic!("{} is not a file the index serves", p.file));
        assert_eq!(p.sha256, served.sha256, "{}", p.name);
        assert_eq!(p.size, served.size, "{}", p.name);
        assert!(p.url.starts_with(index.base_url().as_str()), "{}", p.url);
        assert!(p.url.ends_with(&p.file), "{}", p.url);
        assert_eq!(p.requested, p.name == "requests", "{}", p.name);
    }
    let requests = pip.iter().find(|p| p.name == "requests").unwrap();
    assert_eq!(
        requests.requires,
        ["certifi", "charset-normalizer", "idna", "urllib3"]
    );

    rtlock(dir.path())
        .args(["why", "urllib3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("requests"));

    // Locking again changes nothing; `lock --check` agrees; so does a warm offline re-resolution.
    let before = std::fs::read(dir.path().join("runtime.lock")).unwrap();
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .success()
        .stderr(predicate::str::contains("is unchanged"));
    rtlock(dir.path())
        .args(["lock", "--check"])
        .assert()
        .success();
    // Offline, the base stays pinned by the lock and every pip answer comes from the cache.
    rtlock(dir.path())
        .args(["--offline", "lock", "--update", "idna"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(dir.path().join("runtime.lock")).unwrap(),
        before
    );
}

#[test]
fn a_pep_503_index_without_sizes_or_metadata_files_gives_the_same_lock() {
    let json = index();
    let html = index();
    html.set_html_only(true);
    html.set_no_metadata(true);
    let (a, b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    manifest(a.path(), &testbed().image_python, &json, &["requests"], "");
    manifest(b.path(), &testbed().image_python, &html, &["requests"], "");
    rtlock(a.path()).arg("lock").assert().success();
    rtlock(b.path()).arg("lock").assert().success();
    let strip = |pip: Vec<PipPackage>| {
        pip.into_iter()
            .map(|p| (p.name, p.version, p.file, p.sha256, p.size, p.requires))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(locked(a.path())), strip(locked(b.path())));
}

#[test]
fn an_index_that_fails_then_recovers_is_retried() {
    let index = index();
    index.fail_first(2);
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &testbed().image_python, &index, &["idna"], "");
    rtlock(dir.path()).arg("lock").assert().success();
    assert_eq!(version_of(&locked(dir.path()), "idna"), "3.7");
}

#[test]
fn pins_are_kept_until_update_names_them() {
    let old = PipIndex::start(&[exact("idna", &["3.6"])]);
    let new = PipIndex::start(&[exact("idna", &["3.6", "3.7"])]);
    let dir = TempDir::new().unwrap();
    let image = &testbed().image_python;
    manifest(dir.path(), image, &old, &["idna"], "");
    rtlock(dir.path()).arg("lock").assert().success();
    assert_eq!(version_of(&locked(dir.path()), "idna"), "3.6");

    // The index moved on: the pin stays, as Cargo.lock's do.
    manifest(dir.path(), image, &new, &["idna"], "");
    rtlock(dir.path()).arg("lock").assert().success();
    assert_eq!(version_of(&locked(dir.path()), "idna"), "3.6");

    rtlock(dir.path())
        .args(["lock", "--update", "IDNA"])
        .assert()
        .success();
    assert_eq!(version_of(&locked(dir.path()), "idna"), "3.7");

    rtlock(dir.path())
        .args(["lock", "--update", "numpy"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`numpy` is not in"));
}

#[test]
fn base_distributions_are_held_unless_allow_upgrade_names_them() {
    let index = index();
    let dir = TempDir::new().unwrap();
    let image = &testbed().image_python;
    manifest(dir.path(), image, &index, &["setuptools>=70"], "");
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("setuptools"))
        .stderr(predicate::str::contains("allow-upgrade"));
    assert!(!dir.path().join("runtime.lock").exists(), "nothing written");

    // A request the base already satisfies locks nothing: the base digest pins it.
    manifest(dir.path(), image, &index, &["setuptools"], "");
    rtlock(dir.path()).arg("lock").assert().success();
    assert!(locked(dir.path()).is_empty(), "{:#?}", locked(dir.path()));

    manifest(
        dir.path(),
        image,
        &index,
        &["setuptools>=70"],
        "allow-upgrade = [\"setuptools\"]\n",
    );
    rtlock(dir.path()).arg("lock").assert().success();
    assert_eq!(version_of(&locked(dir.path()), "setuptools"), "70.0.0");
}

#[test]
fn bad_requests_are_clear_errors_and_write_nothing() {
    let index = index();
    let image = &testbed().image_python;
    let cases: [(&[&str], &[&str]); 3] = [
        (&["no-such-package-rtlock"], &["no-such-package-rtlock"]),
        (&["idna>=99"], &["idna"]),
        (&["requests", "idna<3"], &["idna"]),
    ];
    for (packages, needles) in cases {
        let dir = TempDir::new().unwrap();
        manifest(dir.path(), image, &index, packages, "");
        let mut assert = rtlock(dir.path()).arg("lock").assert().code(1);
        assert = assert.stderr(predicate::str::contains("cannot resolve [pip] packages"));
        for needle in needles {
            assert = assert.stderr(predicate::str::contains(*needle));
        }
        assert!(
            !dir.path().join("runtime.lock").exists(),
            "{packages:?}: nothing written"
        );
    }
}

#[test]
fn a_base_without_python_is_refused() {
    let index = index();
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &testbed().image_minimal, &index, &["idna"], "");
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no python3"));
    assert!(!dir.path().join("runtime.lock").exists());
}
