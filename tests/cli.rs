//! The command line as users meet it: help, exit codes, `lock --check`, and commands
//! that have not landed yet saying so instead of pretending.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use rtlock::lockfile::{BaseLock, ImageLock, Lockfile};
use rtlock::manifest::Manifest;

fn rtlock() -> Command {
    let mut cmd = Command::cargo_bin("rtlock").unwrap();
    cmd.env("NO_COLOR", "1").env_remove("RTLOCK_CACHE_DIR");
    cmd
}

const MANIFEST: &str = r#"
[base]
image = "registry.example.com/ml/runtime:1"

[apt]
packages = ["graphviz"]
"#;

/// A lock whose manifest hash matches `manifest`.
fn lock_for(manifest: &Path) -> Lockfile {
    let m = Manifest::load(manifest).unwrap();
    Lockfile {
        version: 1,
        manifest: m.normalized_hash(),
        source_date_epoch: 1_793_491_200,
        as_of: None,
        base: BaseLock {
            reference: m.base.image.clone(),
            digest: format!("sha256:{}", "a".repeat(64)).parse().unwrap(),
            manifest: format!("sha256:{}", "b".repeat(64)).parse().unwrap(),
            platform: m.base.platform.clone(),
        },
        image: ImageLock::default(),
        apt: vec![],
        pip: vec![],
        r: vec![],
    }
}

#[test]
fn help_lists_every_command() {
    let out = rtlock().arg("--help").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for command in [
        "lock", "build", "diff", "why", "audit", "inspect", "fetch", "export",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(command)),
            "`{command}` missing from --help:\n{text}"
        );
    }
}

#[test]
fn long_help_teaches_with_examples() {
    for command in [
        "lock", "build", "diff", "why", "audit", "inspect", "fetch", "export",
    ] {
        rtlock()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Examples:"));
    }
}

#[test]
fn usage_errors_exit_2() {
    rtlock().arg("frobnicate").assert().code(2);
    rtlock().args(["diff", "only-one"]).assert().code(2);
    rtlock()
        .args(["lock", "--check", "--update", "x"])
        .assert()
        .code(2);
}

#[test]
fn commands_that_read_a_lock_say_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 2] = [&["audit", "oci:img"], &["export", "dockerfile"]];
    for args in cases {
        rtlock()
            .current_dir(dir.path())
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "runtime.lock does not exist\nhelp: run `rtlock lock` to create it",
            ));
    }
    // Nothing was written by any of them.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn lock_check_fails_when_the_lock_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runtime.toml"), MANIFEST).unwrap();
    rtlock()
        .current_dir(dir.path())
        .args(["lock", "--check"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("runtime.lock does not exist"));
    assert!(
        !dir.path().join("runtime.lock").exists(),
        "--check writes nothing"
    );
}

#[test]
fn lock_check_passes_when_only_formatting_changed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("runtime.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    lock_for(&manifest)
        .write(&dir.path().join("runtime.lock"))
        .unwrap();
    let before = std::fs::read(dir.path().join("runtime.lock")).unwrap();

    let reformatted = "# team runtime\n[apt]\npackages = [ 'graphviz' ]   # dot\n\n[base]\nimage='registry.example.com/ml/runtime:1'\n";
    std::fs::write(&manifest, reformatted).unwrap();
    rtlock()
        .current_dir(dir.path())
        .args(["lock", "--check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("up to date"));
    assert_eq!(
        std::fs::read(dir.path().join("runtime.lock")).unwrap(),
        before
    );
}

#[test]
fn lock_check_fails_when_the_manifest_changed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("team.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let lock_path = dir.path().join("team.lock");
    lock_for(&manifest).write(&lock_path).unwrap();
    std::fs::write(
        &manifest,
        MANIFEST.replace("graphviz", "graphviz\", \"libpq5"),
    )
    .unwrap();
    rtlock()
        .args(["lock", "--check", "-m"])
        .arg(&manifest)
        .arg("-o")
        .arg(&lock_path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is out of date"))
        .stderr(predicate::str::contains("run `rtlock lock`"));
}

#[test]
fn a_bad_manifest_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runtime.toml"),
        "[base]\nimage = \"registry.example.com/ml/runtime:1\"\n\n[apt]\npakages = [\"curl\"]\n",
    )
    .unwrap();
    rtlock()
        .current_dir(dir.path())
        .args(["lock", "--check"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unknown key `pakages` in [apt]"))
        .stderr(predicate::str::contains("runtime.toml:5:1"))
        .stderr(predicate::str::contains("did you mean `packages`?"));
}

#[test]
fn a_lock_from_a_newer_rtlock_asks_for_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("runtime.toml");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let text = lock_for(&manifest)
        .to_toml()
        .replace("version = 1", "version = 2");
    std::fs::write(dir.path().join("runtime.lock"), text).unwrap();
    rtlock()
        .current_dir(dir.path())
        .args(["lock", "--check"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("format version 2"))
        .stderr(predicate::str::contains("upgrade rtlock"));
}

#[test]
fn a_lock_that_fails_writes_nothing() {
    // The base cannot be reached (nothing listens on port 1): refused before any lock
    // is written, and the message says which image and why.
    let dir = tempfile::tempdir().unwrap();
    let manifest = MANIFEST.replace("registry.example.com", "127.0.0.1:1");
    assert_ne!(manifest, MANIFEST, "the manifest names its base");
    let manifest = format!("{manifest}\n[r]\npackages = [\"data.table\"]\n");
    std::fs::write(dir.path().join("runtime.toml"), manifest).unwrap();
    rtlock()
        .current_dir(dir.path())
        .arg("lock")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "cannot resolve the base image 127.0.0.1:1/",
        ));
    assert!(!dir.path().join("runtime.lock").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// An error whose message already says its cause (`cannot read …: No such file`) is
/// not followed by that cause again (the rule itself: `diagnostic::distinct_messages`).
#[test]
fn each_cause_of_an_error_is_printed_once() {
    let dir = tempfile::tempdir().unwrap();
    let lock_fails = || {
        let assert = rtlock()
            .current_dir(dir.path())
            .arg("lock")
            .assert()
            .code(1);
        String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
    };
    let err = lock_fails();
    insta::assert_snapshot!(err);
    assert_eq!(err.matches("does not exist").count(), 1, "{err}");
    // A manifest that cannot be read for another reason: its cause, once.
    std::fs::create_dir(dir.path().join("runtime.toml")).unwrap();
    let err = lock_fails();
    assert_eq!(err.matches("Is a directory").count(), 1, "{err}");
    assert!(
        err.contains("cannot read the manifest runtime.toml"),
        "{err}"
    );
}
