//! The apt layers of a build: the lock's `.deb` files, fetched and verified, placed on
//! the base by [`crate::apt::install`] (the apt layer); then the maintainer scripts run
//! in a container of the Docker Engine and what they changed becomes a second, small
//! layer on top ([`layers`]). Without an engine the build fails (the second layer is
//! part of the image); only `--no-daemon` builds without it, and says which packages
//! stay unconfigured.
//!
//! Two layers rather than one: the engine that runs the scripts must be given the apt
//! layer's files (a second or two for a hundred MB), and, for a `docker-daemon:`
//! output, register that layer too; the finished image then shares it instead of
//! sending it again, and only the small scripts layer is new. The apt layer is also
//! the same with and without `--no-daemon`.

use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use url::Url;

use crate::apt::install::{self, AptLayer, InstallError, PackageDeb};
pub use crate::base::step::Step;
use crate::base::step::created_by;
use crate::base::view;
use crate::fetch::Fetcher;
use crate::fetch::pinned::{PinnedFile, fetch_pinned};
use crate::image::{LayerBlob, RootFs};
use crate::lockfile::{AptPackage, Lockfile};
use crate::oci::Digest;
use crate::oci::layer::{Compression, Entry, Layer, LayerInputs, LayerKey, PackageInput};
use crate::oci::output::ImageLayer;
use crate::task::{TaskFailed, blocking};

/// The version of what rtlock puts in an apt layer. Bump it whenever the same debs on
/// the same base would give other entries, so cached layers of the old format are not
/// reused.
pub const LAYER_FORMAT: &str = "rtlock-apt-layer/3";

/// `.deb` files downloaded at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// How the apt layer's maintainer scripts run, beyond the lock (the command line's
/// choices).
#[derive(Debug, Clone, Copy, Default)]
pub struct AptOptions {
    /// No Docker Engine: maintainer scripts are not run (their packages are reported).
    pub no_daemon: bool,
    /// An output is `docker-daemon:`: the apt layer is loaded into the engine while the
    /// maintainer scripts run there, so the finished image shares it.
    pub engine_output: bool,
}

