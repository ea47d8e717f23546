//! Reading good manifests: every section, defaults, and the `[runtime]` expansion.

use std::path::Path;

use rtlock::manifest::{Compression, Manifest};

fn load(name: &str) -> Manifest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/manifests/good")
        .join(name);
    Manifest::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn reads_every_section_of_the_spec_example() {
    let m = load("full.toml");
    assert_eq!(
        m.base.image,
        "registry.example.com/ml/runtime-python3.11:2024.02.1"
    );
    assert_eq!(m.base.platform.to_string(), "linux/amd64");
    let apt: Vec<String> = m.apt.packages.iter().map(ToString::to_string).collect();
    assert_eq!(
        apt,
        ["graphviz", "libpq5 (>= 15)", "curl (= 7.88.1-10+deb12u5)"]
    );
    assert!(m.apt.install_recommends);
    assert_eq!(m.apt.sources.as_ref().unwrap().len(), 1);
    let pip: Vec<String> = m.pip.packages.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(pip, ["pandas", "scikit-learn", "psycopg2-binary"]);
    assert_eq!(
        m.pip.index_url.as_ref().unwrap().as_str(),
        "http://127.0.0.1:8080/simple/"
    );
    assert_eq!(
        m.pip.allow_upgrade,
        ["numpy"],
        "names are PEP 503-normalized"
    );
    assert_eq!(m.r.packages[1].to_string(), "ggplot2 (>= 3.4)");
    assert_eq!(m.r.repos.as_ref().unwrap().len(), 2);
    assert_eq!(m.image.user.as_deref(), Some("8536"));
    assert_eq!(m.image.workdir.as_deref(), Some("/home/cdsw"));
    assert_eq!(m.image.compression, Compression::Zstd);
    assert_eq!(m.runtime.as_ref().unwrap().maintenance_version, Some(3));
    assert_eq!(m.lock.as_of.unwrap().as_second(), 1_793_491_200);
}

#[test]
fn defaults_are_those_of_the_spec() {
    let m = load("minimal.toml");
    assert_eq!(m.base.platform.to_string(), "linux/amd64");
    assert!(
        m.apt.install_recommends,
        "apt-get installs Recommends by default"
    );
    assert!(m.apt.sources.is_none(), "the base image's own sources");
    assert!(m.pip.index_url.is_none());
    assert!(m.r.repos.is_none());
    assert!(!m.r.suggests);
    assert_eq!(m.image.compression, Compression::Gzip);
    assert!(m.runtime.is_none());
    assert!(m.lock.as_of.is_none());
}

#[test]
fn runtime_metadata_becomes_env_and_labels_that_agree() {
    let m = load("full.toml");
    let image = m.expanded_image();
    let pairs = [
        ("EDITION", "edition", "Data Science"),
        ("EDITOR", "editor", "JupyterLab"),
        (
            "DESCRIPTION",
            "description",
            "Team runtime with graphviz and pandas 2",
        ),
        ("SHORT_VERSION", "short-version", "2024.02"),
        ("MAINTENANCE_VERSION", "maintenance-version", "3"),
        ("FULL_VERSION", "full-version", "2024.02.3"),
    ];
    for (env, label, value) in pairs {
        assert_eq!(image.env[&format!("ML_RUNTIME_{env}")], value);
        assert_eq!(
            image.labels[&format!("com.cloudera.ml.runtime.{label}")],
            value
        );
    }
    // What the user wrote is kept beside it.
    assert_eq!(image.env["TZ"], "UTC");
    assert_eq!(
        image.labels["org.opencontainers.image.source"],
        "https://example.com/repo"
    );
    assert_eq!(image.env.len(), 7);
    assert_eq!(image.labels.len(), 7);
}

#[test]
fn a_missing_file_says_which() {
    let err = Manifest::load(Path::new("/nonexistent/runtime.toml")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/runtime.toml"),
        "{err}"
    );
}

/// The manifest's platform and compression are the OCI layer's own types (one of each),
/// so what the manifest says is what the registry code matches and the layer writer
/// compresses with, and the lock's strings read back to the same values.
#[test]
fn platform_and_compression_are_the_oci_types() {
    let m = load("full.toml");
    let compression: rtlock::oci::layer::Compression = m.image.compression;
    assert_eq!(
        rtlock::oci::layer::Compression::from_lock(compression.as_str()),
        Some(compression)
    );
    let platform: &rtlock::oci::types::Platform = &m.base.platform;
    assert!(platform.matches("linux", "amd64", None));
    for written in ["linux/amd64", "linux/arm64/v8"] {
        let parsed: rtlock::oci::types::Platform = written.parse().unwrap();
        assert_eq!(parsed.to_string(), written);
    }
    assert!("linux".parse::<rtlock::oci::types::Platform>().is_err());
}
