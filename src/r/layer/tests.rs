//! The R layer's inputs, mirrors and messages.

use super::*;
use crate::oci::Digest;

#[test]
fn a_mirror_is_asked_as_a_cran_like_repository_current_then_archive() {
    let mirrors = [
        Url::parse("http://127.0.0.1:8080/cran").unwrap(),
        Url::parse("file:///srv/mirror/r/binary/").unwrap(),
    ];
    let dirs: Vec<String> = mirror_dirs(&mirrors, "data.table")
        .iter()
        .map(|u| u.join("data.table_1.15.4.tar.gz").unwrap().to_string())
        .collect();
    assert_eq!(
        dirs,
        [
            "http://127.0.0.1:8080/cran/src/contrib/data.table_1.15.4.tar.gz",
            "http://127.0.0.1:8080/cran/src/contrib/Archive/data.table/data.table_1.15.4.tar.gz",
            "file:///srv/mirror/r/binary/src/contrib/data.table_1.15.4.tar.gz",
            "file:///srv/mirror/r/binary/src/contrib/Archive/data.table/data.table_1.15.4.tar.gz",
        ]
    );
}

fn lock(r: &str) -> Lockfile {
    let text = format!(
        "version = 1\nmanifest = \"sha256:{zeros}\"\nsource-date-epoch = 0\n\n[base]\n\
         reference = \"registry.example.com/base:1\"\ndigest = \"sha256:{zeros}\"\n\
         manifest = \"sha256:{zeros}\"\nplatform = \"linux/amd64\"\n{r}",
        zeros = "0".repeat(64)
    );
    crate::lockfile::parse(&text, std::path::Path::new("runtime.lock")).unwrap()
}

fn entry(name: &str, kind: &str, sha: char, requires: &[&str]) -> String {
    format!(
        "\n[[r]]\nname = \"{name}\"\nversion = \"1.0\"\nkind = \"{kind}\"\n\
         url = \"http://127.0.0.1/src/contrib/{name}_1.0.tar.gz\"\nsha256 = \"{}\"\n\
         size = 1\nrequires = {requires:?}\n",
        sha.to_string().repeat(64)
    )
}

#[test]
fn the_key_follows_every_pin_the_kind_and_the_layers_below() {
    let a = entry("Aa", "binary", 'a', &[]);
    let b = entry("Bb", "source", 'b', &["Aa"]);
    let key = |text: &str, below: &[Digest]| layer_inputs(&lock(text), below).key();
    let base = key(&format!("{a}{b}"), &[]);
    assert_eq!(base, key(&format!("{a}{b}"), &[]));
    assert_ne!(
        base,
        key(&format!("{a}{}", entry("Bb", "binary", 'b', &["Aa"])), &[])
    );
    assert_ne!(
        base,
        key(&format!("{a}{}", entry("Bb", "source", 'c', &["Aa"])), &[])
    );
    assert_ne!(base, key(&format!("{a}{b}"), &[Digest::of(b"apt layer")]));
    let inputs = layer_inputs(&lock(&format!("{a}{b}")), &[]);
    assert_eq!(inputs.kind, "r");
    assert_eq!(inputs.step.as_deref(), Some("r-cmd-install/1: Bb"));
    assert_eq!(layer_inputs(&lock(&a), &[]).step, None);
}

#[test]
fn the_messages_of_a_build_that_cannot_end_well_say_what_to_do() {
    let no_engine = RLayerError::NoEngine {
        host: "unix:///var/run/docker.sock".into(),
        reason: "--no-daemon was given".into(),
        packages: vec!["bitops".into(), "iterators".into(), "foreach".into()],
    };
    insta::assert_snapshot!("no_engine", no_engine.to_string());
    let failed = RLayerError::BuildFailed {
        package: "Broken 1.0".into(),
        exit_code: 1,
        log_tail: "broken.c:2:25: error: expected expression before ';' token\n\
                   ERROR: compilation failed for package 'Broken'"
            .into(),
        system_requirements: Some("libbroken-dev (>= 2.1), GNU make".into()),
    };
    insta::assert_snapshot!("build_failed", failed.to_string());
    let undeclared = RLayerError::BuildFailed {
        package: "Broken 1.0".into(),
        exit_code: 1,
        log_tail: "ERROR: compilation failed for package 'Broken'".into(),
        system_requirements: None,
    };
    assert!(
        undeclared
            .to_string()
            .contains("its SystemRequirements: none declared"),
        "{undeclared}"
    );
    let fetch = RLayerError::Fetch {
        package: "R6 2.5.1".into(),
        name: "R6".into(),
        filename: "R6_2.5.1.tar.gz".into(),
        failures: vec!["http://127.0.0.1:8080/src/contrib/R6_2.5.1.tar.gz: sha256 mismatch".into()],
    };
    insta::assert_snapshot!("fetch", fetch.to_string());
}
