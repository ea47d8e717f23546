//! Images on local disk: an OCI image layout (a directory or an `oci-archive:` tar of
//! one) and a `docker save` archive (`docker-archive:`), both read through a [`Store`].
//!
//! JSON documents (index, manifest, config) are small and verified against their digest
//! as soon as they are read; layers are only located here and verified while they are
//! streamed (see [`super::layer`]).

use serde::Deserialize;

use super::ImageError;
use super::layer::LayerBlob;
use super::opened::{OpenedImage, Platform};
use super::store::Store;
use crate::oci::Digest;
use crate::oci::media_type::{ManifestKind, manifest_kind, sniff_manifest};
use crate::oci::types::{Descriptor, ImageConfig, ImageIndex, ImageManifest};

/// The annotation that names an entry of an OCI layout's `index.json` (its tag).
use crate::oci::annotation::REF_NAME;

/// Opens the image `tag` (or the only one) of an OCI layout.
pub fn open_oci(
    store: Store,
    tag: Option<&str>,
    platform: &Platform,
) -> Result<OpenedImage, ImageError> {
    let index: ImageIndex = parse_json(&store.read("index.json")?, "index.json", &store)?;
    let entry = select_tag(&index, tag, &store)?;
    let (manifest_digest, manifest) = resolve_manifest(&store, entry, platform)?;
    let config_bytes = read_blob(&store, &manifest.config)?;
    let config: ImageConfig = parse_json(&config_bytes, "the image config", &store)?;
    let layers = manifest
        .layers
        .iter()
        .enumerate()
        .map(|(i, descriptor)| {
            let location = store.locate(&blob_path(&descriptor.digest)).ok_or_else(|| {
                ImageError::Layout(format!(
                    "{} lacks the blob of layer {} ({}): the layout is incomplete; copy the image again",
                    store.display(),
                    i + 1,
                    descriptor.digest
                ))
            })?;
            Ok(LayerBlob {
                media_type: Some(descriptor.media_type.clone()),
                digest: Some(descriptor.digest.clone()),
                size: Some(descriptor.size),
                diff_id: config.rootfs.diff_ids.get(i).cloned(),
                location,
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    check_layer_count(&config, layers.len(), &store)?;
    Ok(OpenedImage {
        manifest_digest: Some(manifest_digest),
        config_digest: manifest.config.digest.clone(),
        manifest: Some(manifest),
        config,
        layers,
        keep_alive: vec![Box::new(store)],
    })
}

/// The `index.json` entry for `tag`; without a tag, the only entry.
fn select_tag<'a>(
    index: &'a ImageIndex,
    tag: Option<&str>,
    store: &Store,
) -> Result<&'a Descriptor, ImageError> {
    let name = |d: &Descriptor| {
        d.annotations
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .cloned()
    };
    let names: Vec<String> = index.manifests.iter().filter_map(name).collect();
    let found = match tag {
        Some(tag) => index
            .manifests
            .iter()
            .find(|d| name(d).as_deref() == Some(tag)),
        None if index.manifests.len() == 1 => index.manifests.first(),
        None => None,
    };
    found.ok_or_else(|| {
        let what = match tag {
            Some(tag) => format!("no image tagged `{tag}`"),
            None => format!("{} images and no tag was given", index.manifests.len()),
        };
        ImageError::Layout(format!(
            "{} has {what}; its tags: {}",
            store.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    })
}

/// Follows an index to the manifest for `platform`; returns the manifest and its digest.
fn resolve_manifest(
    store: &Store,
    descriptor: &Descriptor,
    platform: &Platform,
) -> Result<(Digest, ImageManifest), ImageError> {
    let mut descriptor = descriptor.clone();
    // An index may point at an index (skopeo copies a multi-platform image that way);
    // a few levels are plenty, and the bound stops a cycle.
    for _ in 0..4 {
        let bytes = read_blob(store, &descriptor)?;
        let media_type = sniff_manifest(Some(&descriptor.media_type), &bytes).map_err(|e| {
            ImageError::Layout(format!(
                "{} in {}: {e}\nhelp: copy the image into the layout again",
                descriptor.digest,
                store.display()
            ))
        })?;
        match manifest_kind(&media_type) {
            Some(ManifestKind::Manifest) => {
                let manifest = parse_json(&bytes, "the image manifest", store)?;
                return Ok((descriptor.digest, manifest));
            }
            Some(ManifestKind::Index) => {
                let index: ImageIndex = parse_json(&bytes, "an image index", store)?;
                descriptor = platform.select(&index).cloned().ok_or_else(|| {
                    ImageError::Layout(format!(
                        "{} has no image for {platform} (it has {})",
                        store.display(),
                        crate::oci::types::platform_list(&index)
                    ))
                })?;
            }
            None => {
                return Err(ImageError::Layout(format!(
                    "{} in {} is a `{media_type}`, not an image manifest or index",
                    descriptor.digest,
                    store.display()
                )));
            }
        }
    }
    Err(ImageError::Layout(format!(
        "{}: image indexes nested too deeply",
        store.display()
    )))
}

fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// A small blob, checked against its descriptor's digest and size.
fn read_blob(store: &Store, descriptor: &Descriptor) -> Result<Vec<u8>, ImageError> {
    let bytes = store.read(&blob_path(&descriptor.digest))?;
    verify_document(&bytes, descriptor, store)?;
    Ok(bytes)
}

fn verify_document(bytes: &[u8], descriptor: &Descriptor, store: &Store) -> Result<(), ImageError> {
    let actual = Digest::of(bytes);
    if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
        return Err(ImageError::Layout(format!(
            "the blob {} in {} does not match its descriptor ({} bytes hashing to {actual}, \
             expected {} bytes): the layout is corrupt; copy the image again",
            descriptor.digest,
            store.display(),
            bytes.len(),
            descriptor.size
        )));
    }
    Ok(())
}

fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    store: &Store,
) -> Result<T, ImageError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ImageError::Layout(format!("{what} in {} is not valid: {e}", store.display())))
}

