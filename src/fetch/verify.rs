//! Whether a file holds the content its sha256 names: the hashing and the check that
//! the cache ([`super::cache`]) and the stamp index ([`super::stamp`]) both use. A leaf:
//! it knows nothing of either.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Buffer size for hashing and copying: large enough that the SHA-NI hash path, not
/// syscalls, sets the pace.
pub(crate) const IO_BUFFER: usize = 256 * 1024;

/// The state of a cached blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobState {
    /// Present, and its content hashes to its name.
    Valid {
        size: u64,
    },
    Missing,
    /// Present with other content (a disk error, a crash, a hand edit).
    Corrupt {
        actual_sha256: String,
    },
}

/// Checks a blob against its expected hash (and size, when known), by reading it whole
/// (a cache hit goes through [`super::Cache::check`], which reads it only without a valid
/// stamp).
///
/// Blocking: call it through `spawn_blocking` from async code.
pub fn verify_blob(path: &Path, sha256: &str, size: Option<u64>) -> io::Result<BlobState> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BlobState::Missing),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Ok(BlobState::Corrupt {
            actual_sha256: "(not a regular file)".to_string(),
        });
    }
    let (actual, actual_size) = match hash_file(path) {
        Ok(hashed) => hashed,
        // Deleted between the metadata call and the read (another process repairing it).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BlobState::Missing),
        Err(e) => return Err(e),
    };
    if actual != sha256 || size.is_some_and(|size| size != actual_size) {
        return Ok(BlobState::Corrupt {
            actual_sha256: actual,
        });
    }
    Ok(BlobState::Valid { size: actual_size })
}

/// The sha256 (lowercase hex) and size of a file, read in large chunks.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; IO_BUFFER];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// The sha256 of some bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Normalizes an expected digest: 64 hex digits, any case, optionally `sha256:`-prefixed.
pub fn normalize_sha256(sha256: &str) -> Option<String> {
    let hex = sha256.strip_prefix("sha256:").unwrap_or(sha256);
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_digests() {
        let hex = "AB".repeat(32);
        assert_eq!(normalize_sha256(&hex), Some("ab".repeat(32)));
        assert_eq!(
            normalize_sha256(&format!("sha256:{hex}")),
            Some("ab".repeat(32))
        );
        assert_eq!(normalize_sha256("abc"), None);
        assert_eq!(normalize_sha256(&"zz".repeat(32)), None);
    }
}
