//! The test bed: real services started by `scripts/test` (see DESIGN.md, "Test bed").
//!
//! `scripts/test` starts them, writes their coordinates to `<repo>/.testbed/env` as
//! `KEY=value` lines and exports the same variables to `cargo test`. [`testbed()`] reads
//! the variables, falling back to the file (so a plain `cargo test` works after
//! `scripts/test --bed-only`), and panics when neither is there: a test that needs the bed
//! fails, it never skips.
//!
//! | variable | field | what |
//! |---|---|---|
//! | `RTLOCK_TEST_REGISTRY` | `registry` | `127.0.0.1:PORT`, plain HTTP, no auth |
//! | `RTLOCK_TEST_REGISTRY_TLS` | `registry_tls` | `127.0.0.1:PORT`, HTTPS (test CA) + htpasswd |
//! | `RTLOCK_TEST_REGISTRY_USER` / `_PASSWORD` | `registry_user` / `registry_password` | credentials of the TLS registry |
//! | `RTLOCK_TEST_CA` | `ca` | the test CA certificate (PEM) |
//! | `RTLOCK_TEST_CA_BUNDLE` | `ca_bundle` | system CAs + test CA, usable as `SSL_CERT_FILE` |
//! | `RTLOCK_TEST_DOCKER_CONFIG` | `docker_config` | a `DOCKER_CONFIG` dir whose `config.json` has `auths` for the TLS registry |
//! | `RTLOCK_TEST_IMAGE_MINIMAL` | `image_minimal` | `127.0.0.1:PORT/rtlock-test/debian-minimal:SUITE` (debootstrap minbase, 1 layer) |
//! | `RTLOCK_TEST_IMAGE_PYTHON` | `image_python` | `…/rtlock-test/debian-python:SUITE` (minimal + python3, python3-pip: 2 layers) |
//! | `RTLOCK_TEST_IMAGE_MINIMAL_OCI` / `_PYTHON_OCI` | `image_minimal_oci` / `image_python_oci` | `PATH:TAG` of the cached OCI layouts (no `oci:` prefix; shared and read-only: see [`TestBed::copy_oci_layout`]) |
//! | `RTLOCK_TEST_IMAGE_R` | `image_r` | `…/rtlock-test/debian-r:SUITE` (minimal + r-base-core without recommends: the base library has the base packages only, no Matrix, lattice, MASS…; 2 layers) |
//! | `RTLOCK_TEST_IMAGE_R_DEV` | `image_r_dev` | `…/rtlock-test/debian-r-dev:SUITE` (debian-r + r-base-dev: compilers and headers for `R CMD INSTALL` of source packages; 3 layers) |
//! | `RTLOCK_TEST_IMAGE_R_OCI` / `_R_DEV_OCI` | `image_r_oci` / `image_r_dev_oci` | `PATH:TAG` of their cached OCI layouts |
//! | `RTLOCK_TEST_CRAN` | `cran` | a CRAN-like repository (the directory holding `src/contrib/`) of real R packages, shared and read-only: serve it with [`super::cran::CranRepo`] |
//! | `RTLOCK_TEST_DEBIAN_MIRROR` / `_SUITE` | `debian_mirror` / `debian_suite` | the Debian archive the images came from (the machine's apt sources) |
//! | `RTLOCK_TEST_DOCKER_HOST` | `docker_host` | the Docker Engine, e.g. `unix:///var/run/docker.sock` |
//!
//! All images are in both registries under the same repository names, and their
//! `/etc/apt/sources.list` names `debian_mirror` and `debian_suite`.
//!
//! The CRAN repository (`scripts/testbed/cran.sh`; its `../contents.txt` lists what is in
//! it and where each file came from): binary packages made of Debian's `r-cran-*.deb`
//! (built for the suite's R) for the closure of ggplot2, dplyr, data.table, DBI, RSQLite,
//! shiny, lme4, sf, igraph, RcppArmadillo and a few more, recommended ones included;
//! CRAN source tarballs (Debian's `.orig` tarballs) of packages outside that closure;
//! `src/contrib/Archive/<Pkg>/` with older versions and an `index.html` listing; and
//! `PACKAGES` written by R's `tools::write_PACKAGES` in `image_r`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Where the test bed is. Every field is set; see the module documentation.
#[derive(Debug, Clone)]
pub struct TestBed {
    pub registry: String,
    pub registry_tls: String,
    pub registry_user: String,
    pub registry_password: String,
    pub ca: PathBuf,
    pub ca_bundle: PathBuf,
    pub docker_config: PathBuf,
    pub image_minimal: String,
    pub image_python: String,
    pub image_minimal_oci: String,
    pub image_python_oci: String,
    pub image_r: String,
    pub image_r_dev: String,
    pub image_r_oci: String,
    pub image_r_dev_oci: String,
    pub cran: PathBuf,
    pub debian_mirror: String,
    pub debian_suite: String,
    pub docker_host: String,
}

