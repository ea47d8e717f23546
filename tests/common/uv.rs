//! uv as an oracle: installed at test time into a venv cached on this machine, and run
//! as `uv pip compile` for the same target rtlock locks for (the test bed's python image:
//! Debian bookworm, CPython 3.11.2, glibc 2.36, x86_64).
//!
//! ```ignore
//! let base = common::uv::base_distributions(&testbed().image_python);
//! let pins = common::uv::Compile::new(&common::uv::configured_index(), "2025-06-01T00:00:00Z")
//!     .constraints(&base)
//!     .run(&["pandas<2.2"]);
//! assert_eq!(pins["pandas"], "2.1.4");
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use tempfile::TempDir;

use super::testbed::ok;

/// The venv holding uv, shared by every test binary and run on this machine.
pub const VENV: &str = "/var/cache/rtlock-testbed/uv";

/// The test bed python image's interpreter and platform, in uv's words (`uv pip compile
/// --help` lists the platforms it accepts; `x86_64-manylinux_2_36` is glibc 2.36).
pub const PYTHON_VERSION: &str = "3.11.2";
pub const PYTHON_PLATFORM: &str = "x86_64-manylinux_2_36";

/// The same target in pip's words, for `pip download` / `pip install --target` run on
/// this machine for the bed's Python.
pub const PIP_TARGET: [&str; 20] = [
    "--only-binary",
    ":all:",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
    "--abi",
    "abi3",
    "--abi",
    "none",
    "--platform",
    "manylinux_2_36_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--platform",
    "any",
];

/// Issue 5's 12-package data-science set (about 120 pins): an oracle case and the lock
/// bench's input.
pub const TWELVE_PACKAGES: [&str; 12] = [
    "pandas",
    "scikit-learn",
    "matplotlib",
    "seaborn",
    "pyarrow",
    "xgboost",
    "statsmodels",
    "plotly",
    "sqlalchemy",
    "psycopg2-binary",
    "boto3",
    "jupyterlab",
];

/// The uv executable, installed on first use (`python3 -m venv` + `pip install uv`, from
/// the machine's configured index). An exclusive file lock beside the venv keeps
/// parallel test binaries from building it at the same time; a venv without uv (an
/// interrupted install) is made again.
pub fn uv() -> &'static Path {
    static UV: OnceLock<PathBuf> = OnceLock::new();
    UV.get_or_init(|| {
        let venv = Path::new(VENV);
        let uv = venv.join("bin/uv");
        std::fs::create_dir_all(venv.parent().unwrap()).expect("create the test bed cache");
        let lock_path = venv.with_extension("lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
        if !works(&uv) {
            if venv.exists() {
                std::fs::remove_dir_all(venv).expect("remove the broken uv venv");
            }
            ok(
                "python3 -m venv",
                output(Command::new("python3").args(["-m", "venv"]).arg(venv)),
            );
            ok(
                "pip install uv",
                output(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "uv"])),
            );
            assert!(
                works(&uv),
                "pip install uv left no working {}",
                uv.display()
            );
        }
        drop(lock);
        uv
    })
}

fn works(uv: &Path) -> bool {
    uv.is_file()
        && Command::new(uv)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

/// The Python index this machine is configured for: pip's own default here (no index
/// host is written in this repository; pip knows it).
pub fn configured_index() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = ok(
            "python3 (pip's default index)",
            output(Command::new("python3").args([
                "-c",
                "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
            ])),
        );
        assert!(url.starts_with("http"), "pip's default index is {url:?}");
        url
    })
    .clone()
}

