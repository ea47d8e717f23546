//! Exporting from the Docker Engine, for reading images given as `docker-daemon:REF`
//! (`docker save` through the API) and containers given as `container:ID`
//! (`docker export`).
//!
//! The engine sends a tar as one HTTP body; it is streamed chunk by chunk into a
//! temporary file (never held in memory), which the image reader then reads in place.
//! The file is deleted when the returned handle is dropped.

use std::io::{self, Write};

use futures_util::{Stream, StreamExt};

use super::DockerError;
use crate::oci::types::ImageConfig;

/// Why an image or container could not be exported from the Docker Engine. The engine's
/// (or the file system's) own error is the source; the reader of the export names what
/// was being read above this.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No engine to ask.
    #[error(transparent)]
    Connect(#[from] DockerError),

    #[error(
        "the Docker Engine has no image `{name}`: `docker pull {name}` first, \
         or read it from its registry as docker://{name}"
    )]
    NoImage {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("the Docker Engine has no container `{name}` (see `docker ps -a`)")]
    NoContainer {
        name: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("the Docker Engine could not export the {kind} `{name}`")]
    Api {
        kind: &'static str,
        name: String,
        #[source]
        source: bollard::errors::Error,
    },

    /// The container's configuration is not what an image config can hold.
    #[error("container:{id}: unexpected configuration")]
    Config {
        id: String,
        #[source]
        source: serde_json::Error,
    },

    /// The temporary file the export is written to.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl ExportError {
    fn io(what: impl Into<String>, source: io::Error) -> Self {
        ExportError::Io {
            what: what.into(),
            source,
        }
    }
}

/// `docker save REF` into a temporary docker archive (in `TMPDIR`).
pub async fn export_image(reference: &str) -> Result<tempfile::NamedTempFile, ExportError> {
    let docker = super::connect().await?;
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
pub async fn export_container(id: &str) -> Result<ExportedContainer, ExportError> {
    let docker = super::connect().await?;
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
    let config: ImageConfig =
        serde_json::from_value(config).map_err(|source| ExportError::Config {
            id: id.to_string(),
            source,
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
    kind: &'static str,
    name: &str,
) -> Result<tempfile::NamedTempFile, ExportError> {
    let mut temp = tempfile::Builder::new()
        .prefix("rtlock-docker-export-")
        .suffix(".tar")
        .tempfile()
        .map_err(|e| ExportError::io("cannot create a temporary file for the export", e))?;
    let mut stream = std::pin::pin!(stream);
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| explain(kind, name, e))?;
        let chunk = chunk.as_ref();
        temp.write_all(chunk).map_err(|e| {
            ExportError::io(
                format!("cannot write the export to {}", temp.path().display()),
                e,
            )
        })?;
        written += chunk.len() as u64;
    }
    temp.flush()
        .map_err(|e| ExportError::io("cannot write the export", e))?;
    tracing::debug!("exported {kind} {name}: {written} bytes");
    Ok(temp)
}

fn explain(kind: &'static str, name: &str, source: bollard::errors::Error) -> ExportError {
    let name = name.to_string();
    match (&source, kind) {
        (
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            },
            "image",
        ) => ExportError::NoImage { name, source },
        (
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            },
            "container",
        ) => ExportError::NoContainer { name, source },
        _ => ExportError::Api { kind, name, source },
    }
}
