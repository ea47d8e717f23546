//! An image as its registry serves it: from a reference, through an index when it names
//! one, to the image manifest for a platform, and that manifest's config. The one walk
//! that pinning the base (`lock`), reading the pinned base (`build`) and `docker://`
//! sources share; each caller words the failures for its own user.

use super::{Registry, RegistryError};
use crate::oci::Digest;
use crate::oci::media_type::{ManifestKind, manifest_kind};
use crate::oci::reference::Reference;
use crate::oci::types::{ImageConfig, ImageIndex, ImageManifest, Platform, platform_list};

/// How deep indexes may nest (an index of indexes); deeper is refused, which also ends
/// a cycle.
const MAX_NESTING: usize = 4;

/// Which image manifest the reference must lead to.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    /// The one for this platform, when the reference names an index.
    Platform(&'a Platform),
    /// The reference itself must name an image manifest (a lock pins the platform's).
    ManifestOnly,
}

/// The image manifest a reference leads to, and its config.
#[derive(Debug, Clone)]
pub struct RemoteImage {
    /// What the reference named: an index's digest, or the manifest's own.
    pub top: Digest,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config: ImageConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteImageError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("has no image for {platform} (it has {offered})")]
    NoPlatform {
        // Boxed: an OCI platform's optional Windows fields would make every
        // `Result<_, RemoteImageError>` large.
        platform: Box<Platform>,
        /// The platforms the index offers, as [`platform_list`] words them.
        offered: String,
    },
    #[error("is a `{0}`, not an image manifest or index")]
    NotAnImage(String),
    #[error("manifest {digest} is a {media_type}, not an image manifest")]
    NotAManifest { digest: Digest, media_type: String },
    #[error("has image indexes nested too deeply")]
    TooDeep,
    #[error("has a {what} that does not parse: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("has a config blob that cannot be read")]
    Config(#[source] std::io::Error),
    #[error("has {layers} layers in its manifest but {diff_ids} diff_ids in its config")]
    Inconsistent { layers: usize, diff_ids: usize },
}

/// Walks from `reference` to the image manifest `select` asks for, and reads its config
/// (both land in the fetch cache, verified by digest).
pub async fn read(
    registry: &Registry,
    reference: &Reference,
    select: Select<'_>,
) -> Result<RemoteImage, RemoteImageError> {
    let mut fetched = registry.get_manifest(reference).await?;
    let top = fetched.digest.clone();
    let mut nesting = 0;
    loop {
        match (manifest_kind(&fetched.media_type), select) {
            (Some(ManifestKind::Manifest), _) => break,
            (Some(ManifestKind::Index), Select::Platform(platform)) => {
                nesting += 1;
                if nesting > MAX_NESTING {
                    return Err(RemoteImageError::TooDeep);
                }
                let index: ImageIndex = parse(&fetched.bytes, "index")?;
                let entry =
                    platform
                        .select(&index)
                        .ok_or_else(|| RemoteImageError::NoPlatform {
                            platform: Box::new(platform.clone()),
                            offered: platform_list(&index),
                        })?;
                fetched = registry
                    .get_manifest(&reference.with_digest(entry.digest.clone()))
                    .await?;
            }
            (Some(ManifestKind::Index), Select::ManifestOnly) => {
                return Err(RemoteImageError::NotAManifest {
                    digest: fetched.digest,
                    media_type: fetched.media_type,
                });
            }
            (None, _) => return Err(RemoteImageError::NotAnImage(fetched.media_type)),
        }
    }
    let manifest: ImageManifest = parse(&fetched.bytes, "manifest")?;
    let config_blob = registry
        .get_blob(
            reference,
            &manifest.config.digest,
            Some(manifest.config.size),
        )
        .await?;
    let config_bytes = std::fs::read(&config_blob.path).map_err(RemoteImageError::Config)?;
    let config: ImageConfig = parse(&config_bytes, "config")?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(RemoteImageError::Inconsistent {
            layers: manifest.layers.len(),
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    Ok(RemoteImage {
        top,
        manifest_digest: fetched.digest,
        manifest,
        config,
    })
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, RemoteImageError> {
    serde_json::from_slice(bytes).map_err(|e| RemoteImageError::Malformed {
        what,
        reason: e.to_string(),
    })
}