fn check_layer_count(config: &ImageConfig, layers: usize, store: &Store) -> Result<(), ImageError> {
    if config.rootfs.diff_ids.len() != layers {
        return Err(ImageError::Layout(format!(
            "the image in {} has {layers} layers but its config lists {} diff_ids",
            store.display(),
            config.rootfs.diff_ids.len()
        )));
    }
    Ok(())
}

/// One image of a docker archive's `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Opens the image `reference` (or the only one) of a `docker save` archive.
pub fn open_docker_archive(
    store: Store,
    reference: Option<&str>,
) -> Result<OpenedImage, ImageError> {
    let entries: Vec<ArchiveEntry> =
        parse_json(&store.read("manifest.json")?, "manifest.json", &store)?;
    let tags = |e: &ArchiveEntry| e.repo_tags.clone().unwrap_or_default();
    let entry = match reference {
        Some(wanted) => entries
            .iter()
            .find(|e| tags(e).iter().any(|t| same_reference(t, wanted))),
        None if entries.len() == 1 => entries.first(),
        None => None,
    }
    .ok_or_else(|| {
        let all: Vec<String> = entries.iter().flat_map(tags).collect();
        ImageError::Layout(format!(
            "{} has {}; its tags: {}",
            store.display(),
            match reference {
                Some(r) => format!("no image tagged `{r}`"),
                None => format!("{} images and no reference was given", entries.len()),
            },
            if all.is_empty() {
                "none".to_string()
            } else {
                all.join(", ")
            }
        ))
    })?;
    let config_bytes = store.read(&entry.config)?;
    let config_digest = Digest::of(&config_bytes);
    if let Some(hex) = entry
        .config
        .strip_prefix("blobs/sha256/")
        .or_else(|| entry.config.strip_suffix(".json"))
        && hex.len() == 64
        && hex != config_digest.hex()
    {
        return Err(ImageError::Layout(format!(
            "the config {} in {} hashes to {config_digest}: the archive is corrupt",
            entry.config,
            store.display()
        )));
    }
    let config: ImageConfig = parse_json(&config_bytes, "the image config", &store)?;
    let layers = entry
        .layers
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let location = store.locate(path).ok_or_else(|| {
                ImageError::Layout(format!("{} lacks the layer {path}", store.display()))
            })?;
            Ok(LayerBlob {
                media_type: None,
                digest: None,
                size: None,
                diff_id: config.rootfs.diff_ids.get(i).cloned(),
                location,
            })
        })
        .collect::<Result<Vec<_>, ImageError>>()?;
    check_layer_count(&config, layers.len(), &store)?;
    Ok(OpenedImage {
        manifest: None,
        manifest_digest: None,
        config_digest,
        config,
        layers,
        keep_alive: vec![Box::new(store)],
    })
}

/// `docker save` writes short names (`debian:12`) and full ones (`127.0.0.1:5000/x:1`);
/// a user may type either, with or without Docker Hub's implied parts.
fn same_reference(tag: &str, wanted: &str) -> bool {
    let strip = |s: &str| {
        let hub = crate::oci::reference::DOCKER_HUB.name;
        let s = s
            .strip_prefix(hub)
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(s);
        s.strip_prefix("library/").unwrap_or(s).to_string()
    };
    let with_tag = |s: String| {
        let last = s.rsplit('/').next().unwrap_or(&s);
        if last.contains(':') || last.contains('@') {
            s
        } else {
            format!("{s}:latest")
        }
    };
    with_tag(strip(tag)) == with_tag(strip(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_references_compare_as_docker_does() {
        assert!(same_reference("debian:12", "docker.io/library/debian:12"));
        assert!(same_reference("x/y:latest", "x/y"));
        assert!(same_reference(
            "127.0.0.1:5000/a/b:1",
            "127.0.0.1:5000/a/b:1"
        ));
        assert!(!same_reference(
            "127.0.0.1:5000/a/b:1",
            "127.0.0.1:5000/a/b"
        ));
    }
}
