//! Opening an [`ImageSource`]: whatever the transport, the result is the same
//! [`OpenedImage`], a config plus layers on local disk ready to be streamed.
//!
//! - `oci:` reads the layout directory in place; `oci-archive:` and `docker-archive:`
//!   read their tar file in place (see [`super::store`]).
//! - `docker://` fetches the manifest, config and layers into the content-addressed
//!   cache (a second inspect of the same image downloads nothing).
//! - `docker-daemon:` streams `docker save` of the image from the Docker Engine into a
//!   temporary docker archive, then reads that.
//! - `container:` streams `docker export` of the container into a temporary tar, read
//!   as an image of one layer.

use super::ImageError;
use super::layer::LayerBlob;
use super::layout;
use super::opened::{OpenOptions, OpenedImage};
use super::source::ImageSource;
use super::store::{BlobLocation, Store};
use crate::docker::export::ExportError;
use crate::oci::Digest;

/// Opens `source`. Local sources do blocking file I/O; call this from a blocking
/// context or accept that (reading headers and small documents only).
pub async fn open(source: &ImageSource, options: &OpenOptions) -> Result<OpenedImage, ImageError> {
    match source {
        ImageSource::Oci { path, tag } => {
            if !path.join("index.json").is_file() {
                return Err(ImageError::Layout(format!(
                    "{} is not an OCI image layout (it has no index.json)",
                    path.display()
                )));
            }
            layout::open_oci(Store::Dir(path.clone()), tag.as_deref(), &options.platform)
        }
        ImageSource::OciArchive { path, tag } => {
            layout::open_oci(Store::tar(path)?, tag.as_deref(), &options.platform)
        }
        ImageSource::DockerArchive { path, reference } => {
            layout::open_docker_archive(Store::tar(path)?, reference.as_deref())
        }
        ImageSource::Registry { reference } => {
            let registry =
                options
                    .registry
                    .as_ref()
                    .ok_or_else(|| ImageError::NoRegistryClient {
                        image: source.to_string(),
                    })?;
            super::registry::open(reference, registry, &options.platform).await
        }
        ImageSource::DockerDaemon { reference } => {
            let archive = crate::docker::export::export_image(reference)
                .await
                .map_err(|e| engine(source, e))?;
            let mut image = layout::open_docker_archive(Store::tar(archive.path())?, None)?;
            image.keep_alive.push(Box::new(archive));
            Ok(image)
        }
        ImageSource::Container { id } => {
            let exported = crate::docker::export::export_container(id)
                .await
                .map_err(|e| engine(source, e))?;
            let location = BlobLocation::file(exported.archive.path())
                .map_err(|e| ImageError::io(format!("cannot read the export of {source}"), e))?;
            let config_digest = match exported.image_id.as_deref().map(str::parse::<Digest>) {
                Some(Ok(digest)) => digest,
                _ => Digest::of(&crate::oci::canonical_json::to_vec(&exported.config)),
            };
            Ok(OpenedImage {
                manifest: None,
                manifest_digest: None,
                config: exported.config,
                config_digest,
                // The whole filesystem as one plain tar, with no digest to check.
                layers: vec![LayerBlob {
                    media_type: Some(crate::oci::media_type::OCI_LAYER_TAR.into()),
                    digest: None,
                    size: None,
                    diff_id: None,
                    location,
                }],
                keep_alive: vec![Box::new(exported.archive)],
            })
        }
    }
}

fn engine(source: &ImageSource, error: ExportError) -> ImageError {
    ImageError::Engine {
        image: source.to_string(),
        source: Box::new(error),
    }
}