/// The Python distributions `image` holds (normalized name → version), as `rtlock inspect
/// --format json` reads them: what a lock of that base keeps at their versions.
pub fn base_distributions(image: &str) -> BTreeMap<String, String> {
    let bed = super::testbed::testbed();
    let json = ok(
        "rtlock inspect --format json",
        output(
            bed.apply_env(&mut Command::new(env!("CARGO_BIN_EXE_rtlock")))
                .args(["inspect", "--format", "json", image]),
        ),
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    report["python"]["distributions"]
        .as_array()
        .expect("inspect JSON has python.distributions")
        .iter()
        .map(|d| {
            (
                normalize(d["name"].as_str().unwrap()),
                d["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// PEP 503 normalization (`Foo_Bar.baz` → `foo-bar-baz`), for comparing names.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// One `uv pip compile` run: the index, `--exclude-newer`, the bed's Python and platform,
/// wheels only, and the base image's distributions as constraints.
#[derive(Debug, Clone)]
pub struct Compile {
    pub index_url: String,
    pub exclude_newer: String,
    pub python_version: String,
    pub python_platform: String,
    /// name → version, passed as `name==version` constraints.
    pub constraints: BTreeMap<String, String>,
    /// uv's `--cache-dir`; `None` gives each run a fresh, empty one.
    pub cache_dir: Option<PathBuf>,
    pub offline: bool,
}

impl Compile {
    pub fn new(index_url: &str, exclude_newer: &str) -> Compile {
        Compile {
            index_url: index_url.to_string(),
            exclude_newer: exclude_newer.to_string(),
            python_version: PYTHON_VERSION.to_string(),
            python_platform: PYTHON_PLATFORM.to_string(),
            constraints: BTreeMap::new(),
            cache_dir: None,
            offline: false,
        }
    }

    pub fn constraints(mut self, constraints: &BTreeMap<String, String>) -> Compile {
        self.constraints = constraints.clone();
        self
    }

    pub fn platform(mut self, python_platform: &str) -> Compile {
        self.python_platform = python_platform.to_string();
        self
    }

    pub fn cache_dir(mut self, dir: &Path, offline: bool) -> Compile {
        self.cache_dir = Some(dir.to_path_buf());
        self.offline = offline;
        self
    }

    /// The command line for `requirements` (PEP 508 strings), with its input files
    /// written into `work`.
    pub fn command(&self, requirements: &[&str], work: &Path) -> Command {
        let input = work.join("requirements.in");
        std::fs::write(&input, requirements.join("\n") + "\n").unwrap();
        let constraints = work.join("constraints.txt");
        let lines: String = self
            .constraints
            .iter()
            .map(|(n, v)| format!("{n}=={v}\n"))
            .collect();
        std::fs::write(&constraints, lines).unwrap();
        let mut cmd = Command::new(uv());
        cmd.args(["pip", "compile", "--quiet", "--no-header", "--no-annotate"])
            .args(["--index-url", &self.index_url])
            .args(["--exclude-newer", &self.exclude_newer])
            .args(["--python-version", &self.python_version])
            .args(["--python-platform", &self.python_platform])
            .args(["--only-binary", ":all:"])
            .arg("--constraint")
            .arg(&constraints)
            .arg(&input)
            // Only what this command line says: no uv.toml or environment of the machine.
            .arg("--no-config")
            .env_remove("UV_INDEX_URL")
            .env_remove("UV_EXTRA_INDEX_URL")
            .env_remove("PIP_FIND_LINKS");
        match &self.cache_dir {
            Some(dir) => cmd.arg("--cache-dir").arg(dir),
            None => cmd.arg("--cache-dir").arg(work.join("uv-cache")),
        };
        if self.offline {
            cmd.arg("--offline");
        }
        cmd
    }

    /// Resolves `requirements` and returns uv's pins (normalized name → version);
    /// panics with uv's output when it fails.
    pub fn run(&self, requirements: &[&str]) -> BTreeMap<String, String> {
        let work = TempDir::new().unwrap();
        let pins = ok(
            &format!("uv pip compile {requirements:?}"),
            output(&mut self.command(requirements, work.path())),
        );
        parse_pins(&pins)
    }
}

/// `name==version` lines of a compiled requirements file (comments, options and hash
/// continuation lines skipped).
pub fn parse_pins(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-'))
        .filter_map(|l| {
            let spec = l.split([';', ' ', '\\']).next()?;
            let (name, version) = spec.split_once("==")?;
            let name = name.split('[').next()?;
            Some((normalize(name), version.trim().to_string()))
        })
        .collect()
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}