/// Why the apt layers could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AptLayerError {
    #[error(
        "cannot download the .deb of {package} from the lock's url or any mirror:\n  {}\n\
         help: pass `--mirror URL` (an apt mirror or snapshot archive that still has {filename}), \
         or run `rtlock fetch` where the URL works and build from that cache",
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
    Configure(Box<crate::apt::configure::ConfigureError>),
    #[error(
        "the lock's apt packages are configured in a Docker Engine (maintainer scripts, \
         triggers), and none answers: {reason}\n\
         packages with maintainer scripts: {}\n\
         help: start the Docker Engine, or set DOCKER_HOST to one that runs (tried {host}); \
         or pass --no-daemon to build without running them (another image: the packages \
         with scripts stay unpacked, not configured)",
        if packages.is_empty() { "none (dpkg --configure -a still runs their triggers)".to_string() } else { packages.join(", ") }
    )]
    NoEngine {
        /// The engine tried: DOCKER_HOST, else the default socket.
        host: String,
        /// Why it did not answer.
        reason: String,
        packages: Vec<String>,
    },
    #[error(transparent)]
    Layer(#[from] crate::oci::layer::LayerError),
    #[error(transparent)]
    Task(#[from] TaskFailed),
}

/// The apt layers of a build, and what is left undone.
#[derive(Debug)]
pub struct AptLayers {
    /// (history line, layer), bottom first: the packages' files, then, when the
    /// maintainer scripts ran, what they changed.
    pub layers: Vec<(String, Layer)>,
    /// Packages whose maintainer scripts did not run (left `unpacked` in dpkg's status).
    pub pending_configure: Vec<String>,
    /// The engine's image the scripts ran in: untag it once the outputs are written
    /// (an image loaded into the engine before then shares its layers).
    pub leftover: Option<crate::apt::configure::Cleanup>,
}

/// The apt layer's cache inputs: everything it is made from. The base's manifest
/// digest pins its dpkg database and directory structure; the debs are pinned by
/// sha256, with the entry's name (dpkg's info files are named by it), version and
/// architecture (the control file's are what is written, but a key may hold more than
/// decides the bytes, never less); the epoch sets every mtime.
pub fn layer_inputs(lock: &Lockfile) -> LayerInputs {
    inputs("apt", lock, None)
}

/// The cache inputs of the layer of what the maintainer scripts changed: the apt
/// layer's inputs and `configure`, the [`Configure::kind`] that ran them.
pub fn scripts_inputs(lock: &Lockfile, configure: &str) -> LayerInputs {
    inputs("apt-scripts", lock, Some(configure))
}

fn inputs(kind: &str, lock: &Lockfile, step: Option<&str>) -> LayerInputs {
    LayerInputs {
        kind: kind.to_string(),
        format: LAYER_FORMAT.to_string(),
        base_manifest: lock.base.manifest.clone(),
        source_date_epoch: lock.source_date_epoch,
        below: Vec::new(),
        step: step.map(str::to_string),
        packages: lock
            .apt
            .iter()
            .map(|p| PackageInput {
                name: p.name.clone(),
                version: p.version.to_string(),
                arch: Some(p.arch.clone()),
                file: None,
                sha256: p.sha256.clone(),
                requested: None,
            })
            .collect(),
    }
}

/// Every package of the lock, verified against its sha256 and size: from its URL, else
/// from each mirror joined with its `filename`. Lock order.
pub async fn fetch_debs(
    fetcher: &Fetcher,
    packages: &[AptPackage],
    mirrors: &[Url],
) -> Result<Vec<PackageDeb>, AptLayerError> {
    futures_util::stream::iter(packages.iter().map(|package| async move {
        let file = fetch_one(fetcher, package, mirrors).await?;
        Ok::<_, AptLayerError>(PackageDeb {
            name: package.name.clone(),
            arch: package.arch.clone(),
            version: package.version.clone(),
            file,
        })
    }))
    .buffered(PARALLEL_DOWNLOADS)
    .try_collect()
    .await
}

async fn fetch_one(
    fetcher: &Fetcher,
    package: &AptPackage,
    mirrors: &[Url],
) -> Result<PathBuf, AptLayerError> {
    let file = PinnedFile {
        name: &package.name,
        url: &package.url,
        relative: &package.filename,
        sha256: &package.sha256,
        size: package.size,
    };
    fetch_pinned(fetcher, file, mirrors)
        .await
        .map_err(|failures| AptLayerError::Fetch {
            package: format!("{} {} ({})", package.name, package.version, package.arch),
            filename: package.filename.clone(),
            failures,
        })
}

/// The apt installer's view of the base with this manifest, if one was stored.
pub fn read_apt_view(cache_root: &Path, manifest: &Digest) -> Option<RootFs> {
    view::read_view(cache_root, install::BASE_VIEW, manifest)
}

/// Stores the apt installer's view of `rootfs`, the base with this manifest, which must
/// have been read keeping at least [`install::base_keep`]'s files.
pub fn store_apt_view(cache_root: &Path, manifest: &Digest, rootfs: &RootFs) {
    view::store_view(
        cache_root,
        install::BASE_VIEW,
        manifest,
        rootfs,
        &install::base_keep,
    );
}

/// Where [`store_apt_view`] puts the view of the base with this manifest.
pub fn apt_view_path(cache_root: &Path, manifest: &Digest) -> PathBuf {
    view::view_path(cache_root, install::BASE_VIEW, manifest)
}

/// The base image's filesystem, with what the apt installer reads of it kept.
///
/// With `view` (the cache root, and the base's manifest digest): from the view of the
/// base an earlier `lock` or `build` stored there, else from `base_layers`, then stored
/// for next time. Reading the layers is about a second of CPU for a runtime base, taken
/// from the debs' decompression running at the same time; the view takes milliseconds.
pub fn read_base(
    base_layers: &[ImageLayer],
    view: Option<(&std::path::Path, &crate::oci::Digest)>,
) -> Result<RootFs, AptLayerError> {
    let started = std::time::Instant::now();
    if let Some((cache_root, manifest)) = view
        && let Some(base) = read_apt_view(cache_root, manifest)
    {
        tracing::debug!(
            "apt layer: base read from its stored view in {:?}",
            started.elapsed()
        );
        return Ok(base);
    }
    let blobs = base_layers
        .iter()
        .map(LayerBlob::of_image_layer)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AptLayerError::Install(InstallError::Base(e)))?;
    let base = RootFs::read(&blobs, &install::base_keep)
        .map_err(|e| AptLayerError::Install(InstallError::Base(e)))?;
    tracing::debug!("apt layer: base layers read in {:?}", started.elapsed());
    if let Some((cache_root, manifest)) = view {
        store_apt_view(cache_root, manifest, &base);
    }
    Ok(base)
}