const KEYS: [&str; 19] = [
    "RTLOCK_TEST_REGISTRY",
    "RTLOCK_TEST_REGISTRY_TLS",
    "RTLOCK_TEST_REGISTRY_USER",
    "RTLOCK_TEST_REGISTRY_PASSWORD",
    "RTLOCK_TEST_CA",
    "RTLOCK_TEST_CA_BUNDLE",
    "RTLOCK_TEST_DOCKER_CONFIG",
    "RTLOCK_TEST_IMAGE_MINIMAL",
    "RTLOCK_TEST_IMAGE_PYTHON",
    "RTLOCK_TEST_IMAGE_MINIMAL_OCI",
    "RTLOCK_TEST_IMAGE_PYTHON_OCI",
    "RTLOCK_TEST_IMAGE_R",
    "RTLOCK_TEST_IMAGE_R_DEV",
    "RTLOCK_TEST_IMAGE_R_OCI",
    "RTLOCK_TEST_IMAGE_R_DEV_OCI",
    "RTLOCK_TEST_CRAN",
    "RTLOCK_TEST_DEBIAN_MIRROR",
    "RTLOCK_TEST_DEBIAN_SUITE",
    "RTLOCK_TEST_DOCKER_HOST",
];

const NOT_RUNNING: &str = "the test bed is not running: run scripts/test (or scripts/test --bed-only, \
     then cargo test) as root; it starts the registries and the Docker Engine, builds the \
     base images and writes .testbed/env";

/// The test bed of this run. Panics with what to do when it is not running.
pub fn testbed() -> &'static TestBed {
    static BED: OnceLock<TestBed> = OnceLock::new();
    BED.get_or_init(|| match TestBed::load() {
        Ok(bed) => bed,
        Err(why) => panic!("{why}"),
    })
}

/// The env file `scripts/test` writes.
pub fn env_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".testbed")
        .join("env")
}

/// `KEY=value` lines; `#` comments and blank lines are skipped.
pub fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

impl TestBed {
    /// Reads the bed from the environment, else from `.testbed/env`, and checks that its
    /// plain registry accepts connections (a stale env file must not pass for a bed).
    pub fn load() -> Result<TestBed, String> {
        let from_env: HashMap<String, String> = KEYS
            .iter()
            .filter_map(|k| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (k.to_string(), v))
            })
            .collect();
        let file = env_file();
        let from_file = std::fs::read_to_string(&file)
            .map(|t| parse_env(&t))
            .unwrap_or_default();
        if from_env.is_empty() && from_file.is_empty() {
            return Err(format!(
                "{NOT_RUNNING} (no RTLOCK_TEST_* variables, no {})",
                file.display()
            ));
        }
        let get = |k: &str| from_env.get(k).or_else(|| from_file.get(k)).cloned();
        let missing: Vec<&str> = KEYS.iter().copied().filter(|k| get(k).is_none()).collect();
        if !missing.is_empty() {
            return Err(format!(
                "{NOT_RUNNING} (incomplete: {} not set in the environment nor in {})",
                missing.join(", "),
                file.display()
            ));
        }
        let v = |k: &str| get(k).unwrap_or_default();
        let bed = TestBed {
            registry: v("RTLOCK_TEST_REGISTRY"),
            registry_tls: v("RTLOCK_TEST_REGISTRY_TLS"),
            registry_user: v("RTLOCK_TEST_REGISTRY_USER"),
            registry_password: v("RTLOCK_TEST_REGISTRY_PASSWORD"),
            ca: v("RTLOCK_TEST_CA").into(),
            ca_bundle: v("RTLOCK_TEST_CA_BUNDLE").into(),
            docker_config: v("RTLOCK_TEST_DOCKER_CONFIG").into(),
            image_minimal: v("RTLOCK_TEST_IMAGE_MINIMAL"),
            image_python: v("RTLOCK_TEST_IMAGE_PYTHON"),
            image_minimal_oci: v("RTLOCK_TEST_IMAGE_MINIMAL_OCI"),
            image_python_oci: v("RTLOCK_TEST_IMAGE_PYTHON_OCI"),
            image_r: v("RTLOCK_TEST_IMAGE_R"),
            image_r_dev: v("RTLOCK_TEST_IMAGE_R_DEV"),
            image_r_oci: v("RTLOCK_TEST_IMAGE_R_OCI"),
            image_r_dev_oci: v("RTLOCK_TEST_IMAGE_R_DEV_OCI"),
            cran: v("RTLOCK_TEST_CRAN").into(),
            debian_mirror: v("RTLOCK_TEST_DEBIAN_MIRROR"),
            debian_suite: v("RTLOCK_TEST_DEBIAN_SUITE"),
            docker_host: v("RTLOCK_TEST_DOCKER_HOST"),
        };
        let addr = bed.registry.parse().map_err(|e| {
            format!(
                "RTLOCK_TEST_REGISTRY={:?} is not IP:PORT: {e}",
                bed.registry
            )
        })?;
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| {
            format!(
                "{NOT_RUNNING} (its registry {} does not answer: {e}; a stale {}?)",
                bed.registry,
                file.display()
            )
        })?;
        Ok(bed)
    }

    /// `user:password` of the TLS registry, as skopeo's `--creds` wants it.
    pub fn creds(&self) -> String {
        format!("{}:{}", self.registry_user, self.registry_password)
    }

    /// A directory holding the test CA as `ca.crt` (skopeo's `--cert-dir`, docker's certs.d).
    pub fn ca_cert_dir(&self) -> PathBuf {
        let dir = self.ca.with_file_name("certs.d");
        if !dir.join("ca.crt").is_file() {
            std::fs::create_dir_all(&dir).expect("create the CA cert dir");
            std::fs::copy(&self.ca, dir.join("ca.crt")).expect("copy the test CA");
        }
        dir
    }

    /// Environment for a program under test that talks to the bed: trust the test CA
    /// (`SSL_CERT_FILE`), use the bed's docker credentials and Docker Engine.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SSL_CERT_FILE", self.ca_bundle.display().to_string()),
            ("DOCKER_CONFIG", self.docker_config.display().to_string()),
            ("DOCKER_HOST", self.docker_host.clone()),
        ]
    }

    /// Applies [`TestBed::env`] to a command.
    pub fn apply_env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.envs(self.env())
    }

    /// A repository name no other test of this run uses, e.g. to push to:
    /// `127.0.0.1:PORT/rtlock-test/NAME-PID-N` on the plain registry.
    pub fn fresh_repo(&self, name: &str) -> String {
        format!("{}/{}", self.registry, fresh_path(name))
    }

    /// Same as [`TestBed::fresh_repo`], on the TLS registry.
    pub fn fresh_repo_tls(&self, name: &str) -> String {
        format!("{}/{}", self.registry_tls, fresh_path(name))
    }

    /// Copies the cached OCI layout of `oci` (`PATH:TAG`, as `image_*_oci`) to `dest`, for
    /// a test that writes into a layout (the cached ones are shared); returns `DEST:TAG`.
    pub fn copy_oci_layout(&self, oci: &str, dest: &Path) -> String {
        let (path, tag) = split_oci(oci);
        copy_dir(Path::new(path), dest)
            .unwrap_or_else(|e| panic!("copy {path} to {}: {e}", dest.display()));
        format!("{}:{tag}", dest.display())
    }
}

