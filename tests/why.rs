//! `rtlock why`: shortest paths from requested packages, through the lock's requires.

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
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .args(["why", name])
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
    why("libc6")
        .code(1)
        .stderr(predicate::str::contains("`libc6` is not in runtime.lock"));
}
