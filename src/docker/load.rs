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
use futures_util::StreamExt;

use super::DockerError;
use crate::oci::output::{Image, docker_archive_entries, docker_tag, write_entries};

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
    let tag = docker_tag(reference).map_err(|source| DockerError::BadReference {
        reference: reference.to_string(),
        source,
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

/// The ID of the image `reference` names in the engine when its layers are exactly
/// `diff_ids` (the engine may hold another image under that name, or none).
pub async fn image_with_layers(
    docker: &Docker,
    reference: &str,
    diff_ids: &[&crate::oci::Digest],
) -> Option<String> {
    let inspected = docker.inspect_image(reference).await.ok()?;
    let layers = inspected.root_fs.and_then(|r| r.layers).unwrap_or_default();
    let same = layers.len() == diff_ids.len()
        && layers
            .iter()
            .zip(diff_ids)
            .all(|(have, want)| have == want.as_str());
    same.then_some(inspected.id).flatten()
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
    let (body, writer) = super::stream::body(move |out| write_entries(entries, epoch, out));
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
    writer
        .await
        .map_err(|source| DockerError::Stream { source })
}
