//! The layer cache: compressed layers kept by (diff_id, compression), so a rebuild
//! compresses nothing it compressed before.
//!
//! Layout under the root (by default `<cache-dir>/layers`):
//!
//! ```text
//! gzip/<diff_id hex>        the compressed blob
//! gzip/<diff_id hex>.json   {"digest", "size", "media_type"}: written after the blob
//! keys/<sha256 of key and compression>.<compression>   the diff_id a [`LayerKey`] produced
//! tmp/                      blobs being written (renamed into place when complete)
//! ```
//!
//! Every file is written to `tmp/` and renamed, so concurrent builds sharing a cache
//! see a complete entry or none; two writers of the same layer write the same bytes.
//!
//! A blob is used only while its stamp (recorded right after it was written, in the
//! fetch cache's [`Stamps`] index) says it is the file that was verified; otherwise it
//! is hashed again, and one that does not match its record is removed and made again.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::compress::{Compression, compress_into};
use super::key::LayerKey;
use super::{Layer, LayerError};
use crate::fetch::{BlobState, Stamps};
use crate::oci::Digest;

/// A layer cache directory.
#[derive(Debug, Clone)]
pub struct LayerCache {
    root: PathBuf,
    stamps: Stamps,
}

/// The record kept next to a cached blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedLayer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

impl LayerCache {
    /// A layer cache of its own at `root`, stamps included (`root/stamps`).
    pub fn new(root: impl Into<PathBuf>) -> LayerCache {
        let root = root.into();
        LayerCache {
            stamps: Stamps::new(root.join("stamps")),
            root,
        }
    }

    /// `<cache_dir>/layers` of the fetch cache `cache`, sharing its stamp index (and
    /// whether it trusts stamps: `build --verify`).
    pub fn in_cache_dir(cache: &crate::fetch::Cache) -> LayerCache {
        LayerCache {
            root: cache.root().join("layers"),
            stamps: cache.stamps().clone(),
        }
    }

    /// The stamp index the blobs are checked against.
    pub fn stamps(&self) -> &Stamps {
        &self.stamps
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blob_path(&self, compression: Compression, diff_id: &Digest) -> PathBuf {
        self.root.join(compression.as_str()).join(diff_id.hex())
    }

    fn record_path(&self, compression: Compression, diff_id: &Digest) -> PathBuf {
        self.root
            .join(compression.as_str())
            .join(format!("{}.json", diff_id.hex()))
    }

    /// The key file of `key` written with `compression`.
    fn key_path(&self, key: &LayerKey, compression: Compression) -> PathBuf {
        self.root.join("keys").join(format!(
            "{}.{}",
            key.with_compression(compression),
            compression.as_str()
        ))
    }

    /// The cached layer with this diff_id, if complete (record present) and its blob
    /// what the record says (by its stamp, else hashed now). A blob that is not is
    /// removed with its record, so that the layer is made again.
    pub fn get(&self, diff_id: &Digest, compression: Compression) -> Option<Layer> {
        let record_path = self.record_path(compression, diff_id);
        let record = std::fs::read(&record_path).ok()?;
        let record: CachedLayer = serde_json::from_slice(&record).ok()?;
        let path = self.blob_path(compression, diff_id);
        match self
            .stamps
            .check(&path, record.digest.hex(), Some(record.size))
        {
            Ok(BlobState::Valid { .. }) => {}
            Ok(BlobState::Missing) => return None,
            Ok(BlobState::Corrupt { actual_sha256 }) => {
                tracing::warn!(
                    "the cached layer {} is corrupt (it hashes to sha256:{actual_sha256}, not {}); \
                     removing it and making the layer again",
                    path.display(),
                    record.digest
                );
                self.stamps.discard(&path);
                let _ = std::fs::remove_file(&record_path);
                return None;
            }
            Err(e) => {
                tracing::warn!("cannot read the cached layer {}: {e}", path.display());
                return None;
            }
        }
        Some(Layer {
            media_type: record.media_type,
            digest: record.digest,
            diff_id: diff_id.clone(),
            size: record.size,
            path,
        })
    }

    /// The layer a key produced before, if it is still cached (and intact).
    pub fn lookup_key(&self, key: &LayerKey, compression: Compression) -> Option<Layer> {
        let text = std::fs::read_to_string(self.key_path(key, compression)).ok()?;
        let diff_id: Digest = text.trim().parse().ok()?;
        self.get(&diff_id, compression)
    }

    /// Remembers that `key` produced `diff_id`. Best effort: a failure only costs a
    /// rebuild of the layer next time.
    pub fn remember_key(&self, key: &LayerKey, compression: Compression, diff_id: &Digest) {
        let path = self.key_path(key, compression);
        if let Err(e) = self.write_small(&path, diff_id.as_str().as_bytes()) {
            tracing::debug!("cannot record layer key in {}: {e}", path.display());
        }
    }

    fn tmp_dir(&self) -> Result<PathBuf, LayerError> {
        let dir = self.root.join("tmp");
        std::fs::create_dir_all(&dir).map_err(|source| LayerError::Write {
            dir: dir.clone(),
            source,
        })?;
        Ok(dir)
    }

    fn write_small(&self, path: &Path, bytes: &[u8]) -> Result<(), LayerError> {
        let tmp_dir = self.tmp_dir()?;
        let fail = |source| LayerError::Write {
            dir: self.root.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(fail)?;
        tmp.write_all(bytes).map_err(fail)?;
        tmp.persist(path).map_err(|e| fail(e.error))?;
        Ok(())
    }

    /// Streams the tar that `produce` writes through `compression` into the cache and
    /// returns the cached layer. When the cache has that diff_id already, the new copy
    /// is dropped and the cached one returned (they are the same bytes).
    pub fn write_with(
        &self,
        compression: Compression,
        produce: impl FnOnce(&mut dyn Write) -> Result<(), LayerError>,
    ) -> Result<Layer, LayerError> {
        let tmp_dir = self.tmp_dir()?;
        let fail = |source| LayerError::Write {
            dir: self.root.clone(),
            source,
        };
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(fail)?;
        let out = BufWriter::with_capacity(1 << 20, tmp);
        let result = compress_into(out, compression, produce, fail).map_err(|e| match e {
            LayerError::Write { dir, source } if dir.as_os_str().is_empty() => LayerError::Write {
                dir: self.root.clone(),
                source,
            },
            other => other,
        })?;
        let tmp = result.out.into_inner().map_err(|e| fail(e.into_error()))?;
        if let Some(layer) = self.get(&result.diff_id, compression) {
            return Ok(layer);
        }
        let path = self.blob_path(compression, &result.diff_id);
        std::fs::create_dir_all(path.parent().expect("blob paths have a parent")).map_err(fail)?;
        tmp.as_file().sync_data().map_err(fail)?;
        crate::atomic_file::set_readable(tmp.as_file()).map_err(fail)?;
        tmp.persist(&path).map_err(|e| fail(e.error))?;
        // Hashed as it was written: stamped at its final name.
        self.stamps.record(&path, result.digest.hex());
        let record = CachedLayer {
            digest: result.digest.clone(),
            size: result.size,
            media_type: compression.media_type().to_string(),
        };
        self.write_small(
            &self.record_path(compression, &result.diff_id),
            &serde_json::to_vec(&record).expect("a record serializes"),
        )?;
        Ok(Layer {
            media_type: record.media_type,
            digest: result.digest,
            diff_id: result.diff_id,
            size: result.size,
            path,
        })
    }
}
