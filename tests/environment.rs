//! Issue 11, point 8: environment variables read as cargo reads its own (booleans as
//! `1`/`true`/`yes` or `0`/`false`/`no`, empty = unset, errors that name the variable),
//! a `source-date-epoch` a tar header can hold and an `as-of` that has passed, and
//! `diff` never handing an option to git.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::testbed::testbed;

/// `rtlock ARGS…` in `dir`, with the bed's environment plus `env` (an empty value is set
/// empty), and none of the variables under test inherited.
fn rtlock(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    testbed().apply_env(&mut cmd);
    for name in [
        "RTLOCK_OFFLINE",
        "RTLOCK_CACHE_DIR",
        "RTLOCK_MIRRORS",
        "SOURCE_DATE_EPOCH",
    ] {
        cmd.env_remove(name);
    }
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("XDG_CACHE_HOME", dir.join("xdg"))
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("run rtlock")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn succeeds(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
}

/// Exit 1 with `expected` in standard error, and no panic; returns standard error.
fn fails_with(out: &Output, expected: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// A lock of nothing but a base, on a registry that is never reached: `build` reads it,
/// then checks its options before any network use.
fn empty_lock(dir: &Path) {
    let zero = "0".repeat(64);
    std::fs::write(
        dir.join("runtime.lock"),
        format!(
            "version = 1\nmanifest = \"sha256:{zero}\"\nsource-date-epoch = 0\n\n[base]\n\
             reference = \"registry.example.com/ml/runtime:1\"\ndigest = \"sha256:{zero}\"\n\
             manifest = \"sha256:{zero}\"\nplatform = \"linux/amd64\"\n"
        ),
    )
    .unwrap();
}

/// The bed's minimal base, no packages: a quick lock.
fn bed_manifest(dir: &Path, extra: &str) {
    std::fs::write(
        dir.join("runtime.toml"),
        format!("[base]\nimage = \"{}\"\n{extra}", testbed().image_minimal),
    )
    .unwrap();
}

#[test]
fn rtlock_offline_reads_booleans_as_cargo_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bed_manifest(d, "");
    // Each run with a cache of its own: offline, the base cannot be resolved.
    for (i, (value, on)) in [
        ("1", true),
        ("true", true),
        ("yes", true),
        ("YES", true),
        ("0", false),
        ("false", false),
        ("no", false),
        ("", false),
    ]
    .into_iter()
    .enumerate()
    {
        let cache = format!("cache-{i}");
        let out = rtlock(
            d,
            &[("RTLOCK_OFFLINE", value)],
            &["--cache-dir", &cache, "lock"],
        );
        if on {
            fails_with(&out, "offline");
        } else {
            succeeds(&out);
        }
    }
    let out = rtlock(d, &[("RTLOCK_OFFLINE", "maybe")], &["lock"]);
    let err = fails_with(&out, "the environment variable RTLOCK_OFFLINE");
    insta::assert_snapshot!("offline_maybe", err);
}

#[test]
fn an_empty_rtlock_cache_dir_is_unset_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bed_manifest(d, "");
    succeeds(&rtlock(d, &[("RTLOCK_CACHE_DIR", "")], &["lock"]));
    assert!(
        d.join("xdg/rtlock").is_dir(),
        "the default cache was not used"
    );

    std::fs::write(d.join("a-file"), "").unwrap();
    let out = rtlock(d, &[("RTLOCK_CACHE_DIR", "a-file/cache")], &["lock"]);
    fails_with(
        &out,
        "cannot create the cache directory a-file/cache (from RTLOCK_CACHE_DIR)",
    );
    let out = rtlock(d, &[], &["--cache-dir", "a-file/cache", "lock"]);
    fails_with(&out, "(from --cache-dir)");
}

#[test]
fn a_bad_rtlock_mirrors_url_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    empty_lock(d);
    let out = rtlock(
        d,
        &[("RTLOCK_MIRRORS", "http://mirror.example/debian not-a-url")],
        &["build"],
    );
    let err = fails_with(&out, "RTLOCK_MIRRORS: `not-a-url` is not a URL");
    insta::assert_snapshot!("mirrors_not_a_url", err);
    let out = rtlock(d, &[], &["build", "--mirror", "not-a-url"]);
    fails_with(&out, "--mirror: `not-a-url` is not a URL");
}

#[test]
fn source_date_epoch_out_of_the_tar_range_is_refused_at_lock_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bed_manifest(d, "");
    let out = rtlock(d, &[("SOURCE_DATE_EPOCH", "8589934592")], &["lock"]);
    let err = fails_with(&out, "SOURCE_DATE_EPOCH `8589934592`");
    insta::assert_snapshot!("source_date_epoch_too_late", err);
    let out = rtlock(d, &[("SOURCE_DATE_EPOCH", "-1")], &["lock"]);
    fails_with(&out, "SOURCE_DATE_EPOCH `-1`");
    assert!(!d.join("runtime.lock").exists(), "a lock was written");

    let out = rtlock(d, &[("SOURCE_DATE_EPOCH", "8589934591")], &["lock"]);
    succeeds(&out);
    let lock = std::fs::read_to_string(d.join("runtime.lock")).unwrap();
    assert!(
        lock.contains("source-date-epoch = 8589934591"),
        "the largest one is kept: {lock}"
    );
}

#[test]
fn a_future_as_of_is_refused_at_lock_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bed_manifest(d, "[lock]\nas-of = \"2999-01-01T00:00:00Z\"\n");
    let out = rtlock(d, &[], &["lock"]);
    let err = fails_with(
        &out,
        "runtime.toml: [lock] as-of = \"2999-01-01T00:00:00Z\" is in the future",
    );
    assert!(err.contains("help: use a time that has passed"), "{err}");
    assert!(!d.join("runtime.lock").exists(), "a lock was written");
}

#[test]
fn diff_never_hands_an_option_to_git() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    empty_lock(d);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(d)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    };
    git(&["init", "-q"]);
    git(&["add", "runtime.lock"]);
    git(&["commit", "-qm", "lock"]);
    // Where `git show --output=out:./runtime.lock` would write.
    std::fs::create_dir(d.join("out:.")).unwrap();

    let out = rtlock(
        d,
        &[],
        &["diff", "--", "--output=out:runtime.lock", "runtime.lock"],
    );
    let err = fails_with(&out, "a revision cannot start with `-`");
    insta::assert_snapshot!("diff_option_as_revision", err);
    assert!(
        !d.join("out:./runtime.lock").exists(),
        "git was given the option and wrote its file"
    );
    // A real revision still works.
    succeeds(&rtlock(
        d,
        &[],
        &["diff", "HEAD:runtime.lock", "runtime.lock"],
    ));
}
