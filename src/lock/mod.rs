//! `lock`: the manifest and the base image it extends → the lock.
//!
//! Pins the base ([`crate::base::pin`]), reads its files once for every ecosystem
//! ([`base_files`]), asks each ecosystem's `lock.rs` for its entries, and assembles them
//! with the source-date-epoch ([`epoch`]). `--update` and the pins kept from the
//! previous lock are handled here, once for every ecosystem, as cargo keeps Cargo.lock:
//! every locked package keeps its version unless `--update` names it, and the locked
//! base digest stays while `[base]` names the same image and platform.

pub mod base_files;
pub mod epoch;
pub mod summary;

use crate::apt::lock::{AptInputs, AptLockError, dpkg_arch, lock_apt};
use crate::base::pin::{self, BaseError, ResolvedBase};
use crate::fetch::Fetcher;
use crate::image::ImageError;
use crate::lockfile::Lockfile;
use crate::manifest::Manifest;
use crate::oci::registry::Registry;
use crate::pip::lock::{PipInputs, PipLockError, lock_pip};
use crate::pip::same_name;

pub use base_files::BaseFiles;
pub use epoch::{EpochError, EpochSource};

/// The name `--update` takes for the base image.
pub const UPDATE_BASE: &str = "base";

/// What to lock, besides the manifest.
#[derive(Debug, Clone, Copy)]
pub struct LockRequest<'a> {
    pub manifest: &'a Manifest,
    /// The lock as it stands, whose pins are kept.
    pub previous: Option<&'a Lockfile>,
    /// `--update`: `base` or names of locked packages to resolve again.
    pub update: &'a [String],
    /// `SOURCE_DATE_EPOCH` of the environment, when set.
    pub environment_epoch: Option<&'a str>,
}

/// A new lock and where its pins came from.
#[derive(Debug)]
pub struct Locked {
    pub lock: Lockfile,
    pub base: ResolvedBase,
    pub epoch_source: EpochSource,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "this version of rtlock cannot resolve [{0}] packages yet; remove them from the \
         manifest to lock the base image and image config alone"
    )]
    NotYet(&'static str),
    #[error(
        "`{name}` is not in the lock: `--update` takes `{UPDATE_BASE}` or the name of a locked package"
    )]
    NotLocked { name: String },
    #[error(transparent)]
    Base(#[from] BaseError),
    #[error("cannot read the base image {reference}")]
    BaseFiles {
        reference: String,
        #[source]
        source: ImageError,
    },
    #[error(transparent)]
    Apt(#[from] AptLockError),
    #[error(transparent)]
    Pip(#[from] PipLockError),
    #[error(transparent)]
    Epoch(#[from] EpochError),
}

/// The entries of `locked` that `--update` does not name: they keep their versions
/// (cargo's `update -p`). `same` compares names as the ecosystem does.
fn kept<P: Clone>(
    locked: &[P],
    update: &[String],
    name: impl Fn(&P) -> &str,
    same: fn(&str, &str) -> bool,
) -> Vec<P> {
    locked
        .iter()
        .filter(|p| !update.iter().any(|n| same(n, name(p))))
        .cloned()
        .collect()
}

/// Locks `request.manifest` against its base through `registry`, with `fetcher` for
/// indexes and files.
pub async fn lock(
    request: LockRequest<'_>,
    fetcher: &Fetcher,
    registry: &Registry,
) -> Result<Locked, LockError> {
    let manifest = request.manifest;
    if !manifest.r.packages.is_empty() {
        return Err(LockError::NotYet("r"));
    }
    let (previous, update) = (request.previous, request.update);
    let locked_apt = previous.map_or(&[][..], |p| &p.apt[..]);
    let locked_pip = previous.map_or(&[][..], |p| &p.pip[..]);
    let same_apt: fn(&str, &str) -> bool = |a, b| a == b;
    if let Some(name) = update.iter().find(|n| {
        *n != UPDATE_BASE
            && !locked_apt.iter().any(|p| same_apt(n, &p.name))
            && !locked_pip.iter().any(|p| same_name(n, &p.name))
    }) {
        return Err(LockError::NotLocked { name: name.clone() });
    }
    let keep_apt = kept(locked_apt, update, |p| &p.name, same_apt);
    let keep_pip = kept(locked_pip, update, |p| &p.name, same_name);

    let kept_base = previous.filter(|lock| {
        !update.iter().any(|n| n == UPDATE_BASE)
            && lock.base.reference == manifest.base.image
            && lock.base.platform == manifest.base.platform
    });
    let base = match kept_base {
        // Re-read the pinned manifest (not the tag) for its `created` time.
        Some(lock) => pin::resolve_pinned(&manifest.base, &lock.base, registry).await?,
        None => pin::resolve(&manifest.base, registry).await?,
    };

    let (epoch, epoch_source) =
        epoch::source_date_epoch(request.environment_epoch, manifest, &base)?;
    let mut lock = epoch::assemble(manifest, &base, epoch);

    if !manifest.apt.packages.is_empty() || !manifest.pip.packages.is_empty() {
        let files = base_files::read(&base, registry, fetcher.cache().root())
            .await
            .map_err(|source| LockError::BaseFiles {
                reference: base.reference.clone(),
                source,
            })?;
        if !manifest.apt.packages.is_empty() {
            let native_arch = dpkg_arch(
                &base.platform.architecture,
                base.platform.variant.as_deref(),
            );
            let inputs = AptInputs {
                spec: &manifest.apt,
                native_arch: &native_arch,
                keep: &keep_apt,
            };
            lock.apt = lock_apt(&files.apt, fetcher, &inputs).await?;
        }
        if !manifest.pip.packages.is_empty() {
            let inputs = PipInputs {
                spec: &manifest.pip,
                as_of: manifest.lock.as_of,
                architecture: &base.platform.architecture,
                keep: &keep_pip,
            };
            lock.pip = lock_pip(&files.python, fetcher, &inputs).await?;
        }
    }
    Ok(Locked {
        lock,
        base,
        epoch_source,
    })
}
