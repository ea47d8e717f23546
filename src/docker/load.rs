//! `docker-daemon:REF`: loading a built image into the engine.
//!
//! The image goes as a docker-archive stream through `POST /images/load` (bollard's
//! `import_image_stream`, which streams the request body; `import_image` would buffer
//! the whole archive in memory). The archive is produced on a blocking thread into a
//! small bounded channel, so memory stays flat whatever the image size. Then the image
//! is tagged REF explicitly: engines with the containerd image store may not apply an
//! archive's `RepoTags`.

use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;

use super::DockerError;
use crate::oci::output::{Image, docker_archive_entries, docker_tag, write_entries};

/// Chunks of the archive in flight between the writer thread and the request.
const CHANNEL_CHUNKS: usize = 8;
const CHUNK: usize = 256 * 1024;

/// Loads `image` into the engine and tags it `reference` (`name[:tag]`).
pub async fn load(docker: &Docker, image: &Image, reference: &str) -> Result<(), DockerError> {
    let host = super::docker_host();
    let tag = docker_tag(reference).map_err(|reason| DockerError::BadReference {
        reference: reference.to_string(),
        reason,
    })?;
    let entries = docker_archive_entries(image, Some(&tag));
    let epoch = image.epoch;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let result = write_entries(entries, epoch, &mut out).and_then(|()| {
            out.flush_chunk()
                .map_err(|source| crate::oci::output::OutputError::Io {
                    path: "the docker load stream".into(),
                    source,
                })
        });
        if let Err(e) = &result {
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        result
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
        .quiet(true)
        .build();
    let mut responses = std::pin::pin!(docker.import_image_stream(options, body, None));
    while let Some(message) = responses.next().await {
        let info = message.map_err(|source| DockerError::Api {
            host: host.clone(),
            source,
        })?;
        if let Some(text) = info
            .stream
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            tracing::info!("docker: {text}");
        }
    }
    match writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(DockerError::Stream {
                reason: e.to_string(),
            });
        }
        Err(e) => {
            return Err(DockerError::Stream {
                reason: e.to_string(),
            });
        }
    }
    let (repo, tag_part) = tag.rsplit_once(':').expect("docker_tag adds a tag");
    let options = bollard::query_parameters::TagImageOptionsBuilder::new()
        .repo(repo)
        .tag(tag_part)
        .build();
    docker
        .tag_image(image.config_descriptor.digest.as_str(), Some(options))
        .await
        .map_err(|source| DockerError::Api { host, source })
}

/// Collects writes into chunks and sends them down the channel (blocking: this runs on
/// a blocking thread, and waiting here is what bounds memory).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the Docker Engine stopped reading the image"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(CHUNK - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == CHUNK {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
