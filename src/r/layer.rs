//! The R layer of a build, from the lock's `[[r]]` entries: one layer holding every
//! package's installed tree in the first library of `.libPaths()` (as root sees it) of
//! the image below it (the base, plus the apt and pip layers, which may be what brings
//! R).
//!
//! - Binary packages ([`binary`]) are unpacked without running R: the tarball holds the
//!   tree `R CMD INSTALL` leaves, which goes to `<library>/<Package>/…`, directories
//!   0755, files 0644 or 0755 (the tarball's exec bits), root's.
//! - Source packages ([`source`]) are built by `R CMD INSTALL` in one container of the
//!   image below plus the binaries, through the Docker Engine, in the order of the lock's
//!   `requires`; what they install is captured and normalized ([`normalize`]) so that
//!   two builds give the same bytes.
//! - A package the image below already holds in that library (an `allow-upgrade`) has
//!   its old files hidden by whiteouts ([`library::stale`]), as `R CMD INSTALL` removes
//!   the old directory before it installs.
//!
//! The layer is cached by its inputs ([`layer_inputs`]): a rebuild of the same lock
//! finds it without reading the base, the tarballs, or asking an engine.

pub mod binary;
pub mod library;
pub mod normalize;
pub mod source;
pub mod unpack;

use std::path::PathBuf;

use futures_util::{StreamExt, TryStreamExt};
use url::Url;

pub use crate::base::step::Step;
use crate::base::step::created_by;
use crate::fetch::Fetcher;
use crate::fetch::pinned::{PinnedFile, fetch_pinned};
use crate::lockfile::{Lockfile, RKind, RPackage};
use crate::oci::Digest;
use crate::oci::layer::{Compression, Entry, Layer, LayerInputs, PackageInput};
use crate::task::{TaskFailed, blocking};

/// The version of what rtlock puts in an R layer. Bump it whenever the same tarballs on
/// the same image would give other entries, so cached layers of the old format are not
/// reused.
pub const LAYER_FORMAT: &str = "rtlock-r-layer/1";

/// How source packages are built; part of the cache key of a layer that has any (bump
/// it when the build script or the normalization changes what is captured).
pub const SOURCE_BUILD: &str = "r-cmd-install/1";

/// Tarballs downloaded at once.
const PARALLEL_DOWNLOADS: usize = 6;

/// How the R layer is built, beyond the lock (the command line's choices).
#[derive(Debug, Clone, Copy, Default)]
pub struct ROptions {
    /// No Docker Engine: a lock with source packages cannot be built.
    pub no_daemon: bool,
}

/// A verified tarball of the lock, with what the lock says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tarball {
    pub name: String,
    pub version: String,
    pub kind: RKind,
    /// The file name the URL ends in (`R6_2.5.1.tar.gz`).
    pub filename: String,
    /// The verified file (in the fetch cache).
    pub file: PathBuf,
    /// The lock's `requires`: names of other `[[r]]` entries, or of packages the image
    /// already has.
    pub requires: Vec<String>,
}

impl Tarball {
    /// `R6 2.5.1`, as messages name a package.
    pub fn shown(&self) -> String {
        format!("{} {}", self.name, self.version)
    }
}

