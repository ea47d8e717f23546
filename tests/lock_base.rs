//! `rtlock lock` pins the base image: against the test bed's real registry, compared with
//! what skopeo reports, through an index, and with the pins kept until `--update base`.

mod common;

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

use common::testbed::{ok, skopeo, testbed};
use rtlock::lockfile::Lockfile;

fn rtlock(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rtlock").unwrap();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("--cache-dir")
        .arg(dir.join("cache"));
    cmd
}

fn write_manifest(dir: &Path, image: &str, extra: &str) {
    std::fs::write(
        dir.join("runtime.toml"),
        format!("[base]\nimage = \"{image}\"\n{extra}"),
    )
    .unwrap();
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let out = ok(
        "skopeo inspect",
        skopeo(&[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{reference}"),
        ]),
    );
    serde_json::from_str(&out).unwrap()
}

/// `skopeo copy` within the plain registry, to give a test its own tag to move.
fn copy(from: &str, to: &str) {
    ok(
        "skopeo copy",
        skopeo(&[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{from}"),
            &format!("docker://{to}"),
        ]),
    );
}

/// The manifest's exact bytes (not trimmed: its digest is of these bytes).
fn raw_manifest(reference: &str) -> String {
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A manifest's media type; umoci's manifests leave the field out, which means OCI.
fn media_type(raw: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(raw).unwrap();
    value["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string()
}

#[test]
fn pins_the_digest_skopeo_sees_and_the_base_creation_time() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        &bed.image_python,
        "[image]\nuser = \"8536\"\nlabels = { \"org.opencontainers.image.source\" = \"https://example.com/repo\" }\n[runtime]\nedition = \"Data Science\"\n",
    );
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .success()
        .stderr(predicate::str::contains("wrote runtime.lock"));
    let lock = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    let truth = skopeo_inspect(&bed.image_python);
    assert_eq!(lock.base.reference, bed.image_python);
    assert_eq!(lock.base.digest.as_str(), truth["Digest"].as_str().unwrap());
    assert_eq!(
        lock.base.manifest.as_str(),
        truth["Digest"].as_str().unwrap(),
        "a single-platform image is its own manifest"
    );
    assert_eq!(lock.base.platform.to_string(), "linux/amd64");
    let created: jiff::Timestamp = truth["Created"].as_str().unwrap().parse().unwrap();
    assert_eq!(lock.source_date_epoch, created.as_second());
    assert_eq!(lock.image.user.as_deref(), Some("8536"));
    assert_eq!(lock.image.env["ML_RUNTIME_EDITION"], "Data Science");
    assert_eq!(
        lock.image.labels["com.cloudera.ml.runtime.edition"],
        "Data Science"
    );
    assert_eq!(
        lock.image.labels["org.opencontainers.image.source"],
        "https://example.com/repo"
    );
    assert!(lock.apt.is_empty() && lock.pip.is_empty() && lock.r.is_empty());

    rtlock(dir.path())
        .args(["lock", "--check"])
        .assert()
        .success();
    let before = std::fs::read(dir.path().join("runtime.lock")).unwrap();
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .success()
        .stderr(predicate::str::contains("runtime.lock is unchanged"));
    assert_eq!(
        std::fs::read(dir.path().join("runtime.lock")).unwrap(),
        before
    );
}

#[test]
fn source_date_epoch_comes_from_the_environment_then_as_of() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        &bed.image_minimal,
        "[lock]\nas-of = \"2026-11-01T00:00:00Z\"\n",
    );
    rtlock(dir.path()).arg("lock").assert().success();
    let lock = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(lock.source_date_epoch, 1_793_491_200);
    assert_eq!(lock.as_of.as_deref(), Some("2026-11-01T00:00:00Z"));

    rtlock(dir.path())
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .arg("lock")
        .assert()
        .success();
    let lock = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(lock.source_date_epoch, 1_700_000_000);

    rtlock(dir.path())
        .env("SOURCE_DATE_EPOCH", "soon")
        .arg("lock")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "SOURCE_DATE_EPOCH must be a number",
        ));
}