/// The apt layer of `debs` on the base made of `base_layers`, or its stored `view` (see
/// [`read_base`]); blocking: call it off the async runtime. The base and the debs are
/// read at the same time.
pub fn make_layer(
    base_layers: &[ImageLayer],
    view: Option<(&std::path::Path, &crate::oci::Digest)>,
    debs: &[PackageDeb],
) -> Result<(AptLayer, RootFs), AptLayerError> {
    let (base, read) = crate::task::join(
        "the base reader",
        || read_base(base_layers, view),
        || install::read_debs(debs),
    );
    let base = base??;
    let layer = install::make_layer_from(&base, read?)?;
    Ok((layer, base))
}

/// Which packages have maintainer scripts, from their control files alone: what a
/// cached apt layer left undone (blocking).
pub fn pending_configure(debs: &[PackageDeb]) -> Result<Vec<String>, AptLayerError> {
    let mut pending = Vec::new();
    for deb in debs {
        let control = install::deb::read_control(&deb.file, &deb.name)?;
        if install::layer::has_scripts(&control) {
            pending.push(deb.name.clone());
        }
    }
    Ok(pending)
}

/// [`Configure::kind`] of a layer whose maintainer scripts did not run.
pub const NO_CONFIGURE: &str = "none";

/// [`Configure::kind`] of a layer whose scripts ran in a container (bump the number when
/// the script or the normalization changes what is captured).
pub const CONTAINER_CONFIGURE: &str = "dpkg-configure/2";

/// How the maintainer scripts run; part of the layer's cache key.
pub enum Configure {
    /// `--no-daemon`: the packages stay `unpacked`, and are reported.
    Skip,
    /// `dpkg --configure -a` in a container of the engine.
    Container(bollard::Docker),
}

impl Configure {
    /// The engine, unless `--no-daemon` says not to use one. No engine is an error,
    /// never a quiet skip: the scripts' layer is part of the image, so building without
    /// it would make the digest depend on the machine.
    pub async fn detect(options: &AptOptions) -> Result<Configure, crate::docker::DockerError> {
        if options.no_daemon {
            return Ok(Configure::Skip);
        }
        crate::docker::connect().await.map(Configure::Container)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Configure::Skip => NO_CONFIGURE,
            Configure::Container(_) => CONTAINER_CONFIGURE,
        }
    }
}