/// Why the R layer could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RLayerError {
    #[error(
        "cannot download the R package {package} from the lock's url or any mirror:\n  {}\n\
         help: pass `--mirror URL` (a CRAN-like repository that has src/contrib/{filename} \
         or src/contrib/Archive/{name}/{filename}), or run `rtlock fetch` where the URL \
         works and build from that cache",
        failures.join("\n  ")
    )]
    Fetch {
        package: String,
        name: String,
        filename: String,
        failures: Vec<String>,
    },
    #[error(
        "the image has no R installation{after} (looked for R_HOME/library/base and \
         R_HOME/etc/Renviron under /usr/lib/R, /usr/local/lib/R, /usr/lib64/R, /opt/R/*/lib/R)\n\
         help: extend a base image that has R, and run `rtlock lock` on it"
    )]
    NoR { after: &'static str },
    #[error(
        "the R at {home} has no library directory to install into (none of its \
         `.libPaths()` exists in the image)\n\
         help: create the site library in the base image (e.g. {home}/site-library)"
    )]
    NoLibrary { home: String },
    #[error(
        "cannot read the R package {package} ({filename})\n\
         help: the file passed its sha256 check, so it is the one the lock names; if the \
         repository serves a broken tarball, pin another version"
    )]
    Tarball {
        package: String,
        filename: String,
        #[source]
        source: crate::r::tarball::TarballError,
    },
    #[error(
        "the tarball {filename} locked as the R package {package} holds {found}\n\
         help: the lock's url, sha256 and size name another package's file (it passed its \
         sha256 check, so the lock itself points at it); run `rtlock lock` to pin the real \
         {package}, and review where the lock was changed"
    )]
    NotTheLocked {
        package: String,
        filename: String,
        /// What the tarball's DESCRIPTION (or top directory) says it is.
        found: String,
    },
    #[error(
        "the R package {package} is locked as a {locked} package, but {filename} is a \
         {found} one ({why})\n\
         help: run `rtlock lock` again: it decides the kind from the tarball's content"
    )]
    WrongKind {
        package: String,
        filename: String,
        locked: &'static str,
        found: &'static str,
        why: &'static str,
    },
    #[error(
        "the lock's R source packages {} require each other in a cycle: none can be built first\n\
         help: check their `requires` in the lock; run `rtlock lock` to write it again",
        packages.join(", ")
    )]
    Cycle { packages: Vec<String> },
    #[error(
        "the lock's R source packages are built with `R CMD INSTALL` in a Docker Engine, \
         and {reason}\n\
         source packages: {}\n\
         help: start the Docker Engine, or set DOCKER_HOST to one that runs (tried {host}), \
         and build without --no-daemon; or pin versions that the repositories serve as \
         binaries",
        packages.join(", ")
    )]
    NoEngine {
        /// The engine tried: DOCKER_HOST, else the default socket.
        host: String,
        /// `--no-daemon was given`, or why the engine did not answer.
        reason: String,
        packages: Vec<String>,
    },
    #[error("cannot build the R source packages {packages} in the Docker Engine")]
    Engine {
        packages: String,
        #[source]
        source: Box<crate::docker::DockerError>,
    },
    #[error("cannot build the R source packages {packages} in a container")]
    Container {
        packages: String,
        #[source]
        source: Box<crate::docker::container::ContainerError>,
    },
    #[error(
        "the R source package {package} failed to build: `R CMD INSTALL` ended with exit \
         status {exit_code}; the end of its output:\n{log_tail}\n\
         its SystemRequirements: {}\n\
         help: add the system libraries it needs (their -dev packages, and a compiler: \
         r-base-dev) to the manifest's [apt] packages, or pin a version that the \
         repositories serve as a binary",
        system_requirements.as_deref().unwrap_or("none declared")
    )]
    BuildFailed {
        package: String,
        exit_code: i64,
        log_tail: String,
        system_requirements: Option<String>,
    },
    #[error(transparent)]
    Normalize(#[from] normalize::NormalizeError),
    #[error("cannot read the image's R installation: {0}")]
    Base(#[from] crate::image::ImageError),
    #[error(
        "cannot spool the files of the R packages into {}: {source}\n\
         help: check free space and permissions of the temporary directory (TMPDIR)",
        dir.display()
    )]
    Spool {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Layer(#[from] crate::oci::layer::LayerError),
    #[error(transparent)]
    Task(#[from] TaskFailed),
}

/// The R layer's cache inputs: everything it is made from. The base's manifest digest
/// and the diff_ids of the layers below (`below`) pin the image R runs in and the
/// library's old contents; the tarballs are pinned by sha256, with the entry's name,
/// version and kind (the kind rides in `arch`: what the entry is built for), and the
/// epoch sets every mtime and the date of `Built:`. With source packages, `step` names
/// the build ([`SOURCE_BUILD`]) and its order.
pub fn layer_inputs(lock: &Lockfile, below: &[Digest]) -> LayerInputs {
    inputs("r", lock, below, &lock.r.iter().collect::<Vec<_>>())
}

/// The cache inputs of the layer of the binaries alone, which source builds run on.
fn binaries_inputs(lock: &Lockfile, below: &[Digest]) -> LayerInputs {
    let binaries: Vec<&RPackage> = lock.r.iter().filter(|p| p.kind == RKind::Binary).collect();
    inputs("r-binaries", lock, below, &binaries)
}

fn inputs(kind: &str, lock: &Lockfile, below: &[Digest], packages: &[&RPackage]) -> LayerInputs {
    let sources: Vec<(&str, &[String])> = packages
        .iter()
        .filter(|p| p.kind == RKind::Source)
        .map(|p| (p.name.as_str(), p.requires.as_slice()))
        .collect();
    let step = match source::build_order(&sources) {
        Ok(order) if !order.is_empty() => Some(format!("{SOURCE_BUILD}: {}", order.join(" "))),
        Ok(_) => None,
        // The layer is never made; the key only has to differ from a buildable one.
        Err(_) => Some(format!("{SOURCE_BUILD}: cycle")),
    };
    LayerInputs {
        kind: kind.to_string(),
        format: LAYER_FORMAT.to_string(),
        base_manifest: lock.base.manifest.clone(),
        source_date_epoch: lock.source_date_epoch,
        below: below.to_vec(),
        step,
        packages: packages
            .iter()
            .map(|p| PackageInput {
                name: p.name.clone(),
                version: p.version.to_string(),
                arch: Some(p.kind.as_str().to_string()),
                file: None,
                sha256: p.sha256.clone(),
                requested: None,
            })
            .collect(),
    }
}

/// Every tarball of the lock, verified against its sha256 and size: from its URL, else
/// from each mirror as a CRAN-like repository (`MIRROR/src/contrib/FILE`, then
/// `MIRROR/src/contrib/Archive/NAME/FILE`). Lock order.
pub async fn fetch_tarballs(
    fetcher: &Fetcher,
    packages: &[RPackage],
    mirrors: &[Url],
) -> Result<Vec<Tarball>, RLayerError> {
    futures_util::stream::iter(packages.iter().map(|package| async move {
        let filename = crate::lockfile::url_file_name(&package.url).unwrap_or_default();
        let file = fetch_one(fetcher, package, &filename, mirrors).await?;
        Ok::<_, RLayerError>(Tarball {
            name: package.name.clone(),
            version: package.version.to_string(),
            kind: package.kind,
            filename,
            file,
            requires: package.requires.clone(),
        })
    }))
    .buffered(PARALLEL_DOWNLOADS)
    .try_collect()
    .await
}

async fn fetch_one(
    fetcher: &Fetcher,
    package: &RPackage,
    filename: &str,
    mirrors: &[Url],
) -> Result<PathBuf, RLayerError> {
    let file = PinnedFile {
        name: &package.name,
        url: &package.url,
        relative: filename,
        sha256: &package.sha256,
        size: package.size,
    };
    let repositories = mirror_dirs(mirrors, &package.name);
    fetch_pinned(fetcher, file, &repositories)
        .await
        .map_err(|failures| RLayerError::Fetch {
            package: format!("{} {}", package.name, package.version),
            name: package.name.clone(),
            filename: filename.to_string(),
            failures,
        })
}

/// The directories of each CRAN-like mirror where a package's tarball may be: the
/// current one (`src/contrib/`), then its archive (`src/contrib/Archive/NAME/`).
pub fn mirror_dirs(mirrors: &[Url], name: &str) -> Vec<Url> {
    let mut dirs = Vec::new();
    for mirror in mirrors {
        let mut root = mirror.clone();
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        for dir in [
            "src/contrib/".to_string(),
            format!("src/contrib/Archive/{name}/"),
        ] {
            if let Ok(url) = root.join(&dir) {
                dirs.push(url);
            }
        }
    }
    dirs
}

/// The R layer (history line, layer), from the layer cache when a layer of the same
/// key was written before (then neither the image nor the tarballs are read, and no
/// engine is asked). `below` are rtlock's layers under it (apt, pip), bottom first.
pub async fn layer(
    step: &Step<'_>,
    below: &[(String, Layer)],
    tarballs: Vec<Tarball>,
    options: &ROptions,
) -> Result<(String, Layer), RLayerError> {
    let (lock, compression) = (step.lock, step.compression);
    let history = created_by("r", tarballs.len());
    let below_ids: Vec<Digest> = below.iter().map(|(_, l)| l.diff_id.clone()).collect();
    let key = layer_inputs(lock, &below_ids).key();
    if let Some(layer) = step.layer_cache.lookup_key(&key, compression) {
        return Ok((history, layer));
    }
    let sources: Vec<&Tarball> = tarballs
        .iter()
        .filter(|t| t.kind == RKind::Source)
        .collect();
    // Checked before anything is read: the build cannot end well without an engine.
    let engine = if sources.is_empty() {
        None
    } else {
        let order = order_of(&sources)?;
        Some((engine(options, &order).await?, order))
    };

    let base_layers = step.base_layers.to_vec();
    let below_layers: Vec<Layer> = below.iter().map(|(_, l)| l.clone()).collect();
    let config = step.base_config.clone();
    let started = std::time::Instant::now();
    let made =
        blocking(move || binary::make(&base_layers, &below_layers, &config, &tarballs)).await??;
    tracing::debug!("r layer: entries made in {:?}", started.elapsed());
    let epoch = lock.source_date_epoch;
    let built = match engine {
        None => Vec::new(),
        Some((docker, order)) => {
            let mut under: Vec<(String, Layer)> = below.to_vec();
            if !made.entries.is_empty() {
                // The engine takes layers uncompressed; this one is also cached.
                let binaries = write(
                    made.entries.clone(),
                    epoch,
                    Compression::None,
                    step.layer_cache,
                    binaries_inputs(lock, &below_ids).key(),
                )
                .await?;
                under.push(("rtlock: r binaries (for source builds)".into(), binaries));
            }
            let image = (step.image_with)(under);
            source::build(
                &docker,
                &image,
                &lock.base.reference,
                &made.library,
                &made.sources,
                &order,
                epoch,
            )
            .await?
        }
    };
    let (entries, spool) = made.finish(built);
    let written = write(entries, epoch, compression, step.layer_cache, key).await?;
    // The spooled files are written into the layer now.
    drop(spool);
    Ok((history, written))
}

/// The source packages' names in build order.
fn order_of(sources: &[&Tarball]) -> Result<Vec<String>, RLayerError> {
    let graph: Vec<(&str, &[String])> = sources
        .iter()
        .map(|t| (t.name.as_str(), t.requires.as_slice()))
        .collect();
    source::build_order(&graph).map_err(|packages| RLayerError::Cycle { packages })
}

/// The engine the source packages are built in, or why there is none.
async fn engine(options: &ROptions, order: &[String]) -> Result<bollard::Docker, RLayerError> {
    let no_engine = |reason: String| RLayerError::NoEngine {
        host: crate::docker::docker_host(),
        reason,
        packages: order.to_vec(),
    };
    if options.no_daemon {
        return Err(no_engine("--no-daemon was given".to_string()));
    }
    crate::docker::connect().await.map_err(|e| {
        let why = e.to_string();
        let first = why.lines().next().unwrap_or_default().to_string();
        no_engine(format!("none answers: {first}"))
    })
}

/// Writes one layer off the async runtime, remembering it under `key`.
async fn write(
    entries: Vec<Entry>,
    epoch: i64,
    compression: Compression,
    cache: &crate::oci::layer::LayerCache,
    key: crate::oci::layer::LayerKey,
) -> Result<Layer, RLayerError> {
    let cache = cache.clone();
    let started = std::time::Instant::now();
    let layer = blocking(move || {
        crate::oci::layer::write_layer(entries, epoch, compression, &cache, Some(&key))
    })
    .await??;
    tracing::debug!(
        "r: layer {} written in {:?}",
        layer.diff_id,
        started.elapsed()
    );
    Ok(layer)
}

#[cfg(test)]
mod tests;
