//! `rtlock build` against the test bed's registry: the same lock gives the same digest
//! whatever the directory, cache, TZ, umask or time; --check and --format json; bad
//! input fails clearly and leaves nothing at the destination.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::testbed::{ok, registry_digest, skopeo, testbed};

/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;

/// A lock of `image` with no packages and some image config, written by hand (the
/// `lock` command is tested on its own).
pub fn write_lock(dir: &Path, image: &str, extra: &str) -> PathBuf {
    let digest = registry_digest(image);
    let text = format!(
        r#"version = 1
manifest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
source-date-epoch = {EPOCH}

[base]
reference = "{image}"
digest = "{digest}"
manifest = "{digest}"
platform = "linux/amd64"

[image]
env = {{ TZ = "UTC", ML_RUNTIME_EDITION = "Test" }}
labels = {{ "com.cloudera.ml.runtime.edition" = "Test" }}
user = "8536"
workdir = "/home/cdsw"
{extra}"#
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("runtime.lock");
    std::fs::write(&path, text).unwrap();
    rtlock::lockfile::Lockfile::read(&path).expect("the hand-written lock parses");
    path
}

fn rtlock(cache: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    testbed().apply_env(&mut cmd);
    cmd.arg("--cache-dir").arg(cache).arg("-q");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run rtlock")
}

fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_same_lock_builds_the_same_digest_anywhere_anytime() {
    let bed = testbed();
    let root = tempfile::tempdir().unwrap();
    let lock_a = write_lock(&root.path().join("a/project"), &bed.image_python, "");
    let lock_b = write_lock(
        &root.path().join("b/elsewhere/deeper"),
        &bed.image_python,
        "",
    );

    let first = run(rtlock(&root.path().join("cache-1"))
        .current_dir(lock_a.parent().unwrap())
        .env("TZ", "UTC")
        .args(["build", "-o", "oci:out:t"]));
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let digest = last_line(&first);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );

    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Another directory, cache, time zone and umask, and a second later.
    let second = run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 077 && exec {} --cache-dir {} -q build -l {} -o oci:{}:t",
            env!("CARGO_BIN_EXE_rtlock"),
            root.path().join("cache-2").display(),
            lock_b.display(),
            root.path().join("b/out").display()
        ))
        .envs(bed.env())
        .env("TZ", "Pacific/Chatham")
        .env("SOURCE_DATE_EPOCH", "1")
        .current_dir(root.path().join("b")));
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(last_line(&second), digest);

    // And the layouts agree with what was printed.
    for out in [
        lock_a.parent().unwrap().join("out"),
        root.path().join("b/out"),
    ] {
        let inspected = ok(
            "skopeo inspect",
            skopeo(&[
                "inspect",
                "--format",
                "{{.Digest}}",
                &format!("oci:{}:t", out.display()),
            ]),
        );
        assert_eq!(inspected, digest);
    }
}

#[test]
fn json_output_names_the_layers_and_the_config() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let lock = write_lock(dir.path(), &bed.image_python, "");
    let out = run(rtlock(&dir.path().join("cache"))
        .args(["build", "--format", "json", "-l"])
        .arg(&lock));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["digest"].as_str().unwrap().starts_with("sha256:"));
    assert!(json["config"].as_str().unwrap().starts_with("sha256:"));
    let layers = json["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "a lock without packages adds no layer");
    for layer in layers {
        for key in ["digest", "diff_id", "media_type"] {
            assert!(layer[key].is_string(), "{layer}");
        }
        assert!(layer["size"].as_u64().unwrap() > 0);
    }
}

#[test]
fn check_builds_twice_and_agrees() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let lock = write_lock(dir.path(), &bed.image_minimal, "");
    let out = run(Command::new(env!("CARGO_BIN_EXE_rtlock"))
        .envs(bed.env())
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["build", "--check", "-l"])
        .arg(&lock));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("reproducible"));
    assert!(last_line(&out).starts_with("sha256:"));
}

#[test]
fn a_cached_rebuild_is_fast_and_identical() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let lock = write_lock(dir.path(), &bed.image_python, "");
    let cache = dir.path().join("cache");
    let build = |dest: &str| {
        let out = run(rtlock(&cache).args(["build", "-o", dest, "-l"]).arg(&lock));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        last_line(&out)
    };
    let first = build(&format!(
        "oci-archive:{}",
        dir.path().join("one.tar").display()
    ));
    let started = std::time::Instant::now();
    let second = build(&format!(
        "oci-archive:{}",
        dir.path().join("two.tar").display()
    ));
    assert_eq!(first, second);
    // Generous for debug builds on a loaded CI machine; the bench measures the real time.
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    // Archives of the same image are byte-identical.
    assert_eq!(
        std::fs::read(dir.path().join("one.tar")).unwrap(),
        std::fs::read(dir.path().join("two.tar")).unwrap()
    );
}

#[test]
fn a_base_that_does_not_exist_fails_and_writes_nothing() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let lock = write_lock(dir.path(), &bed.image_minimal, "");
    let text = std::fs::read_to_string(&lock).unwrap();
    // A manifest digest the registry never had.
    let real = registry_digest(&bed.image_minimal);
    let missing = format!("sha256:{}", "ab".repeat(32));
    std::fs::write(
        &lock,
        text.replace(
            &format!("manifest = \"{real}\""),
            &format!("manifest = \"{missing}\""),
        ),
    )
    .unwrap();
    let out = run(rtlock(&dir.path().join("cache"))
        .current_dir(dir.path())
        .args([
            "build",
            "-o",
            "oci:layout",
            "-o",
            "docker-archive:image.tar",
        ]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("base image"), "{stderr}");
    assert!(!dir.path().join("layout").exists());
    assert!(!dir.path().join("image.tar").exists());
}

#[test]
fn a_registry_that_is_down_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let lock = write_lock(dir.path(), &testbed().image_minimal, "");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let text = std::fs::read_to_string(&lock)
        .unwrap()
        .replace(&testbed().registry, &format!("127.0.0.1:{port}"));
    std::fs::write(&lock, text).unwrap();
    let out = run(rtlock(&dir.path().join("cache"))
        .current_dir(dir.path())
        .args(["build", "-o", "oci-archive:image.tar"]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!dir.path().join("image.tar").exists());
    // No temporary file either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bad_destinations_and_unsupported_locks_are_refused() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let lock = write_lock(dir.path(), &bed.image_minimal, "");
    let out = run(rtlock(&dir.path().join("cache"))
        .current_dir(dir.path())
        .args(["build", "-o", "docker-daemon:app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not by digest"));

    // A directory that is not a layout is not written into.
    std::fs::create_dir(dir.path().join("notes")).unwrap();
    std::fs::write(dir.path().join("notes/todo.txt"), "x").unwrap();
    let out = run(rtlock(&dir.path().join("cache"))
        .current_dir(dir.path())
        .args(["build", "-o", "oci:notes"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an OCI image layout"));
    assert_eq!(
        std::fs::read_dir(dir.path().join("notes")).unwrap().count(),
        1
    );

    // A compression rtlock does not write.
    let text = std::fs::read_to_string(&lock).unwrap() + "compression = \"lz4\"\n";
    std::fs::write(&lock, text).unwrap();
    let out = run(rtlock(&dir.path().join("cache"))
        .current_dir(dir.path())
        .args(["build", "-o", "oci:out"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lz4"));
    assert!(!dir.path().join("out").exists());
}
