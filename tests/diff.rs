//! `rtlock diff`: what changed between two locks, in the three formats, from paths and
//! from git revisions.

use std::path::Path;
use std::process::Command as Std;

use assert_cmd::Command;

use rtlock::lockfile::{AptPackage, BaseLock, ImageLock, Lockfile, PipPackage};

fn apt(name: &str, version: &str, arch: &str) -> AptPackage {
    AptPackage {
        name: name.into(),
        version: version.parse().unwrap(),
        arch: arch.into(),
        url: format!("http://mirror/debian/pool/main/{name}_{version}_{arch}.deb"),
        filename: format!("pool/main/{name}_{version}_{arch}.deb"),
        sha256: "0".repeat(64),
        size: 1,
        requested: false,
        requires: vec![],
        needed_by: vec![],
    }
}

fn pip(name: &str, version: &str) -> PipPackage {
    PipPackage {
        name: name.into(),
        version: version.parse().unwrap(),
        file: format!("{name}-{version}-py3-none-any.whl"),
        url: format!("http://127.0.0.1/{name}-{version}-py3-none-any.whl"),
        sha256: "1".repeat(64),
        size: 1,
        requested: true,
        requires: vec![],
    }
}

fn lock(base: char, apt_pkgs: Vec<AptPackage>, pip_pkgs: Vec<PipPackage>) -> Lockfile {
    Lockfile {
        version: 1,
        manifest: format!("sha256:{}", "2".repeat(64)),
        source_date_epoch: 0,
        as_of: None,
        base: BaseLock {
            reference: "registry.example.com/ml/runtime:1".into(),
            digest: format!("sha256:{}", "3".repeat(64)).parse().unwrap(),
            manifest: format!("sha256:{}", base.to_string().repeat(64))
                .parse()
                .unwrap(),
            platform: "linux/amd64".parse().unwrap(),
        },
        image: ImageLock::default(),
        apt: apt_pkgs,
        pip: pip_pkgs,
        r: vec![],
    }
}

fn old() -> Lockfile {
    lock(
        'a',
        vec![
            apt("curl", "7.88.1-10", "amd64"),
            apt("libfoo", "1.0", "amd64"),
            apt("libc6", "2.36", "i386"),
        ],
        vec![pip("pandas", "2.2.2")],
    )
}

fn new() -> Lockfile {
    lock(
        'b',
        vec![
            apt("curl", "7.88.1-10+deb12u5", "amd64"),
            apt("graphviz", "2.42.2-7", "amd64"),
            apt("libc6", "2.36", "i386"),
        ],
        vec![pip("pandas", "2.2.3"), pip("numpy", "2.1.0")],
    )
}

fn write_pair(dir: &Path) {
    old().write(&dir.join("old.lock")).unwrap();
    new().write(&dir.join("new.lock")).unwrap();
}

fn rtlock_diff(dir: &Path, args: &[&str]) -> String {
    let out = Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .arg("diff")
        .args(args)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn text_lists_each_change_once() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let out = rtlock_diff(dir.path(), &["old.lock", "new.lock"]);
    let expected = format!(
        "base: sha256:{} -> sha256:{}\napt:\n  + graphviz 2.42.2-7\n  - libfoo 1.0\n  ~ curl 7.88.1-10 -> 7.88.1-10+deb12u5\npip:\n  + numpy 2.1.0\n  ~ pandas 2.2.2 -> 2.2.3\n",
        "a".repeat(64),
        "b".repeat(64)
    );
    assert_eq!(out, expected);
}

#[test]
fn json_has_the_spec_shape() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let out = rtlock_diff(dir.path(), &["old.lock", "new.lock", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["base"]["from"], format!("sha256:{}", "a".repeat(64)));
    assert_eq!(
        v["apt"]["added"],
        serde_json::json!([{"name": "graphviz", "version": "2.42.2-7"}])
    );
    assert_eq!(
        v["apt"]["removed"],
        serde_json::json!([{"name": "libfoo", "version": "1.0"}])
    );
    assert_eq!(
        v["apt"]["changed"],
        serde_json::json!([{"name": "curl", "from": "7.88.1-10", "to": "7.88.1-10+deb12u5"}])
    );
    assert_eq!(v["pip"]["changed"][0]["to"], "2.2.3");
    assert_eq!(
        v["r"],
        serde_json::json!({"added": [], "removed": [], "changed": [], "replaced": [], "moved": []})
    );

    // Same lock on both sides: nothing changed, and base is null.
    let same = rtlock_diff(dir.path(), &["old.lock", "old.lock", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&same).unwrap();
    assert!(v["base"].is_null());
    assert_eq!(v["apt"]["changed"], serde_json::json!([]));
}

#[test]
fn markdown_is_a_table_per_ecosystem() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let out = rtlock_diff(
        dir.path(),
        &["old.lock", "new.lock", "--format", "markdown"],
    );
    assert!(out.contains("**Base image changed**"), "{out}");
    assert!(
        out.contains("apt: 1 added, 1 removed, 1 changed · pip: 1 added, 0 removed, 1 changed"),
        "{out}"
    );
    assert!(out.contains("#### apt\n\n| package | before | after |\n|---|---|---|\n| `graphviz` | — | 2.42.2-7 |\n| `libfoo` | 1.0 | — |\n| `curl` | 7.88.1-10 | 7.88.1-10+deb12u5 |\n"), "{out}");
    assert!(!out.contains("#### r"), "{out}");
}