#[test]
fn resolves_an_index_to_the_manifest_for_the_platform() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let repo = format!(
        "{}/rtlock-test/lock-index-{}",
        bed.registry,
        std::process::id()
    );
    copy(&bed.image_minimal, &format!("{repo}:single"));
    let single = skopeo_inspect(&format!("{repo}:single"));
    let raw = raw_manifest(&format!("{repo}:single"));
    let manifest_digest = single["Digest"].as_str().unwrap().to_string();
    // The registry insists that an index's manifests exist, so the "arm64" entry is the
    // python image's amd64 manifest in disguise: rtlock must notice from its config.
    copy(&bed.image_python, &format!("{repo}:other"));
    let other_raw = raw_manifest(&format!("{repo}:other"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": media_type(&other_raw), "digest": rtlock::oci::Digest::of(other_raw.as_bytes()).to_string(),
             "size": other_raw.len(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": media_type(&raw),
             "digest": manifest_digest, "size": raw.len(), "platform": {"os": "linux", "architecture": "amd64"}}
        ]
    });
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let index_path = dir.path().join("index.json");
    std::fs::write(&index_path, &index_bytes).unwrap();
    let put = common::testbed::curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.oci.image.index.v1+json",
        "--data-binary",
        &format!("@{}", index_path.display()),
        "-w",
        "\n%{http_code}",
        &format!(
            "http://{}/v2/{}/manifests/multi",
            bed.registry,
            repo.split_once('/').unwrap().1
        ),
    ]);
    let answer = ok("PUT index", put);
    assert!(
        answer == "201",
        "the registry refused the index: {answer}\n{index}"
    );

    write_manifest(dir.path(), &format!("{repo}:multi"), "");
    rtlock(dir.path()).arg("lock").assert().success();
    let lock = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(
        lock.base.digest,
        rtlock::oci::Digest::of(&index_bytes),
        "the index digest"
    );
    assert_eq!(
        lock.base.manifest.as_str(),
        single["Digest"].as_str().unwrap(),
        "the amd64 manifest"
    );

    // The "arm64" entry's config says amd64: refused, naming both.
    write_manifest(
        dir.path(),
        &format!("{repo}:multi"),
        "platform = \"linux/arm64\"\n",
    );
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "is for linux/amd64, but [base] platform is linux/arm64",
        ));
}

#[test]
fn keeps_the_pinned_base_until_update_base() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let tag = format!(
        "{}/rtlock-test/lock-moving-{}:latest",
        bed.registry,
        std::process::id()
    );
    copy(&bed.image_minimal, &tag);
    write_manifest(dir.path(), &tag, "");
    rtlock(dir.path()).arg("lock").assert().success();
    let first = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(
        first.base.digest.as_str(),
        skopeo_inspect(&bed.image_minimal)["Digest"]
            .as_str()
            .unwrap()
    );

    // The tag moves to another image.
    copy(&bed.image_python, &tag);
    rtlock(dir.path()).arg("lock").assert().success();
    let kept = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(
        kept.base.digest, first.base.digest,
        "a plain lock keeps the pin"
    );

    rtlock(dir.path())
        .args(["lock", "--update", "base"])
        .assert()
        .success();
    let updated = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(
        updated.base.digest.as_str(),
        skopeo_inspect(&bed.image_python)["Digest"]
            .as_str()
            .unwrap()
    );

    rtlock(dir.path())
        .args(["lock", "--update", "pandas"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`pandas` is not in"));
}

#[test]
fn bad_bases_are_clear_errors_and_write_nothing() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!("{}/rtlock-test/does-not-exist:1", bed.registry),
            String::new(),
            "does-not-exist",
        ),
        (
            bed.image_minimal.clone(),
            "platform = \"linux/arm64\"\n".to_string(),
            "is for linux/amd64, but [base] platform is linux/arm64",
        ),
        (
            "127.0.0.1:9/rtlock-test/down:1".to_string(),
            String::new(),
            "127.0.0.1:9",
        ),
        (
            "Not A Reference".to_string(),
            String::new(),
            "must not contain whitespace",
        ),
    ];
    for (image, extra, message) in cases {
        write_manifest(dir.path(), &image, &extra);
        rtlock(dir.path())
            .arg("lock")
            .assert()
            .code(1)
            .stderr(predicate::str::contains(message));
        assert!(
            !dir.path().join("runtime.lock").exists(),
            "{image}: nothing written"
        );
    }
}

#[test]
fn r_packages_on_a_base_without_r_are_refused() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    write_manifest(
        dir.path(),
        &bed.image_minimal,
        "[r]\npackages = [\"data.table\"]\n",
    );
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("the base image has no R"));
    assert!(!dir.path().join("runtime.lock").exists());
}
