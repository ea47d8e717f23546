//! `lock`: the manifest and the base image it extends → the lock.
//!
//! Pins the base ([`crate::base::pin`]), reads its files once for every ecosystem
//! ([`base_files`]), asks each ecosystem's `lock.rs` for its entries, and assembles them
//! with the source-date-epoch ([`epoch`]). `--update` and the pins kept from the
//! previous lock are handled here, once for every ecosystem, as cargo keeps Cargo.lock:
//! every locked package keeps its version unless `--update` names it, and the locked
//! base digest stays while `[base]` names the same image and platform.
//!
//! Orchestration above the ecosystems: may import their `lock.rs` (and `pip`'s and `apt`'s
//! base facts), `base`, `manifest`, `lockfile`, `fetch`, `image`, `oci` and `task`.

pub mod base_files;
pub mod epoch;
pub mod summary;

use crate::apt::lock::{
    AptArchives, AptInputs, AptLockError, NeededLibrary, dpkg_arch, lock_apt, lock_apt_on,
};
use crate::base::pin::{self, BaseError, ResolvedBase};
use crate::fetch::Fetcher;
use crate::image::ImageError;
use crate::lockfile::Lockfile;
use crate::manifest::Manifest;
use crate::oci::registry::Registry;
use crate::pip::lock::{PipInputs, PipLockError, lock_pip};
use crate::pip::same_name;
use crate::r::lock::{RInputs, RLockError, lock_r};

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
    #[error(
        "the base image {reference} is {name} (ID={id} in its os-release), not Debian or Ubuntu: \
         rtlock installs packages the way dpkg, apt, pip and R do on Debian and Ubuntu bases\n\
         help: extend a Debian- or Ubuntu-based image (Cloudera's hardened, Wolfi-based \
         editions cannot be extended with rtlock)"
    )]
    NotDebian {
        reference: String,
        name: String,
        id: String,
    },
    #[error(transparent)]
    Apt(#[from] AptLockError),
    #[error(transparent)]
    Pip(#[from] PipLockError),
    #[error(transparent)]
    R(#[from] RLockError),
    #[error(transparent)]
    Epoch(#[from] EpochError),
}

/// The name and ID of a base whose os-release names neither Debian nor Ubuntu (nor a
/// derivative of them in `ID_LIKE`): such a base is refused by what it says it is. A
/// base without os-release is left to the ecosystems (an old or stripped image may
/// still hold dpkg).
fn other_distribution(rootfs: &crate::image::RootFs) -> Option<(String, String)> {
    let text = ["etc/os-release", "usr/lib/os-release"]
        .iter()
        .find_map(|p| rootfs.read_file(p).ok().flatten());
    let text = text?;
    let fields = crate::base::os::parse_os_release(&String::from_utf8_lossy(&text));
    let debian_like = |v: &str| {
        v.split_whitespace()
            .any(|id| id == "debian" || id == "ubuntu")
    };
    let id = fields.get("ID").map(String::as_str).unwrap_or("");
    let like = fields.get("ID_LIKE").map(String::as_str).unwrap_or("");
    if debian_like(id) || debian_like(like) {
        return None;
    }
    let name = fields
        .get("PRETTY_NAME")
        .or_else(|| fields.get("NAME"))
        .cloned()
        .unwrap_or_else(|| "an unnamed system".to_string());
    Some((name, id.to_string()))
}

/// The ecosystems a lock holds, in the order they are locked (and their layers built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ecosystem {
    Apt,
    Pip,
    R,
}

impl Ecosystem {
    const ALL: [Ecosystem; 3] = [Ecosystem::Apt, Ecosystem::Pip, Ecosystem::R];

    /// The manifest asks for packages of this ecosystem.
    fn requested(self, manifest: &Manifest) -> bool {
        match self {
            Ecosystem::Apt => !manifest.apt.packages.is_empty(),
            Ecosystem::Pip => !manifest.pip.packages.is_empty(),
            Ecosystem::R => !manifest.r.packages.is_empty(),
        }
    }

    /// The names `lock` holds for this ecosystem.
    fn locked(self, lock: &Lockfile) -> Vec<&str> {
        match self {
            Ecosystem::Apt => lock.apt.iter().map(|p| p.name.as_str()).collect(),
            Ecosystem::Pip => lock.pip.iter().map(|p| p.name.as_str()).collect(),
            Ecosystem::R => lock.r.iter().map(|p| p.name.as_str()).collect(),
        }
    }

    /// Whether two names name the same package, as the ecosystem compares them.
    fn same_name(self, a: &str, b: &str) -> bool {
        match self {
            Ecosystem::Pip => same_name(a, b),
            Ecosystem::Apt | Ecosystem::R => a == b,
        }
    }

    /// `--update` names this locked package.
    fn named(self, update: &[String], name: &str) -> bool {
        update.iter().any(|n| self.same_name(n, name))
    }
}

/// Locks `request.manifest` against its base through `registry`, with `fetcher` for
/// indexes and files.
pub async fn lock(
    request: LockRequest<'_>,
    fetcher: &Fetcher,
    registry: &Registry,
) -> Result<Locked, LockError> {
    let manifest = request.manifest;
    let (previous, update) = (request.previous, request.update);
    // `--update` and the kept pins, once for every ecosystem: every locked package keeps
    // its version unless `--update` names it (cargo's `update -p`).
    if let Some(name) = update.iter().find(|name| {
        *name != UPDATE_BASE
            && !Ecosystem::ALL
                .iter()
                .any(|e| previous.is_some_and(|p| e.locked(p).iter().any(|l| e.same_name(name, l))))
    }) {
        return Err(LockError::NotLocked { name: name.clone() });
    }
    let keep_apt: Vec<_> = previous
        .map_or(&[][..], |p| &p.apt[..])
        .iter()
        .filter(|p| !Ecosystem::Apt.named(update, &p.name))
        .cloned()
        .collect();
    let keep_r: Vec<_> = previous
        .map_or(&[][..], |p| &p.r[..])
        .iter()
        .filter(|p| !Ecosystem::R.named(update, &p.name))
        .cloned()
        .collect();
    let keep_pip: Vec<_> = previous
        .map_or(&[][..], |p| &p.pip[..])
        .iter()
        .filter(|p| !Ecosystem::Pip.named(update, &p.name))
        .cloned()
        .collect();

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

    let requested: Vec<Ecosystem> = Ecosystem::ALL
        .into_iter()
        .filter(|e| e.requested(manifest))
        .collect();
    if requested.is_empty() {
        return Ok(Locked {
            lock,
            base,
            epoch_source,
        });
    }
    // One pass over the base's layers for every ecosystem.
    let files = base_files::read(&base, registry, fetcher.cache().root())
        .await
        .map_err(|source| LockError::BaseFiles {
            reference: base.reference.clone(),
            source,
        })?;
    if let Some((name, id)) = other_distribution(&files.apt) {
        return Err(LockError::NotDebian {
            reference: base.reference.clone(),
            name,
            id,
        });
    }
    let native_arch = dpkg_arch(
        &base.platform.architecture,
        base.platform.variant.as_deref(),
    );
    // R first: the shared libraries its binary packages need become apt requests, in
    // the same apt solve as `[apt] packages`. The apt archives (and, for R's libraries,
    // their Contents indexes) do not depend on R's answer, so they are fetched while R
    // resolves: what R's tarball downloads and apt's index downloads cost overlaps.
    // When R is done and apt is not needed, the fetch is dropped where it stands.
    let prefetch = AptArchives::fetch_with(
        &files.apt,
        fetcher,
        &manifest.apt,
        &native_arch,
        manifest.r.system_requirements,
    );
    tokio::pin!(prefetch);
    let mut prefetched = None;
    let mut libraries = Vec::new();
    if requested.contains(&Ecosystem::R) {
        let inputs = RInputs {
            spec: &manifest.r,
            as_of: manifest.lock.as_of,
            keep: &keep_r,
        };
        let r = lock_r(&files.r, fetcher, &inputs);
        tokio::pin!(r);
        let locked = loop {
            tokio::select! {
                biased;
                locked = &mut r => break locked?,
                archives = &mut prefetch, if prefetched.is_none() => prefetched = Some(archives),
            }
        };
        for warning in &locked.warnings {
            tracing::warn!("{warning}");
        }
        lock.r = locked.entries;
        libraries = locked
            .sonames
            .into_iter()
            .map(|needed| NeededLibrary {
                soname: needed.soname,
                needed_by: needed.needed_by,
            })
            .collect();
    }
    if requested.contains(&Ecosystem::Apt) || !libraries.is_empty() {
        let inputs = AptInputs {
            spec: &manifest.apt,
            native_arch: &native_arch,
            keep: &keep_apt,
            libraries: &libraries,
            add_libraries: manifest.r.system_requirements,
        };
        let locked = if requested.contains(&Ecosystem::R) {
            // A base without apt (or an archive out of reach) matters only now that apt
            // is needed; the error is the one a lock without R would give.
            let (archives, shared_objects) = match prefetched {
                Some(archives) => archives,
                None => prefetch.await,
            }?;
            lock_apt_on(&archives, shared_objects, fetcher, &inputs).await?
        } else {
            lock_apt(&files.apt, fetcher, &inputs).await?
        };
        for warning in &locked.warnings {
            tracing::warn!("{warning}");
        }
        lock.apt = locked.entries;
    }
    if requested.contains(&Ecosystem::Pip) {
        let inputs = PipInputs {
            spec: &manifest.pip,
            as_of: manifest.lock.as_of,
            architecture: &base.platform.architecture,
            keep: &keep_pip,
        };
        lock.pip = lock_pip(&files.python, fetcher, &inputs).await?;
    }
    Ok(Locked {
        lock,
        base,
        epoch_source,
    })
}
