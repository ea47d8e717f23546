//! What `lock` reads of the base's R: the installation packages go into, its version and
//! platform (what binary packages must have been built for), the packages its libraries
//! hold, and the shared libraries the base provides (so that only the sonames it lacks
//! are asked of apt). Kept by the base's manifest digest like the other base facts.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{R, inventory};
use crate::base::dpkg;
use crate::deb822::owned::paragraphs;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, Kind, RootFs};
use crate::oci::Digest;
use crate::oci::types::ImageConfig;

/// Versions the stored facts; bump when [`BaseR`] changes meaning.
const FORMAT: &str = "r-v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BaseR {
    /// The R that `R` on the image's PATH runs (the first installation found).
    pub r: Option<BaseRInstall>,
    /// Basenames of the shared objects anywhere in the base's library directories
    /// (`libc.so.6`, `libR.so`), regular files and symbolic links alike: what the
    /// dynamic loader can find there.
    pub sonames: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRInstall {
    /// `R.home()`.
    pub home: String,
    /// `4.2.2`.
    pub version: String,
    /// `x86_64-pc-linux-gnu`: the platform of the `Built:` field of its `base`
    /// package, which binary packages must match.
    pub platform: Option<String>,
    /// `.libPaths()` as root sees it: packages go into the first.
    pub library_paths: Vec<String>,
    /// The image's `Rprofile.site` (path, text), when it has one: its `repos` option is
    /// the default repository list.
    pub rprofile_site: Option<(String, String)>,
    pub packages: Vec<BaseRPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRPackage {
    pub name: String,
    pub version: String,
    /// `base` or `recommended` for R's own packages.
    pub priority: Option<String>,
    pub library: String,
}

/// The files the facts are read from, besides [`super::wanted`]'s.
pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    super::wanted(path, size)
}

impl BaseR {
    pub fn from_rootfs(rootfs: &RootFs, config: &ImageConfig) -> Result<BaseR, ImageError> {
        let dpkg = dpkg::packages(rootfs)?;
        let installs = inventory(rootfs, config, &dpkg)?;
        let r = match installs.into_iter().next() {
            Some(r) => Some(install(rootfs, r)?),
            None => None,
        };
        Ok(BaseR {
            r,
            sonames: sonames(rootfs),
        })
    }
}

fn install(rootfs: &RootFs, r: R) -> Result<BaseRInstall, ImageError> {
    let read = |path: &str| -> Result<Option<String>, ImageError> {
        Ok(rootfs
            .read_file(path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    };
    // R's own packages record the platform R was built for; those without compiled
    // code (`base` itself) record none, so ask the ones that have some.
    let mut platform = None;
    for package in ["utils", "stats", "methods", "tools", "grDevices", "base"] {
        platform = read(&format!("{}/library/{package}/DESCRIPTION", r.home))?.and_then(|text| {
            let built = paragraphs(&text).first()?.get("Built")?.to_string();
            built_platform(&built)
        });
        if platform.is_some() {
            break;
        }
    }
    let rprofile_site = match &r.rprofile_site {
        Some(path) => read(path)?.map(|text| (path.clone(), text)),
        None => None,
    };
    Ok(BaseRInstall {
        home: r.home,
        version: r.version.unwrap_or_default(),
        platform,
        library_paths: r.library_paths,
        rprofile_site,
        packages: r
            .packages
            .into_iter()
            .map(|p| BaseRPackage {
                name: p.name,
                version: p.version,
                priority: p.priority,
                library: p.library,
            })
            .collect(),
    })
}

/// The platform of a `Built: R 4.2.2; x86_64-pc-linux-gnu; 2023-…; unix` field (empty
/// for a package without compiled code: then `None`).
fn built_platform(built: &str) -> Option<String> {
    let platform = built.split(';').nth(1)?.trim();
    (!platform.is_empty()).then(|| platform.to_string())
}

/// Whether `name` is a shared object's file name: `libfoo.so`, `libfoo.so.1.2`,
/// `foo.so`.
pub fn is_shared_object_name(name: &str) -> bool {
    name.ends_with(".so") || name.contains(".so.")
}

fn sonames(rootfs: &RootFs) -> BTreeSet<String> {
    rootfs
        .paths()
        .filter(|(_, node)| matches!(node.kind, Kind::File | Kind::Symlink))
        .filter_map(|(path, _)| {
            let in_library_dir = path.starts_with("lib")
                || path.starts_with("usr/lib")
                || path.starts_with("usr/local/lib")
                || path.starts_with("opt/");
            let name = path.rsplit('/').next()?;
            (in_library_dir && is_shared_object_name(name)).then(|| name.to_string())
        })
        .collect()
}

/// The facts an earlier `lock` of the base with this manifest kept.
pub fn read_cached(cache_root: &Path, manifest: &Digest) -> Option<BaseR> {
    crate::base::view::read_facts(cache_root, FORMAT, manifest)
}

/// Keeps `facts` for [`read_cached`].
pub fn store(cache_root: &Path, manifest: &Digest, facts: &BaseR) {
    crate::base::view::store_facts(cache_root, FORMAT, manifest, facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_of_built() {
        assert_eq!(
            built_platform("R 4.2.2; x86_64-pc-linux-gnu; 2023-01-10 12:00:00 UTC; unix"),
            Some("x86_64-pc-linux-gnu".to_string())
        );
        assert_eq!(
            built_platform("R 4.2.2; ; 2023-01-10 12:00:00 UTC; unix"),
            None
        );
    }

    #[test]
    fn shared_object_names() {
        assert!(is_shared_object_name("libgdal.so.32"));
        assert!(is_shared_object_name("sf.so"));
        assert!(!is_shared_object_name("libfoo.a"));
        assert!(!is_shared_object_name("notes.sop"));
    }
}
