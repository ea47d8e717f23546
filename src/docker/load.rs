//! `docker-daemon:REF`: loading a built image into the engine.
//!
//! The image goes as a docker-archive stream through `POST /images/load` (bollard's
//! `import_image_stream`, which streams the request body; `import_image` would buffer
//! the whole archive in memory). The archive is produced on a blocking thread into a
//! small bounded channel, so memory stays flat whatever the image size. Then the image
//! is tagged REF explicitly: engines with the containerd image store may not apply an
//! archive's `RepoTags`.
//!
//! Layers the engine already has are not sent: when an image it holds (the target's
//! previous version, or one [`note_present`] named, such as the base) starts with the
//! same diff_ids, the archive still lists those layers but leaves their blobs out. The
//! engine looks a layer up by its chain of diff_ids before it opens the blob, so a
//! known layer's blob is never read; an engine that needs it anyway (one with the
//! containerd image store) refuses the archive, and the whole image is sent instead.

use std::collections::BTreeSet;
use std::sync::Mutex;

use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;

use super::DockerError;
use crate::oci::output::{Image, docker_archive_entries, docker_tag, write_entries};

/// Chunks of the archive in flight between the writer thread and the request.
const CHANNEL_CHUNKS: usize = 8;
const CHUNK: usize = 256 * 1024;

/// Images (references or IDs) this process found in the engine or loaded into it,
/// whose layers later loads need not send.
static PRESENT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Says that the engine may hold `reference`, so that loads of images made on it send
/// only their own layers (checked at each load: the engine may have lost it since).
pub fn note_present(reference: &str) {
    let mut present = PRESENT.lock().unwrap_or_else(|e| e.into_inner());
    if !present.iter().any(|r| r == reference) {
        present.push(reference.to_string());
    }
}

/// Loads `image` into the engine and tags it `reference` (`name[:tag]`), sending only
/// the layers the engine does not have.
pub async fn load(docker: &Docker, image: &Image, reference: &str) -> Result<(), DockerError> {
    let host = super::docker_host();
    let tag = docker_tag(reference).map_err(|reason| DockerError::BadReference {
        reference: reference.to_string(),
        reason,
    })?;
    let mut candidates = PRESENT.lock().unwrap_or_else(|e| e.into_inner()).clone();
    candidates.push(tag.clone());
    let known = known_layers(docker, image, &candidates).await;
    let mut sent = false;
    if known > 0 {
        match send(docker, image, &tag, known).await {
            Ok(()) => sent = true,
            Err(e) => tracing::debug!(
                "loading {tag} without the {known} layers the engine has failed ({e}); \
                 sending every layer"
            ),
        }
    }
    if !sent {
        send(docker, image, &tag, 0).await?;
    }
    note_present(image.config_descriptor.digest.as_str());
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

/// How many of `image`'s bottom layers the engine has: the longest run of diff_ids
/// an image among `candidates` starts with.
async fn known_layers(docker: &Docker, image: &Image, candidates: &[String]) -> usize {
    let mut known = 0;
    for candidate in candidates {
        let Ok(inspected) = docker.inspect_image(candidate).await else {
            continue;
        };
        let layers = inspected.root_fs.and_then(|r| r.layers).unwrap_or_default();
        let same = layers
            .iter()
            .zip(&image.layers)
            .take_while(|(have, layer)| *have == layer.diff_id.as_str())
            .count();
        known = known.max(same);
    }
    known
}

/// Streams the docker archive of `image` to `POST /images/load`, without the blobs of
/// its bottom `skip` layers.
async fn send(docker: &Docker, image: &Image, tag: &str, skip: usize) -> Result<(), DockerError> {
    let host = super::docker_host();
    let mut entries = docker_archive_entries(image, Some(tag));
    if skip > 0 {
        let blob = |l: &crate::oci::output::ImageLayer| {
            format!("blobs/sha256/{}", l.descriptor.digest.hex())
        };
        let needed: BTreeSet<String> = image.layers[skip..].iter().map(blob).collect();
        let omitted: BTreeSet<String> = image.layers[..skip]
            .iter()
            .map(blob)
            .filter(|b| !needed.contains(b))
            .collect();
        entries.retain(|e| !omitted.contains(&e.path));
        tracing::debug!(
            "loading {tag}: {skip} of {} layers are in the engine already",
            image.layers.len()
        );
    }
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
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(DockerError::Stream {
            reason: e.to_string(),
        }),
        Err(e) => Err(DockerError::Stream {
            reason: e.to_string(),
        }),
    }
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
