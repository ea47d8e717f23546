//! `docker://REF`: push an image to a registry: layer blobs (skipped when present,
//! mounted from the base's repository on the same registry), then the config, then the
//! manifest under REF's tag (`latest` when none). The registry checks every digest.

use futures_util::{StreamExt, TryStreamExt};

use super::{Image, OutputError};
use crate::oci::reference::Reference;
use crate::oci::registry::Registry;

/// Blobs uploaded at once.
const PARALLEL: usize = 3;

/// Pushes `image` to `target`; `base` (when on the same registry) lends its blobs.
pub async fn push(
    registry: &Registry,
    image: &Image,
    target: &Reference,
    base: Option<&Reference>,
) -> Result<crate::oci::Digest, OutputError> {
    let target = if target.tag.is_none() && target.digest.is_none() {
        target.with_tag("latest")
    } else {
        target.clone()
    };
    futures_util::stream::iter(image.layers.iter().map(|layer| {
        let target = &target;
        async move {
            registry
                .push_blob(
                    target,
                    &layer.descriptor.digest,
                    layer.descriptor.size,
                    &layer.path,
                    base,
                )
                .await
        }
    }))
    .buffer_unordered(PARALLEL)
    .try_collect::<Vec<()>>()
    .await?;
    let config = tempfile::NamedTempFile::new()
        .map_err(super::io_error(std::path::Path::new("a temporary file")))?;
    std::fs::write(config.path(), &image.config).map_err(super::io_error(config.path()))?;
    registry
        .push_blob(
            &target,
            &image.config_descriptor.digest,
            image.config_descriptor.size,
            config.path(),
            None,
        )
        .await?;
    Ok(registry
        .push_manifest(&target, &image.manifest_media_type, &image.manifest)
        .await?)
}
