//! Exporting from the Docker Engine, for reading images given as `docker-daemon:REF`
//! (`docker save` through the API) and containers given as `container:ID`
//! (`docker export`).
//!
//! The engine sends a tar as one HTTP body; it is streamed chunk by chunk into a
//! temporary file (never held in memory), which [`crate::image`] then reads in place.
//! The file is deleted when the returned handle is dropped.

use std::io::Write;

use futures_util::{Stream, StreamExt};

use crate::image::ImageError;
use crate::oci::types::ImageConfig;

/// `docker save REF` into a temporary docker archive (in `TMPDIR`).
pub async fn export_image(reference: &str) -> Result<tempfile::NamedTempFile, ImageError> {
    let docker = super::connect()
        .await
        .map_err(|e| ImageError::Remote(format!("cannot read docker-daemon:{reference}: {e}")))?;
    write_stream(docker.export_image(reference), "image", reference).await
}

/// A container's filesystem and what it runs with.
pub struct ExportedContainer {
    /// `docker export ID`: the container's whole filesystem as one plain tar.
    pub archive: tempfile::NamedTempFile,
    /// The container's environment, user and platform, shaped as an image config (the
    /// inventory reads `Env` from it, e.g. `PIP_INDEX_URL`).
    pub config: ImageConfig,
    /// The ID (config digest) of the image the container was created from.
    pub image_id: Option<String>,
}

/// `docker export ID`, with the container's configuration.
pub async fn export_container(id: &str) -> Result<ExportedContainer, ImageError> {
    let docker = super::connect()
        .await
        .map_err(|e| ImageError::Remote(format!("cannot read container:{id}: {e}")))?;
    let inspected = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| explain("container", id, e))?;
    let image_id = inspected.image.clone();
    let (architecture, os, variant) = match &image_id {
        Some(image) => match docker.inspect_image(image).await {
            Ok(i) => (i.architecture, i.os, i.variant),
            Err(_) => (None, None, None),
        },
        None => (None, None, None),
    };
    let container = inspected.config.unwrap_or_default();
    let config = serde_json::json!({
        "architecture": architecture.unwrap_or_else(|| "unknown".into()),
        "os": os.unwrap_or_else(|| "linux".into()),
        "variant": variant,
        "config": {"Env": container.env, "User": container.user},
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let config: ImageConfig = serde_json::from_value(config).map_err(|e| {
        ImageError::Remote(format!("container:{id}: unexpected configuration: {e}"))
    })?;
    let archive = write_stream(docker.export_container(id), "container", id).await?;
    Ok(ExportedContainer {
        archive,
        config,
        image_id,
    })
}

/// Writes a body stream from the engine into a temporary file.
async fn write_stream<B: AsRef<[u8]>>(
    stream: impl Stream<Item = Result<B, bollard::errors::Error>>,
    kind: &str,
    name: &str,
) -> Result<tempfile::NamedTempFile, ImageError> {
    let mut temp = tempfile::Builder::new()
        .prefix("rtlock-docker-export-")
        .suffix(".tar")
        .tempfile()
        .map_err(|e| ImageError::io("cannot create a temporary file for the export", e))?;
    let mut stream = std::pin::pin!(stream);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| explain(kind, name, e))?;
        let chunk = chunk.as_ref();
        temp.write_all(chunk).map_err(|e| {
            ImageError::io(
                format!("cannot write the export to {}", temp.path().display()),
                e,
            )
        })?;
        written += chunk.len() as u64;
    }
    temp.flush()
        .map_err(|e| ImageError::io("cannot write the export", e))?;
    tracing::debug!("exported {kind} {name}: {written} bytes");
    Ok(temp)
}

fn explain(kind: &str, name: &str, error: bollard::errors::Error) -> ImageError {
    match (&error, kind) {
        (
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            },
            "image",
        ) => ImageError::Remote(format!(
            "the Docker Engine has no image `{name}`: `docker pull {name}` first, \
                 or read it from its registry as docker://{name}"
        )),
        (
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            },
            _,
        ) => ImageError::Remote(format!(
            "the Docker Engine has no {kind} `{name}` (see `docker ps -a`)"
        )),
        _ => ImageError::Remote(format!(
            "the Docker Engine could not export the {kind} `{name}`: {error}"
        )),
    }
}
