//! What a new user sees at each first mistake, pinned by snapshots: every message says
//! what is wrong and, on a `help:` line or in its last words, the command to run next.

mod common;

use std::path::Path;
use std::process::Output;

use tempfile::TempDir;

use common::cli::{rtlock_in, succeed};
use common::testbed::testbed;

/// Standard error with the bed's ports and temporary paths made stable.
fn said(out: &Output, dir: &Path) -> String {
    let text = String::from_utf8_lossy(&out.stderr).replace(&dir.display().to_string(), "DIR");
    let mut stable = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("127.0.0.1:") {
        stable.push_str(&rest[..at + "127.0.0.1:".len()]);
        rest = rest[at + "127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        stable.push_str("PORT");
    }
    stable.push_str(rest);
    stable
}

fn run(dir: &Path, args: &[&str]) -> Output {
    rtlock_in(dir, &dir.join("cache"), args)
}

#[test]
fn no_manifest_and_no_lock_name_the_command_that_makes_them() {
    let dir = TempDir::new().unwrap();
    let out = run(dir.path(), &["lock"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("lock_without_a_manifest", said(&out, dir.path()));
    let out = run(dir.path(), &["build", "-o", "oci:out"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("build_without_a_lock", said(&out, dir.path()));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_stale_lock_at_build_time_and_an_unknown_package() {
    let bed = testbed();
    let dir = TempDir::new().unwrap();
    let manifest = dir.path().join("runtime.toml");
    std::fs::write(
        &manifest,
        format!("[base]\nimage = \"{}\"\n", bed.image_minimal),
    )
    .unwrap();
    succeed("lock", run(dir.path(), &["-q", "lock"]));
    std::fs::write(
        &manifest,
        format!(
            "[base]\nimage = \"{}\"\n[image]\nenv = {{ TZ = \"UTC\" }}\n",
            bed.image_minimal
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["-q", "build", "-o", "oci:out"]);
    assert!(out.status.success(), "{}", said(&out, dir.path()));
    insta::assert_snapshot!("build_with_a_stale_lock", said(&out, dir.path()));

    std::fs::write(
        &manifest,
        format!(
            "[base]\nimage = \"{}\"\n[apt]\npackages = [\"jqq\"]\n",
            bed.image_minimal
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["-q", "lock"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("an_unknown_apt_package", said(&out, dir.path()));

    std::fs::write(
        &manifest,
        format!("[base]\nimage = \"{}-nope\"\n", bed.image_minimal),
    )
    .unwrap();
    let out = run(dir.path(), &["-q", "lock"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("a_base_that_is_not_there", said(&out, dir.path()));
}
