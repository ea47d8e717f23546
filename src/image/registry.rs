//! `docker://` sources: the image's manifest, config and layers fetched from its
//! registry into the content-addressed cache (verified there), then read from the cache
//! like any local image. A second read of the same image downloads nothing, and an
//! image named by digest can be read `--offline`.

use futures_util::{StreamExt, TryStreamExt};

use super::ImageError;
use super::layer::LayerBlob;
use super::opened::{OpenedImage, Platform};
use super::store::BlobLocation;
use crate::oci::reference::Reference;
use crate::oci::registry::image::{RemoteImageError, Select, read};
use crate::oci::registry::{Registry, RegistryError};

/// Layers downloaded at once.
const PARALLEL: usize = 4;

/// Opens `reference` from its registry, for `platform` when it names an index.
pub async fn open(
    reference: &str,
    registry: &Registry,
    platform: &Platform,
) -> Result<OpenedImage, ImageError> {
    let r: Reference = reference.parse()?;
    let remote = |e: RegistryError| ImageError::Registry {
        reference: r.to_string(),
        source: Box::new(e),
    };
    let image = read(registry, &r, Select::Platform(platform))
        .await
        .map_err(|e| match e {
            RemoteImageError::Registry(e) => remote(e),
            other => ImageError::RemoteImage {
                reference: r.to_string(),
                source: Box::new(other),
            },
        })?;
    let (manifest, config) = (image.manifest, image.config);

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
        manifest_digest: Some(image.manifest_digest),
        config_digest: manifest.config.digest.clone(),
        manifest: Some(manifest),
        config,
        layers,
        keep_alive: Vec::new(),
    })
}
