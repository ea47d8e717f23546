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

/// Marks a package requested, requiring `requires`.
fn requested(mut p: AptPackage, requires: &[&str]) -> AptPackage {
    p.requested = true;
    p.requires = requires.iter().map(|r| r.to_string()).collect();
    p
}

fn requested_pip(mut p: PipPackage, requires: &[&str]) -> PipPackage {
    p.requested = true;
    p.requires = requires.iter().map(|r| r.to_string()).collect();
    p
}

fn dependency(mut p: PipPackage) -> PipPackage {
    p.requested = false;
    p
}

fn sized_apt(mut p: AptPackage, size: u64) -> AptPackage {
    p.size = size;
    p
}

fn sized_pip(mut p: PipPackage, size: u64) -> PipPackage {
    p.size = size;
    p
}

/// curl upgraded, libfoo removed, graphviz requested with libcgraph6 behind it; pandas
/// upgraded and now pulling in pytz, numpy downgraded.
fn old() -> Lockfile {
    lock(
        'a',
        vec![
            requested(sized_apt(apt("curl", "7.88.1-10", "amd64"), 400_000), &[]),
            sized_apt(apt("libfoo", "1.0", "amd64"), 20_000),
            apt("libc6", "2.36", "i386"),
        ],
        vec![
            requested_pip(sized_pip(pip("pandas", "2.2.2"), 12_000_000), &["numpy"]),
            dependency(sized_pip(pip("numpy", "2.1.0"), 16_000_000)),
        ],
    )
}

fn new() -> Lockfile {
    lock(
        'b',
        vec![
            requested(
                sized_apt(apt("curl", "7.88.1-10+deb12u5", "amd64"), 401_000),
                &[],
            ),
            requested(
                sized_apt(apt("graphviz", "2.42.2-7", "amd64"), 600_000),
                &["libcgraph6"],
            ),
            sized_apt(apt("libcgraph6", "2.42.2-7", "amd64"), 50_000),
            apt("libc6", "2.36", "i386"),
        ],
        vec![
            requested_pip(
                sized_pip(pip("pandas", "2.2.3"), 12_100_000),
                &["numpy", "pytz"],
            ),
            dependency(sized_pip(pip("numpy", "2.0.2"), 15_900_000)),
            dependency(sized_pip(pip("pytz", "2024.1"), 500_000)),
        ],
    )
}

fn write_pair(dir: &Path) {
    old().write(&dir.join("old.lock")).unwrap();
    new().write(&dir.join("new.lock")).unwrap();
}

