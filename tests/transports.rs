//! Sources and destinations are explicit (issue 11, point 7; SPEC.md, "Image
//! destinations and sources"): a transport, or a reference that starts with its registry
//! host. A short name or a mistyped transport is an error before any work, never a push
//! to (or a pull from) a public registry; tags follow the OCI grammar.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

fn rtlock(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .output()
        .unwrap()
}

/// Fails with exit 1, before anything is written into `dir` (not even the cache), and
/// returns standard error.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = rtlock(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?} printed a result");
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "runtime.lock" && name != "runtime.toml")
        .collect();
    assert!(left.is_empty(), "{args:?} left {left:?}");
    err
}

/// A lock that is never read: destinations are checked first.
fn with_lock(dir: &Path) {
    std::fs::write(dir.join("runtime.lock"), "version = 1\n").unwrap();
}

#[test]
fn a_destination_without_a_transport_or_registry_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_lock(dir.path());
    let err = refused(dir.path(), &["build", "-o", "foo:bar"]);
    insta::assert_snapshot!("destination_foo_bar", err);
    for short in ["team/runtime:1", "docker://team/runtime:1", "debian"] {
        let err = refused(dir.path(), &["build", "-o", short]);
        assert!(err.contains("registry"), "{short}: {err}");
    }
}

#[test]
fn a_mistyped_transport_names_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    with_lock(dir.path());
    let err = refused(dir.path(), &["build", "-o", "oci-arhive:x"]);
    assert!(
        err.contains("unknown transport `oci-arhive:`; did you mean `oci-archive:`?"),
        "{err}"
    );
    insta::assert_snapshot!("destination_oci_arhive", err);
    let err = refused(dir.path(), &["inspect", "docker-archve:img.tar"]);
    insta::assert_snapshot!("source_docker_archve", err);
}

#[test]
fn a_tag_outside_the_oci_grammar_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_lock(dir.path());
    let err = refused(dir.path(), &["build", "-o", "oci:out:bad tag"]);
    insta::assert_snapshot!("destination_bad_tag", err);
    let err = refused(dir.path(), &["build", "-o", "oci-archive:out.tar:-v1"]);
    assert!(err.contains("`-v1` is not a valid tag"), "{err}");
    let err = refused(dir.path(), &["inspect", "oci:out:bad tag"]);
    assert!(err.contains("`bad tag` is not a valid tag"), "{err}");
}

#[test]
fn an_inspected_short_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused(dir.path(), &["inspect", "debian:bookworm"]);
    insta::assert_snapshot!("source_short_name", err);
    let err = refused(dir.path(), &["inspect", "docker://debian:bookworm"]);
    insta::assert_snapshot!("source_docker_short_name", err);
}

#[test]
fn a_base_image_without_its_registry_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runtime.toml"),
        "[base]\nimage = \"debian:bookworm\"\n",
    )
    .unwrap();
    let err = refused(dir.path(), &["lock"]);
    insta::assert_snapshot!("base_short_name", err);
}
