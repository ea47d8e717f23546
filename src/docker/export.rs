//! Exporting an image from the Docker Engine (`docker save` through the API), for
//! reading images given as `docker-daemon:REF`.
//!
//! The engine sends a docker archive as one HTTP body; it is streamed chunk by chunk into
//! a temporary file (never held in memory), which [`crate::image`] then reads in place
//! like any `docker-archive:`. The file is deleted when the returned handle is dropped.

use std::io::Write;

use futures_util::StreamExt;

use crate::image::ImageError;

/// `docker save REF` into a temporary file (in `TMPDIR`).
pub async fn export_image(reference: &str) -> Result<tempfile::NamedTempFile, ImageError> {
    let docker = super::connect()
        .await
        .map_err(|e| ImageError::Remote(format!("cannot read docker-daemon:{reference}: {e}")))?;
    let mut temp = tempfile::Builder::new()
        .prefix("rtlock-docker-save-")
        .suffix(".tar")
        .tempfile()
        .map_err(|e| ImageError::io("cannot create a temporary file for the exported image", e))?;
    let mut stream = docker.export_image(reference);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| explain(reference, e))?;
        temp.write_all(&chunk).map_err(|e| {
            ImageError::io(
                format!(
                    "cannot write the exported image to {}",
                    temp.path().display()
                ),
                e,
            )
        })?;
        written += chunk.len() as u64;
    }
    temp.flush()
        .map_err(|e| ImageError::io("cannot write the exported image", e))?;
    tracing::debug!("exported docker-daemon:{reference}: {written} bytes");
    Ok(temp)
}

fn explain(reference: &str, error: bollard::errors::Error) -> ImageError {
    match &error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        } => ImageError::Remote(format!(
            "the Docker Engine has no image `{reference}`: `docker pull {reference}` first, \
             or read it from its registry as docker://{reference}"
        )),
        _ => ImageError::Remote(format!(
            "the Docker Engine could not export `{reference}`: {error}"
        )),
    }
}
