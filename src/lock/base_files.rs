//! What the ecosystems' `lock.rs` read of the base, in one pass over its layers: apt's
//! files (dpkg's database, apt's configuration, keyrings) and the facts of its Python
//! and its R.
//! Each is kept by the base's manifest digest ([`crate::base::view`]); so is the apt
//! installer's view of the base, read in the same pass, so that `build` reads no layer
//! either.

use std::path::Path;

use crate::base::pin::ResolvedBase;
use crate::base::view;
use crate::image::{ImageError, RootFs};
use crate::oci::registry::Registry;
use crate::pip::inventory::base::BasePython;
use crate::r::inventory::base::BaseR;

/// What the ecosystems lock against.
#[derive(Debug)]
pub struct BaseFiles {
    /// The files [`crate::apt::lock::wanted`] names.
    pub apt: RootFs,
    pub python: BasePython,
    pub r: BaseR,
}

/// The facts of the base a lock pins (`export renv` wants its R version): from the
/// caches when this machine locked it, else read from its layers.
pub async fn read_locked(
    base: &crate::lockfile::BaseLock,
    registry: &Registry,
    cache_root: &Path,
) -> Result<BaseFiles, ImageError> {
    let resolved = ResolvedBase {
        reference: base.reference.clone(),
        digest: base.digest.clone(),
        manifest: base.manifest.clone(),
        platform: base.platform.clone(),
        created: None,
    };
    read(&resolved, registry, cache_root).await
}

/// The base's files for every ecosystem: from the caches when an earlier `lock` kept
/// them, else from its layers (downloaded into the fetch cache, where `build` finds
/// them).
pub async fn read(
    base: &ResolvedBase,
    registry: &Registry,
    cache_root: &Path,
) -> Result<BaseFiles, ImageError> {
    let cache_root = cache_root.to_path_buf();
    let manifest = base.manifest.clone();
    let cached = {
        let (root, manifest) = (cache_root.clone(), manifest.clone());
        crate::task::blocking(move || {
            Some(BaseFiles {
                python: crate::pip::inventory::base::read_cached(&root, &manifest)?,
                r: crate::r::inventory::base::read_cached(&root, &manifest)?,
                apt: view::read_cached(&root, crate::apt::lock::BASE_FILES, &manifest)?,
            })
        })
        .await
        .ok()
        .flatten()
    };
    if let Some(files) = cached {
        return Ok(files);
    }
    let image = view::open(base, registry).await?;
    let started = std::time::Instant::now();
    crate::task::blocking(move || {
        // One pass over the layers for every resolver, and for `build`'s apt installer:
        // it finds its view of the base stored, and reads no layer either. Its files
        // come first so that they are kept whole.
        let keep = |path: &str, size: u64| {
            crate::apt::install::base_keep(path, size)
                .or_else(|| crate::apt::lock::keep(path, size))
                .or_else(|| crate::pip::inventory::base::wanted(path, size))
                .or_else(|| crate::r::inventory::base::wanted(path, size))
        };
        let rootfs = RootFs::read(&image.layers, &keep)?;
        tracing::debug!("base: layers read in {:?}", started.elapsed());
        let python = BasePython::from_rootfs(&rootfs, &image.config)?;
        let r = BaseR::from_rootfs(&rootfs, &image.config)?;
        let apt_files = crate::apt::lock::BASE_FILES;
        view::store(
            &cache_root,
            apt_files,
            &manifest,
            &rootfs,
            &crate::apt::lock::wanted,
        );
        crate::pip::inventory::base::store(&cache_root, &manifest, &python);
        crate::r::inventory::base::store(&cache_root, &manifest, &r);
        crate::apt::layer::store_apt_view(&cache_root, &manifest, &rootfs);
        drop(image.keep_alive);
        Ok(BaseFiles {
            apt: rootfs,
            python,
            r,
        })
    })
    .await
    .map_err(ImageError::Task)?
}
