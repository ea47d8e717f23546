//! `rtlock inspect` of the test bed's python base image, from every source transport,
//! against what a container of that image says about itself (the oracle):
//! `python3 -c 'import sys, sysconfig; …'`, `dpkg-query -W`, `/etc/os-release`,
//! `ldd --version` and `pip list`.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use common::testbed::{docker, ok, skopeo, split_oci, testbed};
use serde_json::Value;

/// What the image says about itself, inside a container (no network).
struct Oracle {
    python_version: String,
    purelib: String,
    /// name → (version, architecture)
    dpkg: BTreeMap<String, (String, String)>,
    os_release: BTreeMap<String, String>,
    glibc: String,
    /// lower-case name → version
    pip_list: BTreeMap<String, String>,
}

fn run_in_image(args: &[&str]) -> String {
    let image = &testbed().image_python;
    let mut all = vec!["run", "--rm", "--network", "none", image.as_str()];
    all.extend_from_slice(args);
    ok(&format!("docker run {args:?}"), docker(&all))
}

/// Pulls the python image into the Docker Engine (once per test process).
fn pulled() -> &'static str {
    static PULLED: OnceLock<String> = OnceLock::new();
    PULLED.get_or_init(|| {
        let image = testbed().image_python.clone();
        ok("docker pull", docker(&["pull", "-q", &image]));
        image
    })
}

fn oracle() -> &'static Oracle {
    static ORACLE: OnceLock<Oracle> = OnceLock::new();
    ORACLE.get_or_init(|| {
        pulled();
        let py = run_in_image(&[
            "python3",
            "-c",
            "import sys, sysconfig; print(sys.version.split()[0]); print(sysconfig.get_paths()['purelib'])",
        ]);
        let mut lines = py.lines();
        let python_version = lines.next().unwrap().to_string();
        let purelib = lines.next().unwrap().to_string();
        let dpkg = run_in_image(&[
            "dpkg-query",
            "-W",
            "-f",
            "${Package}\\t${Version}\\t${Architecture}\\n",
        ])
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            let name = f.next().unwrap().to_string();
            let version = f.next().unwrap_or("").to_string();
            let arch = f.next().unwrap_or("").to_string();
            (name, (version, arch))
        })
        .collect();
        let os_release = run_in_image(&["cat", "/etc/os-release"])
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        let ldd = run_in_image(&["ldd", "--version"]);
        let glibc = ldd
            .lines()
            .next()
            .unwrap()
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string();
        let pip: Value = serde_json::from_str(&run_in_image(&[
            "python3",
            "-m",
            "pip",
            "list",
            "--format",
            "json",
            "--disable-pip-version-check",
        ]))
        .unwrap();
        let pip_list = pip
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["name"].as_str().unwrap().to_ascii_lowercase(),
                    d["version"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        Oracle {
            python_version,
            purelib,
            dpkg,
            os_release,
            glibc,
            pip_list,
        }
    })
}

/// `rtlock inspect SOURCE --format json`, with a cache of its own.
fn inspect(source: &str) -> Value {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("rtlock"));
    testbed().apply_env(&mut cmd);
    let out = cmd
        .args(["--cache-dir", cache.path().to_str().unwrap()])
        .args(["inspect", source, "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rtlock inspect {source} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The report without `image` (which names the transport): what must be equal for
/// every transport.
fn content(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("image");
    report
}

fn oci_report() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| inspect(&format!("oci:{}", testbed().image_python_oci)))
}