/// `rtlock diff ARGS`, its standard output; the base images of these locks exist
/// nowhere, so their contents are not compared (a test below covers that path).
fn rtlock_diff(dir: &Path, args: &[&str]) -> String {
    let out = Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("diff")
        .arg("--no-base-contents")
        .args(args)
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn text_lists_each_change_once_aligned() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let out = rtlock_diff(dir.path(), &["old.lock", "new.lock"]);
    assert!(
        out.contains("+ libcgraph6  2.42.2-7  pulled in by graphviz"),
        "{out}"
    );
    assert!(out.contains("↓ numpy   2.1.0 → 2.0.2"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn colours_mark_each_kind_and_never_and_no_color_drop_them() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let run = |color: &str, no_color: bool| {
        let mut cmd = Command::cargo_bin("rtlock").unwrap();
        cmd.current_dir(dir.path()).env_remove("NO_COLOR").args([
            "--color",
            color,
            "diff",
            "--no-base-contents",
            "old.lock",
            "new.lock",
        ]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
    };
    let coloured = run("always", false);
    // Green for added, red for removed.
    assert!(
        coloured.contains("\x1b[32m+\x1b[0m libcgraph6"),
        "{coloured:?}"
    );
    assert!(coloured.contains("\x1b[31m-\x1b[0m libfoo"), "{coloured:?}");
    let plain = run("never", false);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    // Not a terminal, and NO_COLOR: plain either way.
    assert!(!run("auto", true).contains('\x1b'));
}

#[test]
fn json_has_the_spec_shape_and_the_extra_fields() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let out = rtlock_diff(dir.path(), &["old.lock", "new.lock", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["base"]["from"], format!("sha256:{}", "a".repeat(64)));
    assert_eq!(v["base"]["to"], format!("sha256:{}", "b".repeat(64)));
    // Not compared (`--no-base-contents`): null, not an empty comparison.
    assert!(v["base"]["contents"].is_null(), "{v:#}");
    assert_eq!(
        v["apt"]["added"],
        serde_json::json!([
            {"name": "graphviz", "version": "2.42.2-7", "requested": true},
            {"name": "libcgraph6", "version": "2.42.2-7", "pulled_in_by": ["graphviz"]},
        ])
    );
    assert_eq!(
        v["apt"]["removed"],
        serde_json::json!([{"name": "libfoo", "version": "1.0"}])
    );
    let curl =
        serde_json::json!([{"name": "curl", "from": "7.88.1-10", "to": "7.88.1-10+deb12u5"}]);
    assert_eq!(v["apt"]["changed"], curl);
    assert_eq!(v["apt"]["upgraded"], curl);
    assert_eq!(v["apt"]["downgraded"], serde_json::json!([]));
    assert_eq!(
        v["apt"]["size"],
        serde_json::json!({"from": 420_001, "to": 1_051_001})
    );
    // pandas up, numpy down (PEP 440's order), pytz pulled in by pandas.
    assert_eq!(
        v["pip"]["upgraded"],
        serde_json::json!([{"name": "pandas", "from": "2.2.2", "to": "2.2.3"}])
    );
    assert_eq!(
        v["pip"]["downgraded"],
        serde_json::json!([{"name": "numpy", "from": "2.1.0", "to": "2.0.2"}])
    );
    assert_eq!(v["pip"]["changed"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["pip"]["added"][0]["pulled_in_by"],
        serde_json::json!(["pandas"])
    );
    assert_eq!(
        v["size"],
        serde_json::json!({"from": 28_420_001, "to": 29_551_001})
    );
    assert_eq!(
        v["r"],
        serde_json::json!({"added": [], "removed": [], "changed": [], "upgraded": [],
            "downgraded": [], "replaced": [], "moved": [], "size": {"from": 0, "to": 0}})
    );

    // Same lock on both sides: nothing changed, and base is null.
    let same = rtlock_diff(dir.path(), &["old.lock", "old.lock", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&same).unwrap();
    assert!(v["base"].is_null());
    assert_eq!(v["apt"]["changed"], serde_json::json!([]));
}

#[test]
fn markdown_is_a_summary_line_and_a_table_per_ecosystem() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path());
    let out = rtlock_diff(
        dir.path(),
        &["old.lock", "new.lock", "--format", "markdown"],
    );
    assert!(
        out.contains(
            "**apt** 2 added, 1 removed, 1 upgraded · **pip** 1 added, 1 upgraded, 1 downgraded · **base image** changed · download 27.1 MiB → 28.2 MiB (+1.1 MiB)"
        ),
        "{out}"
    );
    assert!(
        out.contains("| added | `libcgraph6` | — | 2.42.2-7 | pulled in by graphviz |"),
        "{out}"
    );
    assert!(!out.contains("#### r"), "{out}");
    assert!(
        !out.contains("<details>"),
        "short tables are not folded: {out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn a_long_table_is_folded_into_details() {
    let dir = tempfile::tempdir().unwrap();
    let many = |version: &str| {
        let apt = (0..20)
            .map(|i| apt(&format!("lib{i:02}"), version, "amd64"))
            .collect();
        lock('a', apt, vec![])
    };
    many("1.0").write(&dir.path().join("old.lock")).unwrap();
    many("1.1").write(&dir.path().join("new.lock")).unwrap();
    let out = rtlock_diff(
        dir.path(),
        &["old.lock", "new.lock", "--format", "markdown"],
    );
    assert!(
        out.contains(
            "#### apt: 20 upgraded\n\n<details><summary>20 changes in apt</summary>\n\n| | package |"
        ),
        "{out}"
    );
    assert!(out.trim_end().ends_with("</details>"), "{out}");
}

/// The base changed, but neither image can be read: the lock's own changes are still
/// shown, with a warning that says what is left out and how to skip it; exit 0.
#[test]
fn an_unreadable_base_leaves_its_contents_out_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut before = old();
    let mut after = new();
    // A registry on 127.0.0.1 that refuses connections, so nothing waits.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    before.base.reference = format!("127.0.0.1:{port}/ml/runtime:1");
    after.base.reference = format!("127.0.0.1:{port}/ml/runtime:2");
    before.write(&dir.path().join("old.lock")).unwrap();
    after.write(&dir.path().join("new.lock")).unwrap();
    let out = Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["diff", "old.lock", "new.lock", "--format", "json"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(
            "warning: what changed inside the base is not shown: cannot read the base image 127.0.0.1:"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("`--no-base-contents` skips the comparison"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(v["base"]["contents"].is_null(), "{v:#}");
    assert_eq!(
        v["base"]["reference"],
        serde_json::json!({"from": format!("127.0.0.1:{port}/ml/runtime:1"),
            "to": format!("127.0.0.1:{port}/ml/runtime:2")})
    );
    assert_eq!(v["pip"]["downgraded"][0]["name"], "numpy");
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
    assert!(out.contains("↑ pandas  2.2.2 → 2.2.3"), "{out}");

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
    assert!(
        out.contains("! six  1.17.0  artifact replaced: sha256 111111111111 → 999999999999"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn a_replaced_artifact_and_a_moved_url_show_in_markdown() {
    let out = diff_of_swapped("markdown");
    assert!(out.contains("| **replaced** | `six` |"), "{out}");
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
        let changes = rtlock::diff::diff(&on("1.0"), &on("1.1"), None);
        let names: Vec<&str> = changes
            .apt
            .changed
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["libc6:i386", "zlib1g"], "{platform}");
    }
}
