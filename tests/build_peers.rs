//! Peers accept what `rtlock build` writes: skopeo inspects and copies the `oci:` and
//! `docker://` outputs, umoci unpacks the layout, `docker load` takes the docker
//! archive, and the loaded image (and the `docker-daemon:` output) runs a command of
//! the base with the lock's config.

mod common;

use std::path::Path;
use std::process::Command;

use common::testbed::{docker, ok, registry_digest, skopeo, testbed};

/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;

fn write_lock(dir: &Path, image: &str) -> std::path::PathBuf {
    let digest = registry_digest(image);
    let path = dir.join("runtime.lock");
    std::fs::write(
        &path,
        format!(
            r#"version = 1
manifest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
source-date-epoch = {EPOCH}

[base]
reference = "{image}"
digest = "{digest}"
manifest = "{digest}"
platform = "linux/amd64"

[image]
env = {{ TZ = "UTC", ML_RUNTIME_EDITION = "Peers" }}
labels = {{ "com.cloudera.ml.runtime.edition" = "Peers" }}
user = "8536"
workdir = "/tmp"
"#
        ),
    )
    .unwrap();
    path
}

fn build(dir: &Path, outputs: &[String]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    testbed().apply_env(&mut cmd);
    cmd.current_dir(dir)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["-q", "build"]);
    for output in outputs {
        cmd.args(["-o", output]);
    }
    let stdout = ok("rtlock build", cmd.output().unwrap());
    stdout.lines().last().unwrap().to_string()
}

/// Runs `umoci ARGS`.
fn umoci(args: &[&str]) -> std::process::Output {
    Command::new("umoci")
        .args(args)
        .output()
        .expect("run umoci")
}

fn run_in(image: &str, script: &str) -> String {
    ok(
        &format!("docker run {image}"),
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "sh",
            "-c",
            script,
        ]),
    )
}

#[test]
fn skopeo_and_umoci_read_the_oci_layout_and_archive() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    write_lock(dir.path(), &bed.image_python);
    let layout = dir.path().join("layout");
    let digest = build(
        dir.path(),
        &[
            format!("oci:{}:v1", layout.display()),
            format!("oci-archive:{}", dir.path().join("image.tar").display()),
        ],
    );
    let oci = format!("oci:{}:v1", layout.display());
    assert_eq!(
        ok(
            "skopeo inspect",
            skopeo(&["inspect", "--format", "{{.Digest}}", &oci])
        ),
        digest
    );
    let labels = ok(
        "skopeo inspect",
        skopeo(&["inspect", "--format", "{{.Labels}}", &oci]),
    );
    assert!(
        labels.contains("org.opencontainers.image.created:2025-11-01T00:00:00Z"),
        "{labels}"
    );
    assert!(
        labels.contains("com.cloudera.ml.runtime.edition:Peers"),
        "{labels}"
    );
    let archive = format!("oci-archive:{}", dir.path().join("image.tar").display());
    assert_eq!(
        ok(
            "skopeo inspect",
            skopeo(&["inspect", "--format", "{{.Digest}}", &archive])
        ),
        digest
    );

    // skopeo copies it byte for byte (same manifest digest in the copy).
    let copy = format!("oci:{}:copy", dir.path().join("copy").display());
    ok("skopeo copy", skopeo(&["copy", "--quiet", &oci, &copy]));
    assert_eq!(
        ok(
            "skopeo inspect",
            skopeo(&["inspect", "--format", "{{.Digest}}", &copy])
        ),
        digest
    );

    let rootfs = dir.path().join("bundle");
    ok(
        "umoci unpack",
        umoci(&[
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:v1", layout.display()),
            &rootfs.display().to_string(),
        ]),
    );
    assert!(rootfs.join("rootfs/usr/bin/python3").exists());
    let config = std::fs::read_to_string(rootfs.join("config.json")).unwrap();
    assert!(config.contains("TZ=UTC"), "{config}");
}

#[test]
fn a_pushed_image_is_read_and_copied_by_skopeo() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    write_lock(dir.path(), &bed.image_minimal);
    let target = bed.fresh_repo("built");
    let digest = build(dir.path(), &[format!("docker://{target}:v1")]);
    let remote = format!("docker://{target}:v1");
    assert_eq!(registry_digest(&remote), digest);
    let copy = format!("oci:{}:copy", dir.path().join("copy").display());
    ok(
        "skopeo copy",
        skopeo(&["copy", "--quiet", "--src-tls-verify=false", &remote, &copy]),
    );
    assert_eq!(
        ok(
            "skopeo inspect",
            skopeo(&["inspect", "--format", "{{.Digest}}", &copy])
        ),
        digest
    );
}

#[test]
fn docker_loads_the_archive_and_runs_the_image() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    write_lock(dir.path(), &bed.image_python);
    let tag = format!("rtlock-test/peers-archive:{}", std::process::id());
    let archive = dir.path().join("image.tar");
    build(
        dir.path(),
        &[format!("docker-archive:{}:{tag}", archive.display())],
    );
    let loaded = ok(
        "docker load",
        docker(&["load", "-i", &archive.display().to_string()]),
    );
    assert!(loaded.contains(&tag), "{loaded}");
    let out = run_in(&tag, "python3 -c 'print(6*7)'; id -u; pwd; echo $TZ");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["42", "8536", "/tmp", "UTC"]
    );
    let _ = docker(&["rmi", "-f", &tag]);
}

#[test]
fn the_docker_daemon_output_loads_through_the_api_and_runs() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    write_lock(dir.path(), &bed.image_minimal);
    let tag = format!("rtlock-test/peers-daemon:{}", std::process::id());
    build(dir.path(), &[format!("docker-daemon:{tag}")]);
    let out = run_in(
        &tag,
        "cat /etc/debian_version >/dev/null && echo ok; echo $ML_RUNTIME_EDITION",
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), ["ok", "Peers"]);
    let created = ok(
        "docker inspect",
        docker(&["image", "inspect", "--format", "{{.Created}}", &tag]),
    );
    assert!(created.starts_with("2025-11-01T00:00:00"), "{created}");
    let _ = docker(&["rmi", "-f", &tag]);
}
