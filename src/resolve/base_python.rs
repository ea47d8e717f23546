//! The base image's Python as the pip resolver sees it: the interpreter `pip install`
//! would use, the distributions already installed, pip's configured and built-in
//! indexes, and the C library the wheels must run on.
//!
//! Read in the same pass over the base's layers as apt's files, and cached beside them
//! by manifest digest (a small JSON file), so a warm `lock` reads no layer at all.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};
use crate::inventory::{self, os, python};
use crate::oci::Digest;
use crate::oci::types::ImageConfig;

/// Bump when [`BasePython`] or what it is read from changes.
const FORMAT: &str = "python-v1";

/// Where pip keeps its built-in default index (`PyPI = PackageIndex("https://…/", …)`).
const PIP_DEFAULT_INDEX_FILE: &str = "/pip/_internal/models/index.py";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasePython {
    /// The image's `python3`, when it has one.
    pub interpreter: Option<Interpreter>,
    /// Installed distributions: (name as installed, version), every site directory.
    pub distributions: Vec<(String, String)>,
    /// The index the image's own pip configuration names (pip.conf, `PIP_INDEX_URL`).
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// The index pip uses when nothing is configured, read from the image's own pip.
    pub pip_default_index: Option<String>,
    /// `2.36`, when the image has glibc.
    pub glibc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpreter {
    pub path: String,
    /// `3.11.2` (or `3.11` when the image does not say more).
    pub version: String,
    pub purelib: String,
}

/// The files [`BasePython::from_rootfs`] reads, for [`RootFs::read`].
pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    if path.ends_with(PIP_DEFAULT_INDEX_FILE) {
        return Some(Keep::Whole);
    }
    python::wanted(path, size).or_else(|| os::wanted(path, size))
}

impl BasePython {
    pub fn from_rootfs(rootfs: &RootFs, config: &ImageConfig) -> Result<BasePython, ImageError> {
        let dpkg = inventory::apt::inventory(rootfs)?.packages;
        let py = python::inventory(rootfs, config, &dpkg)?;
        let glibc = os::inventory(rootfs, config, &dpkg)?
            .glibc
            .map(|g| g.version);
        // `python3` as PATH finds it: the first interpreter with that name, else the first.
        let chosen = py
            .interpreters
            .iter()
            .find(|i| {
                i.path.ends_with("/python3") || i.aliases.iter().any(|a| a.ends_with("/python3"))
            })
            .or(py.interpreters.first());
        let mut pip_default_index = None;
        if let Some(interpreter) = chosen {
            for dir in &interpreter.site_packages {
                let file = format!("{}{PIP_DEFAULT_INDEX_FILE}", dir.trim_start_matches('/'));
                if let Some(bytes) = rootfs.read_file(&file)? {
                    pip_default_index = pip_default_index_url(&String::from_utf8_lossy(&bytes));
                    if pip_default_index.is_some() {
                        break;
                    }
                }
            }
        }
        Ok(BasePython {
            interpreter: chosen.map(|i| Interpreter {
                path: i.path.clone(),
                version: i.version.clone(),
                purelib: i.purelib.clone(),
            }),
            distributions: py
                .distributions
                .iter()
                .map(|d| (d.name.clone(), d.version.clone()))
                .collect(),
            index_url: py.pip.index_url.clone(),
            extra_index_urls: py.pip.extra_index_urls.clone(),
            pip_default_index,
            glibc,
        })
    }
}

/// `https://host/simple` from pip's `PyPI = PackageIndex("https://host/", …)`: pip
/// joins `simple` onto the URL it is given.
fn pip_default_index_url(source: &str) -> Option<String> {
    let line = source
        .lines()
        .find(|l| l.trim_start().starts_with("PyPI") && l.contains("PackageIndex("))?;
    let args = line.split_once("PackageIndex(")?.1;
    let quote = args
        .trim_start()
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')?;
    let url = args.trim_start()[1..].split(quote).next()?;
    let base = url::Url::parse(url).ok()?;
    Some(base.join("simple").ok()?.to_string())
}

fn cached_path(cache_root: &Path, manifest: &Digest) -> PathBuf {
    cache_root
        .join("base-files")
        .join(FORMAT)
        .join(format!("{}.json", manifest.hex()))
}

/// The facts an earlier `lock` of the base with this manifest kept.
pub fn read_cached(cache_root: &Path, manifest: &Digest) -> Option<BasePython> {
    let bytes = std::fs::read(cached_path(cache_root, manifest)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Keeps `facts` for [`read_cached`]; failing costs only a read of the layers next time.
pub fn store(cache_root: &Path, manifest: &Digest, facts: &BasePython) {
    let path = cached_path(cache_root, manifest);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        let json = serde_json::to_vec(facts).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&path, &json)
    };
    if let Err(e) = write() {
        tracing::debug!(
            "could not keep the base's Python facts in {}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::pip_default_index_url;

    #[test]
    fn pip_default_index_is_read_from_pips_own_source() {
        let source = "class PackageIndex:\n    pass\n\n\nPyPI = PackageIndex(\"https://index.example/\", file_storage_domain=\"files.example\")\nTestPyPI = PackageIndex(\"https://test.example/\", file_storage_domain=\"x\")\n";
        assert_eq!(
            pip_default_index_url(source).as_deref(),
            Some("https://index.example/simple")
        );
        assert_eq!(pip_default_index_url("nothing here"), None);
    }
}