#[test]
fn reads_locks_from_git_revisions() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let status = Std::new("git")
            .current_dir(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    git(&["init", "-q"]);
    old().write(&dir.path().join("runtime.lock")).unwrap();
    git(&["add", "runtime.lock"]);
    git(&["commit", "-qm", "old"]);
    new().write(&dir.path().join("runtime.lock")).unwrap();
    let out = rtlock_diff(dir.path(), &["HEAD:runtime.lock", "runtime.lock"]);
    assert!(out.contains("~ pandas 2.2.2 -> 2.2.3"), "{out}");

    let missing = Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .args(["diff", "HEAD:nope.lock", "runtime.lock"])
        .assert()
        .code(1);
    let err = String::from_utf8(missing.get_output().stderr.clone()).unwrap();
    assert!(
        err.contains("cannot read `HEAD:nope.lock` from git"),
        "{err}"
    );
}

/// The reproduction of issue 11: the same versions, but one wheel's sha256 and size are
/// another file's, and one .deb comes from another mirror. The diff must show both.
fn swapped() -> (Lockfile, Lockfile) {
    let before = lock(
        'a',
        vec![apt("curl", "7.88.1-10", "amd64")],
        vec![pip("six", "1.17.0"), pip("numpy", "2.1.0")],
    );
    let mut after = before.clone();
    after.pip[0].sha256 = "9".repeat(64);
    after.pip[0].size = 347_838;
    after.apt[0].url = after.apt[0]
        .url
        .replace("http://mirror/", "http://other-mirror/");
    (before, after)
}

fn diff_of_swapped(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = swapped();
    before.write(&dir.path().join("old.lock")).unwrap();
    after.write(&dir.path().join("new.lock")).unwrap();
    rtlock_diff(dir.path(), &["old.lock", "new.lock", "--format", format])
}

#[test]
fn a_replaced_artifact_and_a_moved_url_show_in_text() {
    let out = diff_of_swapped("text");
    assert!(out.contains("six 1.17.0: artifact replaced"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn a_replaced_artifact_and_a_moved_url_show_in_markdown() {
    let out = diff_of_swapped("markdown");
    assert!(out.contains("**artifact replaced**"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn a_replaced_artifact_and_a_moved_url_show_in_json() {
    let out = diff_of_swapped("json");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // SPEC.md's shape stays: nothing added, removed or changed.
    for ecosystem in ["apt", "pip", "r"] {
        for key in ["added", "removed", "changed"] {
            assert_eq!(
                v[ecosystem][key],
                serde_json::json!([]),
                "{ecosystem}.{key}"
            );
        }
    }
    assert_eq!(v["pip"]["replaced"][0]["name"], "six");
    assert_eq!(v["apt"]["moved"][0]["name"], "curl");
    insta::assert_snapshot!(out);
}

/// An apt package of the platform's own architecture is named without it, on every
/// platform: dpkg's name of the architecture (arm64 for `linux/arm64/v8`, armhf for
/// `linux/arm/v7`), not the platform's last component (`v8`); another architecture
/// (multiarch) keeps its `:arch`.
#[test]
fn the_native_architecture_goes_without_saying_on_every_platform() {
    for (platform, native) in [
        ("linux/amd64", "amd64"),
        ("linux/arm64/v8", "arm64"),
        ("linux/arm/v7", "armhf"),
    ] {
        let on = |version: &str| {
            let mut lock = lock(
                'a',
                vec![
                    apt("zlib1g", version, native),
                    apt("libc6", version, "i386"),
                ],
                vec![],
            );
            lock.base.platform = platform.parse().unwrap();
            lock
        };
        let changes = rtlock::diff::diff(&on("1.0"), &on("1.1"));
        let names: Vec<&str> = changes
            .apt
            .changed
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["libc6:i386", "zlib1g"], "{platform}");
    }
}