/// The apt layers of `debs`: from the layer cache when layers of the same keys were
/// written before (then neither the base nor the debs' data are read), else made on
/// the base, with the maintainer scripts run as `configure` says.
pub async fn layers(
    step: &Step<'_>,
    options: &AptOptions,
    debs: Vec<PackageDeb>,
) -> Result<AptLayers, AptLayerError> {
    let (lock, cache, compression) = (step.lock, step.layer_cache, step.compression);
    let files_history = created_by("apt", debs.len());
    let scripts_history = format!("rtlock: apt maintainer scripts ({} packages)", debs.len());
    let configure = match Configure::detect(options).await {
        Ok(configure) => configure,
        Err(e) => {
            let packages = blocking(move || pending_configure(&debs)).await??;
            return Err(AptLayerError::NoEngine {
                host: crate::docker::docker_host(),
                reason: e.to_string().lines().next().unwrap_or_default().to_string(),
                packages,
            });
        }
    };
    let files_key = layer_inputs(lock).key();
    let scripts_key = scripts_inputs(lock, configure.kind()).key();
    if let Some(files) = cache.lookup_key(&files_key, compression) {
        match &configure {
            Configure::Skip => {
                let pending = blocking(move || pending_configure(&debs)).await??;
                return Ok(AptLayers {
                    layers: vec![(files_history, files)],
                    pending_configure: pending,
                    leftover: None,
                });
            }
            Configure::Container(_) => {
                if let Some(scripts) = cache.lookup_key(&scripts_key, compression) {
                    return Ok(AptLayers {
                        layers: vec![(files_history, files), (scripts_history, scripts)],
                        pending_configure: Vec::new(),
                        leftover: None,
                    });
                }
            }
        }
    }

    let base_layers = step.base_layers.to_vec();
    let cache_root = step.cache_root.to_path_buf();
    let manifest = lock.base.manifest.clone();
    let started = std::time::Instant::now();
    let (made, base) = blocking(move || {
        let view = Some((cache_root.as_path(), &manifest));
        make_layer(&base_layers, view, &debs)
    })
    .await??;
    tracing::debug!("apt layer: entries made in {:?}", started.elapsed());
    let epoch = lock.source_date_epoch;
    let Configure::Container(docker) = &configure else {
        let files = write(made.entries, epoch, compression, cache, files_key).await?;
        drop(made.spool);
        return Ok(AptLayers {
            layers: vec![(files_history, files)],
            pending_configure: made.pending_configure,
            leftover: None,
        });
    };

    let written = with_scripts(step, options, docker, &made, &base, files_key, scripts_key).await;
    let (files, scripts, leftover) = written?;
    // The spooled files are in the layers now.
    drop(made.spool);
    Ok(AptLayers {
        layers: vec![(files_history, files), (scripts_history, scripts)],
        pending_configure: Vec::new(),
        leftover: Some(leftover),
    })
}

