//! `oci-archive:` and `docker-archive:`: one tar file holding the image.
//!
//! Both are an OCI layout in a tar (`oci-layout`, `index.json`, `blobs/sha256/…`); the
//! docker archive adds Docker's `manifest.json` and `repositories`, which `docker load`
//! (20.10 and later) and skopeo read, as `docker save` of Docker 25 writes it. The tar
//! is made by the deterministic layer writer, so an archive of the same image has the
//! same bytes. It is written to a temporary sibling and renamed into place.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::layout::REF_NAME;
use super::{Image, OutputError, docker_tag, io_error};
use crate::oci::canonical_json;
use crate::oci::layer::{Content, Entry, LayerError, normalize, write_tar};
use crate::oci::media_type;
use crate::oci::types::ImageIndex;

/// The files of an OCI layout holding `image`, named `tag` when given.
fn layout_entries(image: &Image, tag: Option<&str>) -> Vec<Entry> {
    let mut entries = vec![
        Entry::dir("blobs", 0o755),
        Entry::dir("blobs/sha256", 0o755),
        Entry::file(
            "oci-layout",
            0o644,
            Content::Bytes(br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        ),
    ];
    let mut seen = BTreeSet::new();
    for layer in &image.layers {
        if seen.insert(layer.descriptor.digest.clone()) {
            entries.push(Entry::file(
                &format!("blobs/sha256/{}", layer.descriptor.digest.hex()),
                0o644,
                // Hashed as it is streamed: a corrupt cache entry fails the archive.
                Content::Blob {
                    path: layer.path.clone(),
                    digest: layer.descriptor.digest.clone(),
                },
            ));
        }
    }
    for (digest, bytes) in [
        (&image.config_descriptor.digest, &image.config),
        (&image.manifest_digest, &image.manifest),
    ] {
        if seen.insert(digest.clone()) {
            entries.push(Entry::file(
                &format!("blobs/sha256/{}", digest.hex()),
                0o644,
                Content::Bytes(bytes.clone()),
            ));
        }
    }
    let mut descriptor = image.manifest_descriptor();
    if let Some(tag) = tag {
        descriptor.annotations = Some([(REF_NAME.to_string(), tag.to_string())].into());
    }
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.to_string()),
        manifests: vec![descriptor],
        annotations: None,
        extra: Default::default(),
    };
    entries.push(Entry::file(
        "index.json",
        0o644,
        Content::Bytes(canonical_json::to_vec(&index)),
    ));
    entries
}

/// Docker's `manifest.json`: one image, its config and layers by path in the archive.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// The files of a docker archive holding `image`, tagged `reference` when given.
pub fn docker_archive_entries(image: &Image, reference: Option<&str>) -> Vec<Entry> {
    let tag = reference.map(|r| docker_tag(r).unwrap_or_else(|_| r.to_string()));
    let ref_name = tag
        .as_deref()
        .and_then(|t| t.rsplit_once(':'))
        .map(|(_, t)| t.to_string());
    let mut entries = layout_entries(image, ref_name.as_deref());
    let manifest = [DockerManifestEntry {
        config: format!("blobs/sha256/{}", image.config_descriptor.digest.hex()),
        repo_tags: tag.iter().cloned().collect(),
        layers: image
            .layers
            .iter()
            .map(|l| format!("blobs/sha256/{}", l.descriptor.digest.hex()))
            .collect(),
    }];
    entries.push(Entry::file(
        "manifest.json",
        0o644,
        Content::Bytes(canonical_json::to_vec(&manifest)),
    ));
    if let Some((name, tag)) = tag.as_deref().and_then(|t| t.rsplit_once(':')) {
        // The pre-manifest.json form: repository → tag → image ID.
        let repositories =
            serde_json::json!({ name: { tag: image.config_descriptor.digest.hex() } });
        entries.push(Entry::file(
            "repositories",
            0o644,
            Content::Bytes(canonical_json::to_vec(&repositories)),
        ));
    }
    entries
}

/// Writes `oci-archive:PATH[:TAG]`.
pub fn write_oci_archive(image: &Image, path: &Path, tag: Option<&str>) -> Result<(), OutputError> {
    write_archive(layout_entries(image, tag), image.epoch, path)
}

/// Writes `docker-archive:PATH[:REF]`.
pub fn write_docker_archive(
    image: &Image,
    path: &Path,
    reference: Option<&str>,
) -> Result<(), OutputError> {
    write_archive(docker_archive_entries(image, reference), image.epoch, path)
}

/// Streams the archive of `entries` to `out` (no temporary file: for `docker load`).
pub fn write_entries(
    entries: Vec<Entry>,
    epoch: i64,
    out: &mut dyn Write,
) -> Result<(), OutputError> {
    let entries = normalize(entries).expect("archive entries are well-formed");
    write_tar(&entries, epoch, out).map_err(|e| match e {
        LayerError::BlobMismatch {
            file,
            expected,
            actual,
        } => OutputError::CorruptBlob {
            digest: expected,
            file,
            actual,
        },
        other => OutputError::Io {
            path: "the archive stream".into(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

/// Replaces `path` with the archive, atomically, and only when what is there is a
/// regular file or nothing (see [`crate::atomic_file`]).
fn write_archive(entries: Vec<Entry>, epoch: i64, path: &Path) -> Result<(), OutputError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    // What is not an I/O error of the archive (a cached blob that does not hash to its
    // name) passes through the writer as it is, so the build can name and remove it.
    let mut not_io = None;
    crate::atomic_file::write_with(path, |out| {
        write_entries(entries, epoch, out).map_err(|e| match e {
            OutputError::Io { source, .. } => source,
            other => {
                let message = other.to_string();
                not_io = Some(other);
                std::io::Error::other(message)
            }
        })
    })
    .map_err(|e| not_io.take().unwrap_or_else(|| io_error(path)(e)))
}
