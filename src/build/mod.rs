//! `build`: the image of a lock, from the lock alone.
//!
//! The base image's layers are used as they are, by digest; rtlock's layers (one per
//! ecosystem) are written by the deterministic layer writer and cached by diff_id; the
//! config is the base's with the lock's `[image]` applied ([`config`]); config and
//! manifest are canonical JSON. The same lock therefore gives the same manifest digest
//! on every machine, in every directory, under any TZ or umask, at any time.
//! [`check`] proves it for one lock by building twice.
//!
//! Orchestration above the ecosystems: may import `apt`, `pip`, `r` (their `layer.rs`), `base`,
//! `lockfile`, `oci`, `docker`, `fetch` and `task`; nothing imports `build` but `commands`.

pub mod check;
pub mod config;
pub mod layers;
pub mod loader;
pub mod prefetch;
pub mod summary;

use std::path::PathBuf;

use futures_util::{StreamExt, TryStreamExt};

use crate::apt::layer::{AptLayerError, AptOptions};
use crate::base::step::Step;
use crate::docker::DockerError;
use crate::fetch::Fetcher;
use crate::lockfile::Lockfile;
use crate::oci::Digest;
use crate::oci::canonical_json;
use crate::oci::layer::{Compression, Layer, LayerCache, LayerError, write_layer};
use crate::oci::media_type;
use crate::oci::output::{self, Destination, Image, ImageLayer, OutputError};
use crate::oci::reference::Reference;
use crate::oci::registry::image::{self as remote, RemoteImageError, Select};
use crate::oci::registry::{Registry, RegistryError};
use crate::oci::types::{Descriptor, ImageConfig, ImageManifest, Platform};
use crate::pip::layer::PipLayerError;
use crate::r::layer::RLayerError;
use crate::task::TaskFailed;

use config::AddedLayer;
use layers::PlannedLayer;

/// Base layers downloaded at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// What a build needs besides the lock.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub fetcher: Fetcher,
    pub registry: Registry,
    pub layer_cache: LayerCache,
}

/// A built image, ready for its destinations.
#[derive(Debug, Clone)]
pub struct Built {
    pub image: Image,
    /// The base, pinned to its manifest digest (blobs can be mounted from it).
    pub base: Reference,
    /// How many layers come from the base (the rest are rtlock's).
    pub base_layers: usize,
}

/// How a build installs packages, beyond the lock (the command line's choices).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Other apt mirrors or snapshot archives for `.deb` files whose URL fails.
    pub mirrors: Vec<url::Url>,
    /// No Docker Engine: maintainer scripts are not run (their packages are reported).
    pub no_daemon: bool,
    /// Write rtlock's layers as plain tars, for builds whose only destination is the
    /// Docker Engine, which stores layers uncompressed: compressing them is wasted time
    /// (one core gzips about 22 MB/s). The image ID is the same either way, since the
    /// config names layers by their uncompressed diff_ids; the manifest digest differs.
    pub uncompressed: bool,
    /// An output is `docker-daemon:`: the apt layer is loaded into the engine while the
    /// maintainer scripts run there, so the finished image shares it.
    pub engine_output: bool,
}

/// What a build leaves for the user to know, and to do.
#[derive(Debug, Default)]
pub struct BuildNotes {
    /// Whether rtlock added an apt layer.
    pub apt_layer: bool,
    /// Packages of the apt layer whose maintainer scripts did not run.
    pub apt_pending_configure: Vec<String>,
    /// Whether rtlock added a pip layer.
    pub pip_layer: bool,
    /// Whether rtlock added an R layer.
    pub r_layer: bool,
    /// What the build left in the Docker Engine (the image the maintainer scripts ran
    /// in): remove it with [`remove_leftovers`] once the outputs are written, so that
    /// loading the image shares its layers.
    pub leftovers: Vec<crate::apt::configure::Cleanup>,
}

