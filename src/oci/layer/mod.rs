//! The deterministic layer writer: a list of filesystem entries in, one compressed layer
//! blob out, whose bytes depend only on the entries and the source-date-epoch.
//!
//! The rules (DESIGN.md, "Determinism rules"): entries sorted by path with parents
//! first; mtimes clamped to the epoch; no atime/ctime; one header format (ustar, with a
//! PAX record only for what ustar cannot hold); gzip through the pinned flate2 +
//! miniz_oxide at level 6 with a header that has no name, no time and a fixed OS byte.
//! A change in any of these changes every rtlock layer digest, which is why a test pins
//! the digest of a small layer.
//!
//! The tar is hashed (diff_id), compressed and hashed again (digest) in one streaming
//! pass into a temporary file of the [`LayerCache`], which then keeps it by
//! (diff_id, compression): memory does not grow with layer size.

mod cache;
mod compress;
mod entry;
mod key;
mod tar_writer;

pub use cache::{CachedLayer, LayerCache};
pub use compress::{Compression, HashWriter};
pub use entry::{Content, Entry, EntryKind};
pub use key::{LayerInputs, LayerKey, PackageInput};
pub use tar_writer::{NormalizedEntries, normalize, write_tar};

use std::path::PathBuf;

use crate::oci::Digest;

/// A layer blob on disk, with what a manifest and a config need to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub media_type: String,
    /// sha256 of the compressed blob.
    pub digest: Digest,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Bytes of the compressed blob.
    pub size: u64,
    /// The blob (inside the layer cache: read, copy or hard-link it; never write to it).
    pub path: PathBuf,
}

/// Why a layer could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer entry `{path}`: {reason}")]
    InvalidEntry { path: String, reason: String },
    #[error("layer entry `{path}` appears twice")]
    Duplicate { path: String },
    #[error(
        "layer entry `{path}`: its content file {} changed size while being read ({expected} bytes, then {actual}); \
         is another process writing to it?",
        file.display()
    )]
    Changed {
        path: String,
        file: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("cannot read {} (content of layer entry `{path}`): {source}", file.display())]
    ReadContent {
        path: String,
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the blob {expected} ({}) does not hash to its name: its content hashes to {actual}",
        file.display()
    )]
    BlobMismatch {
        file: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    #[error("cannot write a layer into {}: {source}\nhelp: check free space and permissions of the cache directory (--cache-dir)", dir.display())]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Writes `entries` as one layer compressed with `compression`, into `cache`.
///
/// With `key` (the hash of everything the entries are made from, [`LayerInputs`]), a
/// layer built before from the same key is returned without reading any entry: this is
/// what makes a cached rebuild instant.
pub fn write_layer(
    entries: Vec<Entry>,
    epoch: i64,
    compression: Compression,
    cache: &LayerCache,
    key: Option<&LayerKey>,
) -> Result<Layer, LayerError> {
    if let Some(key) = key
        && let Some(layer) = cache.lookup_key(key, compression)
    {
        tracing::debug!("layer for {key} found in the layer cache: {}", layer.digest);
        return Ok(layer);
    }
    let entries = normalize(entries)?;
    let layer = cache.write_with(compression, |out| write_tar(&entries, epoch, out))?;
    if let Some(key) = key {
        cache.remember_key(key, compression, &layer.diff_id);
    }
    Ok(layer)
}

#[cfg(test)]
mod tests;
