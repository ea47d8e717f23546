//! apt from manifest to running container, live against the machine's configured Debian
//! mirror (the python base image's own sources): `lock` graphviz and the PostgreSQL
//! client, `build` with the maintainer scripts run in a container (`--check`: two
//! independent builds, one digest), then run the image: dpkg and apt are satisfied,
//! every locked package is installed at its locked version, the programs run. The same
//! lock under `--no-daemon` is reproducible too and leaves the scripted packages
//! unconfigured, saying which.

mod common;

use std::path::Path;
use std::process::Output;

use common::testbed::{docker, ok, testbed};
use rtlock::lockfile::Lockfile;

fn rtlock(dir: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rtlock"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SOURCE_DATE_EPOCH", "1761955200")
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .output()
        .unwrap()
}

fn succeed(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The config digest of the one image of an OCI layout.
fn oci_config_digest(layout: &Path) -> String {
    let read = |path: std::path::PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let index = read(layout.join("index.json"));
    let manifest = read(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    manifest["config"]["digest"].as_str().unwrap().to_string()
}

#[test]
fn live_graphviz_and_psql_lock_build_configure_and_run() {
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}\"\n\n[apt]\npackages = [\"graphviz\", \"postgresql-client\"]\n",
            testbed().image_python
        ),
    )
    .unwrap();
    succeed("rtlock lock", rtlock(dir.path(), &["lock"]));
    let lock = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert!(
        lock.apt.len() > 20,
        "graphviz pulls in its libraries: {:?}",
        lock.apt
    );

    let tag = format!("rtlock-test/apt-e2e:{}", std::process::id());
    let stderr = succeed(
        "rtlock build --check",
        rtlock(
            dir.path(),
            &["build", "--check", "-o", &format!("docker-daemon:{tag}")],
        ),
    );
    assert!(!stderr.contains("did not run"), "{stderr}");

    let script = "dpkg --audit; apt-get check -qq; dot -V 2>&1; psql --version; \
                  dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n'";
    let out = ok(
        "docker run",
        docker(&["run", "--rm", "--network", "none", &tag, "sh", "-c", script]),
    );
    // The engine got plain-tar layers (it stores them so): the image ID is still the
    // config digest of the same lock built to an OCI layout with gzip layers.
    let image_id = ok(
        "docker image inspect",
        docker(&["image", "inspect", "--format", "{{.Id}}", &tag]),
    );
    let _ = docker(&["rmi", &tag]);
    let layout = dir.path().join("oci-gzip");
    succeed(
        "rtlock build -o oci:",
        rtlock(
            dir.path(),
            &["build", "-o", &format!("oci:{}", layout.display())],
        ),
    );
    assert_eq!(image_id.trim(), oci_config_digest(&layout));
    assert!(out.contains("dot - graphviz version"), "{out}");
    assert!(out.contains("psql (PostgreSQL)"), "{out}");
    for package in &lock.apt {
        let line = format!("{} {} ii ", package.name, package.version);
        assert!(
            out.lines().any(|l| format!("{l} ").starts_with(&line)),
            "{} {} is not installed and configured:\n{out}",
            package.name,
            package.version
        );
    }
    // `dpkg --audit` and `apt-get check` print nothing when all is well: the first
    // line is dot's.
    assert!(out.starts_with("dot - graphviz"), "{out}");

    // Without the engine: reproducible as well, and honest about what did not run.
    let stderr = succeed(
        "rtlock build --no-daemon --check",
        rtlock(
            dir.path(),
            &[
                "build",
                "--no-daemon",
                "--check",
                "-o",
                &format!("oci:{}", dir.path().join("oci").display()),
            ],
        ),
    );
    assert!(stderr.contains("did not run"), "{stderr}");
}