/// Every fact the oracle can check.
fn check_against_the_container(report: &Value) {
    let oracle = oracle();

    let interpreters = report["python"]["interpreters"].as_array().unwrap();
    let python3 = interpreters
        .iter()
        .find(|i| {
            i["path"] == "/usr/bin/python3"
                || i["aliases"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from("/usr/bin/python3"))
        })
        .unwrap_or_else(|| panic!("no /usr/bin/python3 in {interpreters:?}"));
    assert_eq!(python3["version"], oracle.python_version.as_str());
    assert_eq!(python3["purelib"], oracle.purelib.as_str());
    assert_eq!(python3["dist_packages"], "/usr/lib/python3/dist-packages");

    let packages: BTreeMap<String, (String, String)> = report["apt"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                (
                    p["version"].as_str().unwrap().to_string(),
                    p["architecture"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(packages.len(), oracle.dpkg.len());
    assert_eq!(&packages, &oracle.dpkg);

    for key in ["ID", "VERSION_ID", "VERSION_CODENAME", "PRETTY_NAME"] {
        assert_eq!(
            report["os"]["os_release"][key].as_str(),
            oracle.os_release.get(key).map(String::as_str),
            "{key}"
        );
    }
    assert_eq!(report["os"]["id"], "debian");
    assert_eq!(report["os"]["glibc"]["version"], oracle.glibc.as_str());
    let libc6 = &oracle.dpkg["libc6"].0;
    assert!(
        libc6.starts_with(&format!("{}-", oracle.glibc)),
        "dpkg libc6 {libc6} vs ldd {}",
        oracle.glibc
    );

    let dists: BTreeMap<String, String> = report["python"]["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_ascii_lowercase(),
                d["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(dists, oracle.pip_list);

    let sources = report["apt"]["sources"].as_array().unwrap();
    let bed = testbed();
    assert!(
        sources
            .iter()
            .any(|s| s["uris"][0] == bed.debian_mirror.as_str()
                && s["suites"][0] == bed.debian_suite.as_str()),
        "the bed's mirror is not among {sources:?}"
    );
    assert!(
        report["apt"]["keyrings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k.as_str().unwrap().contains("debian-archive")),
        "no Debian archive keyring"
    );
    assert_eq!(report["r"], serde_json::json!([]));
}

#[test]
fn oci_layout_matches_the_container() {
    let report = oci_report();
    check_against_the_container(report);
    let (path, _) = split_oci(&testbed().image_python_oci);
    assert!(report["image"]["manifest_digest"].is_string());
    assert_eq!(report["image"]["layers"].as_array().unwrap().len(), 2);
    assert!(report["image"]["source"].as_str().unwrap().contains(path));
}

#[test]
fn registry_gives_the_same_report() {
    let report = inspect(&format!("docker://{}", testbed().image_python));
    check_against_the_container(&report);
    assert_eq!(content(report.clone()), content(oci_report().clone()));
    assert_eq!(
        report["image"]["manifest_digest"],
        oci_report()["image"]["manifest_digest"]
    );
}

#[test]
fn docker_archive_gives_the_same_report() {
    let bed = testbed();
    let dir = tempfile::tempdir().unwrap();
    let archive: PathBuf = dir.path().join("python.tar");
    ok(
        "skopeo copy to docker-archive",
        skopeo(&[
            "copy",
            "-q",
            "--src-tls-verify=false",
            &format!("docker://{}", bed.image_python),
            &format!("docker-archive:{}:{}", archive.display(), bed.image_python),
        ]),
    );
    let report = inspect(&format!(
        "docker-archive:{}:{}",
        archive.display(),
        bed.image_python
    ));
    check_against_the_container(&report);
    assert_eq!(content(report.clone()), content(oci_report().clone()));
    // A docker archive has no manifest; its config digest is the image's.
    assert_eq!(report["image"]["manifest_digest"], Value::Null);
    assert_eq!(
        report["image"]["config_digest"],
        oci_report()["image"]["config_digest"]
    );
    // Without a reference, the only image of the archive.
    let report = inspect(&format!("docker-archive:{}", archive.display()));
    assert_eq!(content(report), content(oci_report().clone()));
}

#[test]
fn docker_daemon_gives_the_same_report() {
    let image = pulled();
    let report = inspect(&format!("docker-daemon:{image}"));
    check_against_the_container(&report);
    assert_eq!(content(report.clone()), content(oci_report().clone()));
    assert_eq!(
        report["image"]["config_digest"],
        oci_report()["image"]["config_digest"]
    );
}

#[test]
fn a_missing_daemon_image_says_to_pull_it() {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("rtlock"));
    testbed().apply_env(&mut cmd);
    let out = cmd
        .args([
            "inspect",
            "docker-daemon:127.0.0.1:1/rtlock-test/never-pulled:x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("docker pull"), "{err}");
}

#[test]
fn the_minimal_image_has_no_python_and_no_r() {
    let report = inspect(&format!("oci:{}", testbed().image_minimal_oci));
    assert_eq!(report["python"]["interpreters"], serde_json::json!([]));
    assert_eq!(report["python"]["distributions"], serde_json::json!([]));
    assert_eq!(report["r"], serde_json::json!([]));
    assert_eq!(report["os"]["id"], "debian");
    assert!(report["apt"]["packages"].as_array().unwrap().len() > 50);
}

#[test]
fn a_container_is_read_from_its_exported_filesystem() {
    let image = pulled();
    let script = "d=/usr/local/lib/python3.11/dist-packages/added-1.0.dist-info && mkdir -p $d \
                  && printf 'Name: added\\nVersion: 1.0\\n' > $d/METADATA";
    let id = ok(
        "docker run",
        docker(&["run", "-d", "--network", "none", image, "sh", "-c", script]),
    );
    ok("docker wait", docker(&["wait", &id]));
    let report = inspect(&format!("container:{id}"));
    ok("docker rm", docker(&["rm", "-f", &id]));

    // The image's ID, and its content plus what the container added.
    assert_eq!(
        report["image"]["config_digest"],
        oci_report()["image"]["config_digest"]
    );
    let mut expected = content(oci_report().clone());
    let dists = expected["python"]["distributions"].as_array_mut().unwrap();
    dists.insert(
        0,
        serde_json::json!({"name": "added", "version": "1.0",
                           "location": "/usr/local/lib/python3.11/dist-packages", "installer": null}),
    );
    assert_eq!(content(report), expected);
}

#[test]
fn a_reference_that_does_not_exist_and_a_registry_that_is_down_are_clear_errors() {
    let bed = testbed();
    for (source, wanted) in [
        (
            format!("docker://{}/rtlock-test/no-such-image:1", bed.registry),
            "no-such-image",
        ),
        (
            "docker://127.0.0.1:1/rtlock-test/x:1".to_string(),
            "127.0.0.1:1",
        ),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("rtlock"));
        testbed().apply_env(&mut cmd);
        let out = cmd
            .args(["--cache-dir", cache.path().to_str().unwrap()])
            .args(["inspect", &source])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{source}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(wanted), "{source}: {err}");
        assert!(out.stdout.is_empty(), "{source}: nothing on stdout");
    }
}
