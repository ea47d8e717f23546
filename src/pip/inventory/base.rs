//! The base image's Python as the pip resolver sees it: the interpreter `pip install`
//! would use, the distributions already installed, pip's configured and built-in
//! indexes, and the C library the wheels must run on.
//!
//! Read in the same pass over the base's layers as apt's files, and cached beside them
//! by manifest digest (a small JSON file), so a warm `lock` reads no layer at all.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::base::{dpkg, os};
use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};
use crate::oci::Digest;
use crate::oci::types::ImageConfig;
use crate::pip::inventory as python;

/// Bump when [`BasePython`] or what it is read from changes.
const FORMAT: &str = "python-v2";

/// Alpine's package database: which musl the image has.
const APK_INSTALLED: &str = "lib/apk/db/installed";

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
    /// `1.2`, when the image has no glibc but musl's dynamic loader (`/lib/ld-musl-*`):
    /// its wheels are `musllinux_1_x` ones (PEP 656).
    #[serde(default)]
    pub musl: Option<String>,
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
    if path.ends_with(PIP_DEFAULT_INDEX_FILE) || path == APK_INSTALLED {
        return Some(Keep::Whole);
    }
    python::wanted(path, size).or_else(|| os::wanted(path, size))
}

impl BasePython {
    pub fn from_rootfs(rootfs: &RootFs, config: &ImageConfig) -> Result<BasePython, ImageError> {
        let dpkg = dpkg::packages(rootfs)?;
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
            musl: if glibc.is_none() { musl(rootfs)? } else { None },
            glibc,
        })
    }
}

/// musl's `major.minor` when the image has its loader: from Alpine's package database,
/// else `1.1`, the oldest musl that musllinux wheels are built for.
fn musl(rootfs: &RootFs) -> Result<Option<String>, ImageError> {
    let has_loader = rootfs
        .list_dir("lib")?
        .iter()
        .any(|(name, _)| name.starts_with("ld-musl-") && name.ends_with(".so.1"));
    if !has_loader {
        return Ok(None);
    }
    let version = rootfs.read_file(APK_INSTALLED)?.and_then(|bytes| {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // Paragraphs of `K:value` lines; the `musl` package's `V:1.2.4-r2`.
        text.split("\n\n").find_map(|paragraph| {
            let mut lines = paragraph.lines();
            lines.clone().any(|l| l == "P:musl").then(|| {
                let version = lines.find_map(|l| l.strip_prefix("V:"))?;
                let mut parts = version.split(['.', '-']);
                Some(format!("{}.{}", parts.next()?, parts.next()?))
            })?
        })
    });
    Ok(Some(version.unwrap_or_else(|| "1.1".to_string())))
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

/// The facts an earlier `lock` of the base with this manifest kept.
pub fn read_cached(cache_root: &Path, manifest: &Digest) -> Option<BasePython> {
    crate::base::view::read_facts(cache_root, FORMAT, manifest)
}

/// Keeps `facts` for [`read_cached`]; failing costs only a read of the layers next time.
pub fn store(cache_root: &Path, manifest: &Digest, facts: &BasePython) {
    crate::base::view::store_facts(cache_root, FORMAT, manifest, facts)
}

#[cfg(test)]
mod tests {
    use super::{musl, pip_default_index_url};
    use crate::image::LayerBlob;
    use crate::image::rootfs::RootFs;
    use crate::image::store::BlobLocation;

    /// A one-layer filesystem of `files` (path, content).
    fn rootfs(dir: &std::path::Path, files: &[(&str, &str)]) -> RootFs {
        let path = dir.join("layer.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(0o644);
            header.set_size(text.len() as u64);
            tar.append_data(&mut header, name, text.as_bytes()).unwrap();
        }
        tar.into_inner().unwrap();
        let layer = LayerBlob {
            media_type: Some(crate::oci::media_type::OCI_LAYER_TAR.into()),
            digest: None,
            size: None,
            diff_id: None,
            location: BlobLocation::file(&path).unwrap(),
        };
        RootFs::read(&[layer], &super::wanted).unwrap()
    }

    #[test]
    fn musl_is_told_by_its_loader_and_versioned_by_apk() {
        let dir = tempfile::tempdir().unwrap();
        let apk = "P:busybox\nV:1.36.1-r5\n\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\n\n";
        let alpine = rootfs(
            dir.path(),
            &[
                ("lib/ld-musl-x86_64.so.1", ""),
                ("lib/apk/db/installed", apk),
            ],
        );
        assert_eq!(musl(&alpine).unwrap().as_deref(), Some("1.2"));

        let dir = tempfile::tempdir().unwrap();
        let bare = rootfs(dir.path(), &[("lib/ld-musl-aarch64.so.1", "")]);
        assert_eq!(musl(&bare).unwrap().as_deref(), Some("1.1"));

        let dir = tempfile::tempdir().unwrap();
        let debian = rootfs(dir.path(), &[("lib/x86_64-linux-gnu/libc.so.6", "")]);
        assert_eq!(musl(&debian).unwrap(), None);
    }

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