/// The apt layer (`made`, on `base`) written, and the layer of what its packages'
/// maintainer scripts changed when run in the engine; what the run leaves in the
/// engine is returned for removal after the outputs.
///
/// The scripts run in a container of the base in the engine (checked by its layers),
/// with the apt layer's files copied in: the engine takes them in once, and, when an
/// output is docker-daemon:, registers the apt layer at the same time, by loading the
/// base plus it while the scripts run. A layer with whiteouts (an upgraded base
/// package's old files) cannot be copied in so: then the base plus the layer is loaded
/// first and the scripts run in a container of that.
async fn with_scripts(
    step: &Step<'_>,
    options: &AptOptions,
    docker: &bollard::Docker,
    made: &AptLayer,
    base: &RootFs,
    files_key: LayerKey,
    scripts_key: LayerKey,
) -> Result<(Layer, Layer, crate::apt::configure::Cleanup), AptLayerError> {
    let (lock, cache, compression) = (step.lock, step.layer_cache, step.compression);
    let epoch = lock.source_date_epoch;
    crate::docker::load::note_present(&lock.base.reference);
    let base_id = if made.entries.iter().any(Entry::is_whiteout) {
        None
    } else {
        let diff_ids: Vec<&crate::oci::Digest> =
            step.base_layers.iter().map(|l| &l.diff_id).collect();
        crate::docker::load::image_with_layers(docker, &lock.base.reference, &diff_ids).await
    };
    let entries = &made.entries;
    let (files, scripts) = match base_id {
        Some(base_id) => {
            let (image_tx, image_rx) = tokio::sync::oneshot::channel();
            let files = async move {
                let files = write(entries.clone(), epoch, compression, cache, files_key).await?;
                if options.engine_output {
                    let _ = image_tx.send(configure_image(step, &files));
                }
                Ok(files)
            };
            let preload = async { image_rx.await.ok() };
            let scripts = async {
                let (result, cleanup) = crate::apt::configure::configure_on(
                    docker,
                    &base_id,
                    entries.clone(),
                    &made.packages,
                    epoch,
                    preload,
                )
                .await;
                scripts_entries(result, cleanup, made, base).await
            };
            tokio::join!(files, scripts)
        }
        None => {
            // The engine takes the layer uncompressed (it stores layers so); when the
            // outputs want it compressed, that copy is written while the scripts run.
            let unpacked = write(
                entries.clone(),
                epoch,
                Compression::None,
                cache,
                files_key.clone(),
            )
            .await?;
            let files = async {
                if compression == Compression::None {
                    return Ok(unpacked.clone());
                }
                write(entries.clone(), epoch, compression, cache, files_key).await
            };
            let scripts = async {
                let image = configure_image(step, &unpacked);
                let (result, cleanup) = crate::apt::configure::configure_deferred(
                    docker,
                    &image,
                    &made.packages,
                    epoch,
                )
                .await;
                scripts_entries(result, cleanup, made, base).await
            };
            tokio::join!(files, scripts)
        }
    };
    let (entries, mut leftover) = scripts?;
    leftover.remove_container();
    let written = match files {
        Ok(files) => write(entries, epoch, compression, cache, scripts_key)
            .await
            .map(|scripts| (files, scripts)),
        Err(e) => Err(e),
    };
    match written {
        Ok((files, scripts)) => Ok((files, scripts, leftover)),
        Err(e) => {
            if let Err(cleaning) = leftover.finish().await {
                tracing::warn!("{cleaning}");
            }
            Err(e)
        }
    }
}

/// Writes one layer off the async runtime, remembering it under `key`.
async fn write(
    entries: Vec<Entry>,
    epoch: i64,
    compression: Compression,
    cache: &crate::oci::layer::LayerCache,
    key: LayerKey,
) -> Result<Layer, AptLayerError> {
    let cache = cache.clone();
    let started = std::time::Instant::now();
    let layer = blocking(move || {
        crate::oci::layer::write_layer(entries, epoch, compression, &cache, Some(&key))
    })
    .await??;
    tracing::debug!(
        "apt: layer {} written in {:?}",
        layer.diff_id,
        started.elapsed()
    );
    Ok(layer)
}

/// The image the engine is given for the scripts: the base plus the apt layer.
fn configure_image(step: &Step<'_>, files: &Layer) -> crate::oci::output::Image {
    (step.image_with)(vec![(
        "rtlock: apt (unconfigured)".to_string(),
        files.clone(),
    )])
}

/// The entries of the layer of what the scripts changed, from the outcome of their run
/// ([`crate::apt::configure`]); after an error the run's container and image are
/// removed here, else they are left in the cleanup for the caller.
async fn scripts_entries(
    result: Result<crate::apt::configure::Captured, crate::apt::configure::ConfigureError>,
    cleanup: crate::apt::configure::Cleanup,
    made: &AptLayer,
    base: &RootFs,
) -> Result<(Vec<Entry>, crate::apt::configure::Cleanup), AptLayerError> {
    let captured = match result {
        Ok(captured) => captured,
        Err(e) => {
            if let Err(cleaning) = cleanup.finish().await {
                tracing::warn!("{cleaning}");
            }
            return Err(AptLayerError::Configure(Box::new(e)));
        }
    };
    tracing::debug!("maintainer scripts:\n{}", captured.log);
    let entries = crate::apt::configure::scripts_layer(captured, &made.entries, base);
    Ok((entries, cleanup))
}
