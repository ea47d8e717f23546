//! The pip layer of a build: the lock's wheels, fetched and verified, installed by
//! [`crate::pip::install`] on the base (plus the apt layer, which may be what brings
//! the interpreter).

use futures_util::{StreamExt, TryStreamExt};
use url::Url;

pub use crate::base::step::Step;
use crate::base::step::created_by;
use crate::fetch::Fetcher;
use crate::fetch::pinned::{PinnedFile, fetch_pinned};
use crate::image::{LayerBlob, RootFs};
use crate::lockfile::{Lockfile, PipPackage};
use crate::oci::Digest;
use crate::oci::layer::{Layer, LayerInputs, PackageInput};
use crate::oci::output::ImageLayer;
use crate::oci::types::ImageConfig;
use crate::pip::install::{self, InstallError, PipLayer, Target, Wheel};
use crate::task::blocking;

/// The version of what rtlock puts in a pip layer. Bump it whenever the same wheels on
/// the same base would give other entries, so cached layers of the old format are not
/// reused.
pub const LAYER_FORMAT: &str = "rtlock-pip-layer/2";

/// Why the pip layer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PipLayerError {
    #[error(
        "cannot download the wheel of {package} from the lock's url or any mirror:\n  {}\n\
         help: pass `--mirror URL` (a find-links directory or index files directory that has \
         {filename}), or run `rtlock fetch` where the URL works and build from that cache",
        failures.join("\n  ")
    )]
    Fetch {
        package: String,
        filename: String,
        failures: Vec<String>,
    },
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Layer(#[from] crate::oci::layer::LayerError),
    #[error(transparent)]
    Task(#[from] crate::task::TaskFailed),
}

/// Wheels downloaded at once.
const PARALLEL_DOWNLOADS: usize = 6;

/// The pip layer's cache inputs: everything it is made from. The base's manifest
/// digest pins its interpreter and installed distributions, the apt layers' diff_ids
/// (`apt`) what they add (perhaps the interpreter), the wheels are pinned by sha256
/// (with the entry's name, version and file name: the wheel's own metadata names what
/// is installed, but a key may hold more than decides the bytes, never less),
/// `requested` decides the `REQUESTED` files, and the epoch every mtime.
pub fn layer_inputs(lock: &Lockfile, apt: &[Digest]) -> LayerInputs {
    LayerInputs {
        kind: "pip".to_string(),
        format: LAYER_FORMAT.to_string(),
        base_manifest: lock.base.manifest.clone(),
        source_date_epoch: lock.source_date_epoch,
        below: apt.to_vec(),
        step: None,
        packages: lock
            .pip
            .iter()
            .map(|p| PackageInput {
                name: p.name.clone(),
                version: p.version.to_string(),
                arch: None,
                file: Some(p.file.clone()),
                sha256: p.sha256.clone(),
                requested: Some(p.requested),
            })
            .collect(),
    }
}

/// Every wheel of the lock, verified against its sha256 and size: from its URL, else
/// from each mirror as a find-links directory (`MIRROR/<file>`). Lock order.
pub async fn fetch_wheels(
    fetcher: &Fetcher,
    packages: &[PipPackage],
    mirrors: &[Url],
) -> Result<Vec<Wheel>, PipLayerError> {
    futures_util::stream::iter(packages.iter().map(|package| async move {
        let file = fetch_one(fetcher, package, mirrors).await?;
        Ok::<_, PipLayerError>(Wheel {
            name: package.name.clone(),
            version: package.version.to_string(),
            filename: package.file.clone(),
            file,
            requested: package.requested,
        })
    }))
    .buffered(PARALLEL_DOWNLOADS)
    .try_collect()
    .await
}

async fn fetch_one(
    fetcher: &Fetcher,
    package: &PipPackage,
    mirrors: &[Url],
) -> Result<std::path::PathBuf, PipLayerError> {
    let file = PinnedFile {
        name: &package.name,
        url: &package.url,
        relative: &package.file,
        sha256: &package.sha256,
        size: package.size,
    };
    fetch_pinned(fetcher, file, mirrors)
        .await
        .map_err(|failures| PipLayerError::Fetch {
            package: format!("{} {}", package.name, package.version),
            filename: package.file.clone(),
            failures,
        })
}

/// The pip layer of `wheels` on the base made of `base_layers` plus `apt` (the apt
/// layers, when there are), blocking: call it off the async runtime.
pub fn make_layer(
    base_layers: &[ImageLayer],
    apt: &[Layer],
    config: &ImageConfig,
    wheels: &[Wheel],
) -> Result<PipLayer, PipLayerError> {
    let blobs = LayerBlob::stack(base_layers, apt)
        .map_err(|e| PipLayerError::Install(InstallError::Base(e)))?;
    let base = RootFs::read(&blobs, &install::base_keep)
        .map_err(|e| PipLayerError::Install(InstallError::Base(e)))?;
    let target = Target::of_image(&base, config, !apt.is_empty())?;
    tracing::debug!("pip layer: installing into {target:?}");
    Ok(install::make_layer(&base, &target, wheels)?)
}

/// The pip layer (history line, layer), from the layer cache when a layer of the same
/// key was written before (then neither the base nor the wheels are read).
pub async fn layer(
    step: &Step<'_>,
    apt: &[Layer],
    wheels: Vec<Wheel>,
) -> Result<(String, Layer), PipLayerError> {
    let (lock, compression) = (step.lock, step.compression);
    let history = created_by("pip", wheels.len());
    let apt_diff_ids: Vec<Digest> = apt.iter().map(|layer| layer.diff_id.clone()).collect();
    let key = layer_inputs(lock, &apt_diff_ids).key();
    if let Some(layer) = step.layer_cache.lookup_key(&key, compression) {
        return Ok((history, layer));
    }
    let base_layers = step.base_layers.to_vec();
    let config = step.base_config.clone();
    let apt = apt.to_vec();
    let started = std::time::Instant::now();
    let made = blocking(move || make_layer(&base_layers, &apt, &config, &wheels)).await??;
    tracing::debug!("pip layer: entries made in {:?}", started.elapsed());
    for replaced in &made.replaced {
        tracing::info!("pip layer: {replaced} of the base image is replaced (its files removed)");
    }
    let cache = step.layer_cache.clone();
    let epoch = lock.source_date_epoch;
    let entries = made.entries;
    let written = blocking(move || {
        crate::oci::layer::write_layer(entries, epoch, compression, &cache, Some(&key))
    })
    .await??;
    // The spooled files are written into the layer now.
    drop(made.spool);
    Ok((history, written))
}