/// Removes what builds left in the engine; a failure is only warned about (the image
/// is built and written).
pub async fn remove_leftovers(leftovers: Vec<crate::apt::configure::Cleanup>) {
    for leftover in leftovers {
        if let Err(e) = leftover.finish().await {
            tracing::warn!("{e}");
        }
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The lock's digests, platform and compression are typed (reading refuses bad
    /// ones); its reference is text, parsed here.
    #[error(
        "the lock's [base] reference `{value}` is not valid: {reason}\n\
         help: run `rtlock lock` to write the lock again"
    )]
    BadReference { value: String, reason: String },
    #[error("cannot read the base image {reference}")]
    Registry {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("the base image {reference} {problem}")]
    Base { reference: String, problem: String },
    #[error("the base image {reference} {problem}")]
    Platform {
        reference: String,
        problem: Box<WrongPlatform>,
    },
    #[error(transparent)]
    Apt(#[from] AptLayerError),
    #[error(transparent)]
    Pip(#[from] PipLayerError),
    #[error(transparent)]
    R(#[from] RLayerError),
    #[error(transparent)]
    Layer(#[from] LayerError),
    #[error(transparent)]
    Loader(#[from] loader::LoaderError),
    #[error("cannot write {destination}")]
    Output {
        destination: String,
        #[source]
        source: Box<OutputError>,
    },
    #[error("cannot load the image into the Docker Engine ({destination})")]
    Docker {
        destination: String,
        #[source]
        source: Box<DockerError>,
    },
    #[error(
        "cannot write {destination}: {} in the cache did not hash to {}, so nothing was written; \
         {} removed from the cache:\n  {}\n\
         help: run the build again: rtlock makes (or downloads) {} again",
        if blobs.len() == 1 { "a blob" } else { "blobs" },
        if blobs.len() == 1 { "its name" } else { "their names" },
        if blobs.len() == 1 { "it was" } else { "they were" },
        blobs.join("\n  "),
        if blobs.len() == 1 { "it" } else { "them" },
    )]
    CorruptCache {
        destination: String,
        /// `sha256:… (path)` of each blob removed.
        blobs: Vec<String>,
        /// What the output said (the destination is named above already).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Task(#[from] TaskFailed),
}

/// Builds the image of `lock`.
pub async fn build(lock: &Lockfile, ctx: &BuildContext) -> Result<Built, BuildError> {
    build_with_options(lock, ctx, &BuildOptions::default())
        .await
        .map(|(built, _)| built)
}

/// Builds the image of `lock`, its apt packages included, with `options`.
pub async fn build_with_options(
    lock: &Lockfile,
    ctx: &BuildContext,
    options: &BuildOptions,
) -> Result<(Built, BuildNotes), BuildError> {
    build_inner(lock, ctx, Vec::new(), Some(options)).await
}

/// Builds the image of `lock` with `planned` as rtlock's layers (bottom first): the
/// seam where the apt, pip and R installers plug in.
pub async fn build_with(
    lock: &Lockfile,
    ctx: &BuildContext,
    planned: Vec<PlannedLayer>,
) -> Result<Built, BuildError> {
    build_inner(lock, ctx, planned, None)
        .await
        .map(|(built, _)| built)
}

/// The build; with `options`, the lock's `[[apt]]`, `[[pip]]` and `[[r]]` packages become
/// the first of rtlock's layers.
async fn build_inner(
    lock: &Lockfile,
    ctx: &BuildContext,
    planned: Vec<PlannedLayer>,
    options: Option<&BuildOptions>,
) -> Result<(Built, BuildNotes), BuildError> {
    let compression = if options.is_some_and(|o| o.uncompressed) {
        Compression::None
    } else {
        lock.image.compression
    };
    let base = base_reference(lock)?;
    let shown = lock.base.reference.clone();
    let registry_error = |source| BuildError::Registry {
        reference: shown.clone(),
        source: Box::new(source),
    };

    let remote = remote::read(&ctx.registry, &base, Select::ManifestOnly)
        .await
        .map_err(|e| match e {
            RemoteImageError::Registry(source) => registry_error(source),
            other => BuildError::Base {
                reference: shown.clone(),
                problem: base_problem(other),
            },
        })?;
    let (base_manifest, base_config) = (remote.manifest, remote.config);
    check_platform(lock, &base_config).map_err(|problem| BuildError::Platform {
        reference: shown.clone(),
        problem,
    })?;

    // Download the base's layers and write rtlock's at the same time.
    let downloads = download_layers(&ctx.registry, &base, &base_manifest, &base_config);
    let cache = ctx.layer_cache.clone();
    let epoch = lock.source_date_epoch;
    let written =
        tokio::task::spawn_blocking(move || write_layers(planned, epoch, compression, &cache));
    let pip = options.filter(|_| !lock.pip.is_empty());
    let apt = options.filter(|_| !lock.apt.is_empty());
    let debs = async {
        match apt {
            Some(options) => {
                crate::apt::layer::fetch_debs(&ctx.fetcher, &lock.apt, &options.mirrors)
                    .await
                    .map(Some)
            }
            None => Ok(None),
        }
    };
    let wheels: futures_util::future::OptionFuture<_> = pip
        .map(|options| crate::pip::layer::fetch_wheels(&ctx.fetcher, &lock.pip, &options.mirrors))
        .into();
    let r = options.filter(|_| !lock.r.is_empty());
    let tarballs: futures_util::future::OptionFuture<_> = r
        .map(|options| crate::r::layer::fetch_tarballs(&ctx.fetcher, &lock.r, &options.mirrors))
        .into();
    let (base_layers, debs, wheels, tarballs) = tokio::join!(downloads, debs, wheels, tarballs);
    let base_layers = base_layers.map_err(registry_error)?;
    let wheels = wheels.transpose()?;
    let tarballs = tarballs.transpose()?;
    let mut notes = BuildNotes::default();
    let mut added = Vec::new();
    let image_with = |added: Vec<(String, Layer)>| {
        assemble_image(lock, &base_config, base_layers.clone(), added)
    };
    let step = Step {
        lock,
        base_layers: &base_layers,
        base_config: &base_config,
        layer_cache: &ctx.layer_cache,
        compression,
        cache_root: ctx.fetcher.cache().root(),
        image_with: &image_with,
    };
    if let (Some(options), Some(debs)) = (options, debs?) {
        let apt_options = AptOptions {
            no_daemon: options.no_daemon,
            engine_output: options.engine_output,
        };
        let layers = crate::apt::layer::layers(&step, &apt_options, debs).await?;
        added.extend(layers.layers);
        notes.apt_layer = true;
        notes.apt_pending_configure = layers.pending_configure;
        notes.leftovers.extend(layers.leftover);
    }
    // Layers whose shared objects must find their libraries in the image (the index of
    // each among the image's layers, and its name).
    let mut checked: Vec<(usize, &'static str)> = Vec::new();
    if let Some(wheels) = wheels {
        let apt_layers: Vec<Layer> = added.iter().map(|(_, layer)| layer.clone()).collect();
        added.push(crate::pip::layer::layer(&step, &apt_layers, wheels).await?);
        checked.push((base_layers.len() + added.len() - 1, "pip"));
        notes.pip_layer = true;
    }
    if let (Some(options), Some(tarballs)) = (options, tarballs) {
        let r_options = crate::r::layer::ROptions {
            no_daemon: options.no_daemon,
        };
        let below = added.clone();
        added.push(crate::r::layer::layer(&step, &below, tarballs, &r_options).await?);
        checked.push((base_layers.len() + added.len() - 1, "r"));
        notes.r_layer = true;
    }
    added.extend(written.await.map_err(|e| TaskFailed(e.to_string()))??);

    let image = assemble_image(lock, &base_config, base_layers, added);
    if !checked.is_empty() {
        check_loader(&image, checked, ctx.fetcher.cache().root()).await?;
    }
    let built = Built {
        image,
        base,
        base_layers: base_manifest.layers.len(),
    };
    Ok((built, notes))
}

/// The image of the base's layers and config with rtlock's `added` layers (history
/// line, layer) on top and the lock's `[image]` applied: canonical config and manifest.
fn assemble_image(
    lock: &Lockfile,
    base_config: &ImageConfig,
    base_layers: Vec<ImageLayer>,
    added: Vec<(String, Layer)>,
) -> Image {
    let added_history: Vec<AddedLayer> = added
        .iter()
        .map(|(created_by, layer)| AddedLayer {
            diff_id: layer.diff_id.clone(),
            created_by: created_by.clone(),
        })
        .collect();
    let config = config::image_config(base_config, lock, &added_history);
    let config_bytes = canonical_json::to_vec(&config);
    let config_descriptor = Descriptor::new(
        media_type::OCI_CONFIG,
        Digest::of(&config_bytes),
        config_bytes.len() as u64,
    );

    let mut image_layers = base_layers;
    image_layers.extend(added.into_iter().map(|(_, layer)| ImageLayer {
        descriptor: Descriptor::new(&layer.media_type, layer.digest, layer.size),
        diff_id: layer.diff_id,
        path: layer.path,
    }));
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        config: config_descriptor.clone(),
        layers: image_layers.iter().map(|l| l.descriptor.clone()).collect(),
        annotations: None,
        extra: Default::default(),
    };
    let manifest_bytes = canonical_json::to_vec(&manifest);
    Image {
        manifest_digest: Digest::of(&manifest_bytes),
        manifest: manifest_bytes,
        manifest_media_type: media_type::OCI_MANIFEST.to_string(),
        config: config_bytes,
        config_descriptor,
        layers: image_layers,
        epoch: lock.source_date_epoch,
    }
}

/// The pip and R layers' shared objects find what they link against in `image`
/// ([`loader`]); off the async runtime, since it reads every layer.
async fn check_loader(
    image: &Image,
    checked: Vec<(usize, &'static str)>,
    cache_root: &std::path::Path,
) -> Result<(), BuildError> {
    let config: ImageConfig = serde_json::from_slice(&image.config)
        .map_err(|e| TaskFailed(format!("the image config rtlock made does not parse: {e}")))?;
    let blobs = loader::blobs_of(image)?;
    let digest = image.config_descriptor.digest.clone();
    let root = cache_root.to_path_buf();
    blocking(move || loader::check(&blobs, &checked, &config, &digest, &root))
        .await?
        .map_err(BuildError::from)
}

/// `[base] reference` pinned to `[base] manifest`.
fn base_reference(lock: &Lockfile) -> Result<Reference, BuildError> {
    let reference: Reference =
        lock.base
            .reference
            .parse()
            .map_err(
                |e: crate::oci::reference::ReferenceError| BuildError::BadReference {
                    value: lock.base.reference.clone(),
                    reason: e.to_string(),
                },
            )?;
    Ok(reference.with_digest(lock.base.manifest.clone()))
}

/// What is wrong with the lock's base, as `build` words it.
fn base_problem(error: RemoteImageError) -> String {
    match error {
        RemoteImageError::NotAManifest { digest, media_type } => format!(
            "manifest {digest} is a {media_type}, not an image manifest; run `rtlock lock` to pin the platform's manifest"
        ),
        RemoteImageError::Config(e) => format!("has a config blob that cannot be read: {e}"),
        RemoteImageError::Inconsistent { layers, diff_ids } => format!(
            "is inconsistent: its manifest has {layers} layers and its config {diff_ids} diff_ids"
        ),
        other => other.to_string(),
    }
}

/// The base image is for another platform than the lock's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("is for {found}, but the lock's [base] platform is {locked}; run `rtlock lock` again")]
pub struct WrongPlatform {
    /// The base config's `os/architecture[/variant]`.
    pub found: Platform,
    pub locked: Platform,
}

/// The base must be for the lock's platform: the same OS and architecture, and the
/// same variant when the lock names one (`linux/arm64` takes an arm64 image of any
/// variant, `linux/arm64/v8` only a v8 one).
fn check_platform(lock: &Lockfile, config: &ImageConfig) -> Result<(), Box<WrongPlatform>> {
    let locked = &lock.base.platform;
    let found = Platform::new(&config.os, &config.architecture, config.variant.as_deref());
    let same = locked.os == found.os
        && locked.architecture == found.architecture
        && (locked.variant.is_none() || locked.variant == found.variant);
    if same {
        return Ok(());
    }
    Err(Box::new(WrongPlatform {
        found,
        locked: locked.clone(),
    }))
}

/// The OCI media type of a base layer (Docker's types name the same bytes).
fn oci_layer_type(media_type: &str) -> String {
    match media_type::layer_compression(media_type) {
        Some(media_type::LayerCompression::Gzip)
            if media_type != media_type::DOCKER_LAYER_FOREIGN_GZIP =>
        {
            media_type::OCI_LAYER_GZIP.to_string()
        }
        Some(media_type::LayerCompression::None) => media_type::OCI_LAYER_TAR.to_string(),
        Some(media_type::LayerCompression::Zstd) => media_type::OCI_LAYER_ZSTD.to_string(),
        _ => media_type.to_string(),
    }
}

/// Every base layer, downloaded (or found) in the fetch cache and verified.
async fn download_layers(
    registry: &Registry,
    base: &Reference,
    manifest: &ImageManifest,
    config: &ImageConfig,
) -> Result<Vec<ImageLayer>, RegistryError> {
    futures_util::stream::iter(manifest.layers.iter().zip(&config.rootfs.diff_ids).map(
        |(descriptor, diff_id)| async move {
            let blob = registry
                .get_blob(base, &descriptor.digest, Some(descriptor.size))
                .await?;
            let mut descriptor = descriptor.clone();
            descriptor.media_type = oci_layer_type(&descriptor.media_type);
            Ok(ImageLayer {
                descriptor,
                diff_id: diff_id.clone(),
                path: blob.path,
            })
        },
    ))
    .buffered(PARALLEL_DOWNLOADS)
    .try_collect()
    .await
}

/// Writes the planned layers, in parallel (one thread each: gzip is the slow part).
fn write_layers(
    planned: Vec<PlannedLayer>,
    epoch: i64,
    compression: Compression,
    cache: &LayerCache,
) -> Result<Vec<(String, Layer)>, BuildError> {
    let threads = planned.len();
    crate::task::parallel_map("a layer writer", planned, threads, |layer| {
        let written = write_layer(layer.entries, epoch, compression, cache, layer.key.as_ref())?;
        Ok::<_, BuildError>((layer.created_by, written))
    })?
    .into_iter()
    .collect()
}

/// Writes `built` to each destination, in order.
///
/// Every output hashes the layer blobs it copies (a registry checks what it is sent);
/// when one fails, the image's blobs are hashed again in full, and those that do not
/// match their digests are removed from the caches and named in the error, so that the
/// next build makes them again instead of failing the same way.
pub async fn write_outputs(
    built: &Built,
    destinations: &[Destination],
    ctx: &BuildContext,
) -> Result<(), BuildError> {
    for destination in destinations {
        if let Err(e) = write_output(built, destination, ctx).await {
            let (image, ctx_owned) = (built.image.clone(), ctx.clone());
            let removed = blocking(move || remove_corrupt_layers(&image, &ctx_owned)).await?;
            if removed.is_empty() {
                return Err(e);
            }
            let source: Box<dyn std::error::Error + Send + Sync> = match e {
                BuildError::Output { source, .. } => source,
                BuildError::Docker { source, .. } => source,
                other => Box::new(other),
            };
            return Err(BuildError::CorruptCache {
                destination: destination.to_string(),
                blobs: removed,
                source,
            });
        }
    }
    Ok(())
}

/// The layer blobs of `image` that do not hash to their digests (read whole: bit rot
/// leaves a stamp as it was), removed with their stamps; `sha256:… (path)` of each.
fn remove_corrupt_layers(image: &Image, ctx: &BuildContext) -> Vec<String> {
    let mut removed = Vec::new();
    for layer in &image.layers {
        let digest = &layer.descriptor.digest;
        let state =
            crate::fetch::verify_blob(&layer.path, digest.hex(), Some(layer.descriptor.size));
        if matches!(state, Ok(crate::fetch::BlobState::Corrupt { .. })) {
            ctx.layer_cache.stamps().discard(&layer.path);
            ctx.fetcher.cache().stamps().discard(&layer.path);
            removed.push(format!("{digest} ({})", layer.path.display()));
        }
    }
    removed
}

/// Writes `built` to one destination.
async fn write_output(
    built: &Built,
    destination: &Destination,
    ctx: &BuildContext,
) -> Result<(), BuildError> {
    let shown = destination.to_string();
    let output_error = |source| BuildError::Output {
        destination: shown.clone(),
        source: Box::new(source),
    };
    match destination {
        Destination::OciLayout { path, tag } => {
            let (image, path, tag) = (built.image.clone(), path.clone(), tag.clone());
            blocking(move || output::write_layout(&image, &path, tag.as_deref()))
                .await?
                .map_err(output_error)?;
        }
        Destination::OciArchive { path, tag } => {
            let (image, path, tag) = (built.image.clone(), path.clone(), tag.clone());
            blocking(move || output::write_oci_archive(&image, &path, tag.as_deref()))
                .await?
                .map_err(output_error)?;
        }
        Destination::DockerArchive { path, reference } => {
            let (image, path, reference) = (built.image.clone(), path.clone(), reference.clone());
            blocking(move || output::write_docker_archive(&image, &path, reference.as_deref()))
                .await?
                .map_err(output_error)?;
        }
        Destination::Registry(target) => {
            output::push(&ctx.registry, &built.image, target, Some(&built.base))
                .await
                .map_err(output_error)?;
        }
        Destination::DockerDaemon(reference) => {
            let docker_error = |source| BuildError::Docker {
                destination: shown.clone(),
                source: Box::new(source),
            };
            let docker = crate::docker::connect().await.map_err(docker_error)?;
            crate::docker::load::load(&docker, &built.image, reference)
                .await
                .map_err(docker_error)?;
        }
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, BuildError> {
    Ok(crate::task::blocking(f).await?)
}

/// Where `build --check` puts its two fresh layer caches.
pub fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("rtlock-check-").tempdir()
}

/// The path of a blob of `image` by digest, if it is one of its layers.
pub fn layer_path(image: &Image, digest: &Digest) -> Option<PathBuf> {
    image
        .layers
        .iter()
        .find(|l| &l.descriptor.digest == digest)
        .map(|l| l.path.clone())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn lock_for(platform: &str) -> Lockfile {
        let text = format!(
            "version = 1\nmanifest = \"sha256:{zeros}\"\nsource-date-epoch = 0\n\n[base]\n\
             reference = \"registry.example.com/base:1\"\ndigest = \"sha256:{zeros}\"\n\
             manifest = \"sha256:{zeros}\"\nplatform = \"{platform}\"\n",
            zeros = "0".repeat(64)
        );
        crate::lockfile::parse(&text, Path::new("runtime.lock")).unwrap()
    }

    fn config(os: &str, architecture: &str, variant: Option<&str>) -> ImageConfig {
        serde_json::from_value(serde_json::json!({
            "os": os,
            "architecture": architecture,
            "variant": variant,
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap()
    }

    #[test]
    fn the_base_must_be_for_the_lock_s_platform() {
        // A lock without a variant takes any; one with a variant only that one.
        for (locked, os, arch, variant) in [
            ("linux/amd64", "linux", "amd64", None),
            ("linux/arm64", "linux", "arm64", Some("v8")),
            ("linux/arm64/v8", "linux", "arm64", Some("v8")),
        ] {
            let config = config(os, arch, variant);
            assert_eq!(
                check_platform(&lock_for(locked), &config),
                Ok(()),
                "{locked}"
            );
        }
        for (locked, os, arch, variant, found) in [
            ("linux/amd64", "linux", "arm64", None, "linux/arm64"),
            ("linux/amd64", "windows", "amd64", None, "windows/amd64"),
            ("linux/arm/v7", "linux", "arm", Some("v6"), "linux/arm/v6"),
            ("linux/arm64/v8", "linux", "arm64", None, "linux/arm64"),
        ] {
            let wrong = check_platform(&lock_for(locked), &config(os, arch, variant)).unwrap_err();
            assert_eq!(wrong.found.to_string(), found);
            assert_eq!(wrong.locked.to_string(), locked);
            assert_eq!(
                wrong.to_string(),
                format!(
                    "is for {found}, but the lock's [base] platform is {locked}; run `rtlock lock` again"
                )
            );
        }
    }
}
