//! `oci:PATH[:TAG]`: an OCI image layout directory, created or updated.
//!
//! Blobs go in first, each copied through a temporary name and a rename; `index.json`
//! is replaced last and atomically. Every layer blob is hashed as it is copied (never
//! hard-linked: a link would publish whatever the cache holds, and share later damage),
//! and a blob already in the layout is hashed before it is kept. A reader of the layout
//! sees the old image or the new one, and an interrupted build leaves at most
//! unreferenced blobs.

use std::path::{Path, PathBuf};

use super::{Image, OutputError, io_error};
use crate::oci::Digest;
use crate::oci::canonical_json;
use crate::oci::layer::HashWriter;
use crate::oci::media_type;
use crate::oci::types::ImageIndex;

pub use crate::oci::annotation::REF_NAME;
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes `image` into the layout at `dir`, named `tag` in its index when given.
pub fn write_layout(image: &Image, dir: &Path, tag: Option<&str>) -> Result<(), OutputError> {
    let index_path = dir.join("index.json");
    let mut index = read_index(dir, &index_path)?;
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs).map_err(io_error(&blobs))?;
    for layer in &image.layers {
        place_file(
            &layer.path,
            &blobs.join(layer.descriptor.digest.hex()),
            &layer.descriptor.digest,
        )?;
    }
    place_bytes(
        &image.config,
        &blobs.join(image.config_descriptor.digest.hex()),
    )?;
    place_bytes(&image.manifest, &blobs.join(image.manifest_digest.hex()))?;
    let layout_file = dir.join("oci-layout");
    if !layout_file.exists() {
        crate::atomic_file::write(&layout_file, OCI_LAYOUT).map_err(io_error(&layout_file))?;
    }

    let mut entry = image.manifest_descriptor();
    if let Some(tag) = tag {
        entry.annotations = Some([(REF_NAME.to_string(), tag.to_string())].into());
    }
    // The new entry replaces one of the same name (or, untagged, of the same digest).
    index.manifests.retain(|m| {
        let name = m.annotations.as_ref().and_then(|a| a.get(REF_NAME));
        match tag {
            Some(tag) => name.map(String::as_str) != Some(tag),
            None => !(name.is_none() && m.digest == entry.digest),
        }
    });
    index.manifests.push(entry);
    crate::atomic_file::write(&index_path, &canonical_json::to_vec(&index))
        .map_err(io_error(&index_path))
}

fn read_index(dir: &Path, index_path: &Path) -> Result<ImageIndex, OutputError> {
    let empty = ImageIndex {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.to_string()),
        manifests: Vec::new(),
        annotations: None,
        extra: Default::default(),
    };
    match std::fs::read(index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| OutputError::NotALayout {
            path: dir.to_path_buf(),
            reason: format!("its index.json does not parse: {e}"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let occupied = std::fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false);
            if occupied && !dir.join("oci-layout").exists() {
                return Err(OutputError::NotALayout {
                    path: dir.to_path_buf(),
                    reason: "it is a directory with other files in it".into(),
                });
            }
            Ok(empty)
        }
        Err(e) => Err(io_error(index_path)(e)),
    }
}

/// Puts a copy of `source` at `target`, the content-addressed path of `digest`: an
/// existing file there is kept when it hashes to `digest`; the copy is hashed as it is
/// made, and one that does not match is removed and reported, never renamed into place.
fn place_file(source: &Path, target: &Path, digest: &Digest) -> Result<(), OutputError> {
    if crate::fetch::hash_file(target).is_ok_and(|(sha256, _)| sha256 == digest.hex()) {
        return Ok(());
    }
    let tmp = temp_sibling(target);
    let _ = std::fs::remove_file(&tmp);
    let actual = copy_hashed(source, &tmp).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(target)(e)
    })?;
    if actual != *digest {
        let _ = std::fs::remove_file(&tmp);
        return Err(OutputError::CorruptBlob {
            digest: digest.clone(),
            file: source.to_path_buf(),
            actual,
        });
    }
    std::fs::rename(&tmp, target).map_err(io_error(target))
}

/// Copies `source` to a new file `target` (readable by all, as blobs are), returning the
/// sha256 of what was copied.
fn copy_hashed(source: &Path, target: &Path) -> std::io::Result<Digest> {
    let mut from = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(source)?);
    let file = std::fs::File::create(target)?;
    crate::atomic_file::set_readable(&file)?;
    let mut to = HashWriter::new(std::io::BufWriter::with_capacity(1 << 20, file));
    std::io::copy(&mut from, &mut to)?;
    let (out, digest, _) = to.finish();
    out.into_inner().map_err(|e| e.into_error())?;
    Ok(digest)
}

fn place_bytes(bytes: &[u8], target: &Path) -> Result<(), OutputError> {
    if std::fs::read(target).is_ok_and(|there| there == bytes) {
        return Ok(());
    }
    crate::atomic_file::write(target, bytes).map_err(io_error(target))
}

/// `blobs/sha256/.<hex>.<pid>.tmp`: unique per process, hidden, next to its target.
fn temp_sibling(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::output::ImageLayer;
    use crate::oci::types::Descriptor;

    fn image(dir: &Path, content: &[u8]) -> Image {
        let layer = dir.join(format!("layer-{}", content.len()));
        std::fs::write(&layer, content).unwrap();
        let config = format!("{{\"n\":{}}}", content.len()).into_bytes();
        let manifest = format!("{{\"m\":{}}}", content.len()).into_bytes();
        Image {
            manifest_digest: Digest::of(&manifest),
            manifest,
            manifest_media_type: media_type::OCI_MANIFEST.into(),
            config_descriptor: Descriptor::new(
                media_type::OCI_CONFIG,
                Digest::of(&config),
                config.len() as u64,
            ),
            config,
            layers: vec![ImageLayer {
                descriptor: Descriptor::new(
                    media_type::OCI_LAYER_GZIP,
                    Digest::of(content),
                    content.len() as u64,
                ),
                diff_id: Digest::of(b"tar"),
                path: layer,
            }],
            epoch: 0,
        }
    }

    fn names(dir: &Path) -> Vec<(Option<String>, Digest)> {
        let index: ImageIndex =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        index
            .manifests
            .into_iter()
            .map(|m| {
                (
                    m.annotations.and_then(|a| a.get(REF_NAME).cloned()),
                    m.digest,
                )
            })
            .collect()
    }

    #[test]
    fn tags_accumulate_and_a_retag_replaces_its_entry() {
        let src = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let layout = out.path().join("layout");
        let (one, two) = (image(src.path(), b"one"), image(src.path(), b"second"));
        write_layout(&one, &layout, Some("a")).unwrap();
        write_layout(&two, &layout, Some("b")).unwrap();
        write_layout(&two, &layout, Some("a")).unwrap();
        assert_eq!(
            names(&layout),
            [
                (Some("b".into()), two.manifest_digest.clone()),
                (Some("a".into()), two.manifest_digest.clone())
            ]
        );
        for digest in [
            &one.layers[0].descriptor.digest,
            &two.config_descriptor.digest,
        ] {
            assert!(layout.join("blobs/sha256").join(digest.hex()).is_file());
        }
        assert!(layout.join("oci-layout").is_file());
        // No temporary names left behind.
        let leftovers = std::fs::read_dir(layout.join("blobs/sha256"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