fn fresh_path(name: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "rtlock-test/{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Splits `PATH:TAG` (the `image_*_oci` fields) at the last `:`.
pub fn split_oci(oci: &str) -> (&str, &str) {
    match oci.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, tag),
        _ => (oci, "latest"),
    }
}

fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}

/// Runs `docker ARGS` against the bed's Docker Engine.
pub fn docker(args: &[&str]) -> Output {
    let bed = testbed();
    output(
        Command::new("docker")
            .env("DOCKER_HOST", &bed.docker_host)
            .args(args),
    )
}

/// Runs `skopeo ARGS`; add `--tls-verify=false` for the plain registry, and
/// `--creds`/`--cert-dir` (see [`TestBed::creds`], [`TestBed::ca_cert_dir`]) for the TLS one.
pub fn skopeo(args: &[&str]) -> Output {
    output(Command::new("skopeo").args(args))
}

/// Runs `curl ARGS` (silent, with a timeout, never through a proxy: the bed is local).
pub fn curl(args: &[&str]) -> Output {
    output(
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "--noproxy", "*"])
            .args(args),
    )
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The trimmed standard output of a command that must succeed; panics with its status,
/// stdout and stderr otherwise.
pub fn ok(what: &str, out: Output) -> String {
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The OCI architecture name of this machine (`amd64`, `arm64`, …).
pub fn host_oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The manifest digest the registry serves for `image` (a reference of the plain
/// registry), as skopeo reads it: the tests' independent view of what was pushed.
pub fn registry_digest(image: &str) -> String {
    let reference = if image.starts_with("docker://") {
        image.to_string()
    } else {
        format!("docker://{image}")
    };
    ok(
        "skopeo inspect",
        skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &reference,
        ]),
    )
}

/// The top of a hand-written lock of `image` (a plain-registry reference, pinned by the
/// digest the registry serves) for linux/amd64; tests append `[[apt]]`/`[[pip]]` entries.
pub fn lock_header(image: &str, source_date_epoch: i64) -> String {
    let digest = registry_digest(image);
    format!(
        "version = 1\nmanifest = \"sha256:{zero}\"\nsource-date-epoch = {source_date_epoch}\n\n\
         [base]\nreference = \"{image}\"\ndigest = \"{digest}\"\nmanifest = \"{digest}\"\n\
         platform = \"linux/amd64\"\n",
        zero = "0".repeat(64)
    )
}
