//! `docker://` sources: the image's manifest, config and layers fetched from its
//! registry into the content-addressed cache (verified there), then read from the cache
//! like any local image. A second read of the same image downloads nothing, and an
//! image named by digest can be read `--offline`.

use futures_util::{StreamExt, TryStreamExt};

use super::ImageError;
use super::layer::LayerBlob;
use super::open::{OpenedImage, Platform};
use super::store::BlobLocation;
use crate::fetch::error_chain;
use crate::oci::media_type::{ManifestKind, manifest_kind};
use crate::oci::reference::Reference;
use crate::oci::registry::{Registry, RegistryError, select_platform};
use crate::oci::types::{ImageConfig, ImageIndex, ImageManifest};

/// Layers downloaded at once.
const PARALLEL: usize = 4;

/// Opens `reference` from its registry, for `platform` when it names an index.
pub async fn open(
    reference: &str,
    registry: &Registry,
    platform: &Platform,
) -> Result<OpenedImage, ImageError> {
    let r: Reference = reference
        .parse()
        .map_err(|e: crate::oci::reference::ReferenceError| ImageError::Remote(e.to_string()))?;
    let remote = |e: RegistryError| ImageError::Remote(error_chain(&e));
    let mut fetched = registry.get_manifest(&r).await.map_err(remote)?;
    // An index names one manifest per platform; nesting is bounded to stop a cycle.
    for _ in 0..4 {
        match manifest_kind(&fetched.media_type) {
            Some(ManifestKind::Manifest) => break,
            Some(ManifestKind::Index) => {
                let index: ImageIndex = parse(&fetched.bytes, "image index", &r)?;
                let entry = select_platform(
                    &index,
                    &platform.os,
                    &platform.architecture,
                    platform.variant.as_deref(),
                )
                .ok_or_else(|| {
                    ImageError::Remote(format!(
                        "{r} has no image for {platform} (it has {})",
                        super::layout::platform_list(&index)
                    ))
                })?;
                fetched = registry
                    .get_manifest(&r.with_digest(entry.digest.clone()))
                    .await
                    .map_err(remote)?;
            }
            None => {
                return Err(ImageError::Remote(format!(
                    "{r} is a `{}`, not an image manifest or index",
                    fetched.media_type
                )));
            }
        }
    }
    let manifest: ImageManifest = parse(&fetched.bytes, "image manifest", &r)?;
    let config_blob = registry
        .get_blob(&r, &manifest.config.digest, Some(manifest.config.size))
        .await
        .map_err(remote)?;
    let config_bytes = std::fs::read(&config_blob.path)
        .map_err(|e| ImageError::io(format!("cannot read the config of {r}"), e))?;
    let config: ImageConfig = parse(&config_bytes, "image config", &r)?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::Remote(format!(
            "{r} has {} layers but its config lists {} diff_ids",
            manifest.layers.len(),
            config.rootfs.diff_ids.len()
        )));
    }

    let layers: Vec<LayerBlob> = futures_util::stream::iter(manifest.layers.iter().enumerate())
        .map(|(i, descriptor)| {
            let (registry, r, diff_id) = (registry, &r, config.rootfs.diff_ids.get(i).cloned());
            async move {
                let blob = registry
                    .get_blob(r, &descriptor.digest, Some(descriptor.size))
                    .await
                    .map_err(remote)?;
                let location = BlobLocation::file(&blob.path).map_err(|e| {
                    ImageError::io(
                        format!("cannot read the cached layer {}", descriptor.digest),
                        e,
                    )
                })?;
                Ok::<_, ImageError>(LayerBlob {
                    media_type: Some(descriptor.media_type.clone()),
                    digest: Some(descriptor.digest.clone()),
                    size: Some(descriptor.size),
                    diff_id,
                    location,
                })
            }
        })
        .buffered(PARALLEL)
        .try_collect()
        .await?;

    Ok(OpenedImage {
        manifest_digest: Some(fetched.digest),
        config_digest: manifest.config.digest.clone(),
        manifest: Some(manifest),
        config,
        layers,
        keep_alive: Vec::new(),
    })
}

fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    r: &Reference,
) -> Result<T, ImageError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ImageError::Remote(format!("the {what} of {r} is not valid: {e}")))
}
