//! `rtlock why`: shortest paths from requested packages, through the lock's requires;
//! what the base image provides, read through its facts; the nearest name otherwise.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;

const LOCK: &str = r#"version = 1
manifest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
source-date-epoch = 0

[base]
reference = "registry.example.com/ml/runtime:1"
digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
manifest = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
platform = "linux/amd64"
"#;

fn apt(name: &str, requested: bool, requires: &[&str]) -> String {
    let requires: Vec<String> = requires.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "\n[[apt]]\nname = \"{name}\"\nversion = \"1.0\"\narch = \"amd64\"\nurl = \"http://mirror/debian/pool/{name}_1.0_amd64.deb\"\nfilename = \"pool/{name}_1.0_amd64.deb\"\nsha256 = \"{}\"\nsize = 1\n{}requires = [{}]\n",
        "4".repeat(64),
        if requested { "requested = true\n" } else { "" },
        requires.join(", ")
    )
}

fn pip(name: &str, requested: bool, requires: &[&str]) -> String {
    // A wheel's file name escapes `-` in the project name (PEP 427).
    let file = format!("{}-2.0-py3-none-any.whl", name.replace('-', "_"));
    let requires: Vec<String> = requires.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "\n[[pip]]\nname = \"{name}\"\nversion = \"2.0\"\nfile = \"{file}\"\nurl = \"http://127.0.0.1/{file}\"\nsha256 = \"{}\"\nsize = 1\n{}requires = [{}]\n",
        "5".repeat(64),
        if requested { "requested = true\n" } else { "" },
        requires.join(", ")
    )
}

fn why(name: &str) -> assert_cmd::assert::Assert {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        LOCK.to_string(),
        // graphviz → libgvc6 → libcgraph6; graphviz → libcgraph6 directly is shorter.
        apt("graphviz", true, &["libgvc6", "libcgraph6", "libc6"]),
        apt("libgvc6", false, &["libcgraph6", "libpathplan4"]),
        apt("libcgraph6", false, &["libcdt5"]),
        apt("libcdt5", false, &[]),
        apt("libpathplan4", false, &[]),
        apt("libpq5", true, &["libgssapi-krb5-2"]),
        apt("libgssapi-krb5-2", false, &["libpathplan4"]),
        pip("scikit-learn", true, &["numpy", "scipy"]),
        pip("scipy", false, &["numpy"]),
        pip("numpy", false, &[]),
    ]
    .concat();
    std::fs::write(dir.path().join("runtime.lock"), text).unwrap();
    // Offline with an empty cache: the made-up base cannot be read, quickly.
    let cache = dir.path().join("cache").display().to_string();
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .args(["--offline", "--cache-dir", &cache, "why", name])
        .assert()
}

#[test]
fn shows_the_shortest_path_from_each_requested_package() {
    why("libpathplan4").success().stdout(
        "libpathplan4 1.0 (apt)\n  graphviz → libgvc6 → libpathplan4\n  libpq5 → libgssapi-krb5-2 → libpathplan4\n",
    );
    why("libcdt5")
        .success()
        .stdout("libcdt5 1.0 (apt)\n  graphviz → libcgraph6 → libcdt5\n");
}

#[test]
fn requested_packages_say_so_and_pip_names_are_normalized() {
    why("Scikit_Learn")
        .success()
        .stdout("scikit-learn 2.0 (pip)\n  requested in the manifest\n");
    why("numpy")
        .success()
        .stdout("numpy 2.0 (pip)\n  scikit-learn → numpy\n");
}

#[test]
fn a_package_not_in_the_lock_is_an_error() {
    // The base cannot be read (offline, nothing cached): said, with the nearest name.
    why("libc6")
        .code(1)
        .stderr(predicate::str::contains("`libc6` is not in runtime.lock"))
        .stderr(predicate::str::contains(
            "the base image registry.example.com/ml/runtime:1 could not be read",
        ));
    why("libgvc").code(1).stderr(predicate::str::contains(
        "help: did you mean `apt:libgvc6`?",
    ));
    // `pip:` asks pip only.
    why("pip:graphviz")
        .code(1)
        .stderr(predicate::str::contains("`pip:graphviz` is not in"));
}

/// A diamond: two shortest paths from one requested package, both shown.
#[test]
fn every_shortest_path_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        LOCK.to_string(),
        apt("top", true, &["left", "right"]),
        apt("left", false, &["bottom"]),
        apt("right", false, &["bottom"]),
        apt("bottom", false, &[]),
    ]
    .concat();
    std::fs::write(dir.path().join("runtime.lock"), text).unwrap();
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .args(["why", "apt:bottom"])
        .assert()
        .success()
        .stdout("bottom 1.0 (apt)\n  top → left → bottom\n  top → right → bottom\n");
}

/// The bed's python base locked with no package at all: everything `why` can name is
/// the base's, read through its facts.
fn locked_base(image: &str) -> (tempfile::TempDir, String) {
    let bed = common::testbed::testbed();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!("[base]\nimage = \"{image}\"\n"),
    )
    .unwrap();
    let cache = dir.path().join("cache").display().to_string();
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .envs(bed.env())
        .args(["--cache-dir", &cache, "lock"])
        .assert()
        .success();
    (dir, cache)
}

fn why_in(dir: &std::path::Path, cache: &str, name: &str) -> std::process::Output {
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .envs(common::testbed::testbed().env())
        .env("NO_COLOR", "1")
        .args(["--cache-dir", cache, "why", name])
        .output()
        .unwrap()
}

/// What the base's own tools say: `dpkg-query` for a package's version.
fn dpkg_version(image: &str, package: &str) -> String {
    common::testbed::ok(
        "dpkg-query",
        common::testbed::docker(&[
            "run",
            "--rm",
            "--network=none",
            image,
            "dpkg-query",
            "-W",
            "-f",
            "${Version}",
            package,
        ]),
    )
}

#[test]
fn a_package_the_base_provides_is_named_with_its_version() {
    let bed = common::testbed::testbed();
    let image = &bed.image_r;
    let (dir, cache) = locked_base(image);
    let lock = rtlock::lockfile::Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    let shown = |out: &std::process::Output| {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        text.replace(&lock.base.reference, "[BASE]")
            .replace(lock.base.digest.as_str(), "[DIGEST]")
    };

    common::cran::pull(image);
    let bash = why_in(dir.path(), &cache, "bash");
    assert!(bash.status.success(), "{}", shown(&bash));
    let version = dpkg_version(image, "bash");
    insta::assert_snapshot!(
        "why_base_provides_bash",
        shown(&bash).replace(&version, "[VERSION]")
    );

    // R's own packages, from the base's R library; the ecosystem named.
    let stats = why_in(dir.path(), &cache, "r:stats");
    assert!(stats.status.success(), "{}", shown(&stats));
    let r_version = common::testbed::ok(
        "R version",
        common::testbed::docker(&[
            "run",
            "--rm",
            "--network=none",
            image,
            "Rscript",
            "-e",
            "cat(format(getRversion()))",
        ]),
    );
    assert_eq!(
        shown(&stats).lines().next().unwrap(),
        format!("provided by the base image: stats {r_version} (r)")
    );
    // `apt:` asks apt only: there is no Debian package `stats`.
    assert_eq!(
        why_in(dir.path(), &cache, "apt:stats").status.code(),
        Some(1)
    );

    // Nowhere: an error with the nearest name.
    let typo = why_in(dir.path(), &cache, "bsah");
    assert_eq!(typo.status.code(), Some(1), "{}", shown(&typo));
    insta::assert_snapshot!("why_not_in_this_runtime", shown(&typo));
}
