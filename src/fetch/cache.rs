//! The content-addressed cache on disk: layout, atomic writes, verification on read.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::FetchError;
use super::stamp::Stamps;
use super::verify::{BlobState, normalize_sha256};

/// Partial downloads older than this belong to a process that died (a kill -9, a power
/// cut); they are swept when a fetcher starts.
const STALE_TEMP_AGE: Duration = Duration::from_secs(24 * 60 * 60);

const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This directory is a cache created by rtlock; it can be deleted at any time.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// What a mutable URL (an index page, an InRelease file) served last time, so that the
/// next request can be conditional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRecord {
    /// The URL, without credentials.
    pub url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The blob holding the body.
    pub sha256: String,
    pub size: u64,
}

/// The content-addressed cache on disk.
///
/// ```text
/// <cache>/CACHEDIR.TAG                      marks the tree as a cache for backup tools
/// <cache>/blobs/sha256/<2 hex>/<64 hex>     content, named by its own sha256
/// <cache>/http/<sha256 of URL>.json         what a mutable URL last served (HttpRecord)
/// <cache>/stamps/                           which entries were verified (see [`Stamps`])
/// <cache>/tmp/                              partial downloads, on the same filesystem
/// ```
///
/// Several rtlock processes may share one cache (parallel CI jobs, a build next to a
/// lock). Nothing is ever written in place: every file is written to `tmp/` and renamed
/// to its final name, and a rename within one filesystem is atomic. Two processes that
/// fetch the same blob write identical bytes (the name *is* the hash), so whichever
/// rename lands last changes nothing; a reader sees the old file or the new one, never a
/// half-written one.
///
/// Blobs are not fsynced before the rename. A crash can at worst leave a blob with the
/// wrong content under its name; a blob is trusted without reading it only while its
/// stamp (recorded when it was verified) matches the file ([`Cache::check`]), and a
/// crash that leaves other bytes also leaves another stamp, so such a blob is re-hashed,
/// caught and fetched again; paying an fsync per file would slow every download for a
/// case that verification already handles.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    stamps: Stamps,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Cache {
            stamps: Stamps::new(root.join("stamps")),
            root,
        }
    }

    /// The stamp index of this cache (shared with the layer cache under it).
    pub fn stamps(&self) -> &Stamps {
        &self.stamps
    }

    /// The same cache, hashing every blob it serves whatever its stamp says.
    pub fn verifying(&self) -> Cache {
        Cache {
            root: self.root.clone(),
            stamps: self.stamps.verifying(),
        }
    }

    /// The state of the blob at `path` that must hash to `sha256`: trusted by its stamp,
    /// else hashed (see [`Stamps::check`]). Blocking.
    pub fn check(&self, path: &Path, sha256: &str, size: Option<u64>) -> io::Result<BlobState> {
        self.stamps.check(path, sha256, size)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with this (lowercase hex) sha256 lives.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join("blobs")
            .join("sha256")
            .join(&sha256[..2])
            .join(sha256)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.root.join("http").join(format!("{key}.json"))
    }

    /// A new, empty temporary file in `tmp/`, removed when dropped unless persisted.
    pub fn temp_file(&self) -> Result<NamedTempFile, FetchError> {
        let tmp = self.tmp_dir();
        fs::create_dir_all(&tmp).map_err(|e| FetchError::cache(&tmp, e))?;
        self.tag_once();
        let mut builder = tempfile::Builder::new();
        builder.prefix("partial-");
        // Cached files are content, not secrets; 0644 keeps a shared cache, and mirrors
        // hard-linked out of it, readable by other users (a web server, a build user).
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
        builder
            .tempfile_in(&tmp)
            .map_err(|e| FetchError::cache(&tmp, e))
    }

    /// Renames a verified temporary file to the blob's name, and stamps it there.
    pub fn persist_blob(&self, temp: NamedTempFile, sha256: &str) -> Result<PathBuf, FetchError> {
        let path = self.blob_path(sha256);
        persist(temp, &path)?;
        self.stamps.record(&path, sha256);
        Ok(path)
    }

    /// The record for a mutable URL, if one was written and can be read. A record that
    /// cannot be parsed (an older rtlock, a torn disk) is treated as absent: the only
    /// cost is one unconditional request.
    pub fn read_record(&self, key: &str) -> Option<HttpRecord> {
        let bytes = fs::read(self.record_path(key)).ok()?;
        let record: HttpRecord = serde_json::from_slice(&bytes).ok()?;
        // The digest names a file: only a well-formed one may.
        (normalize_sha256(&record.sha256).as_deref() == Some(record.sha256.as_str()))
            .then_some(record)
    }

    /// Writes a record atomically (temp file + rename).
    pub fn write_record(&self, key: &str, record: &HttpRecord) -> Result<(), FetchError> {
        let path = self.record_path(key);
        let mut temp = self.temp_file()?;
        let json = serde_json::to_vec_pretty(record).expect("records serialize");
        temp.write_all(&json)
            .map_err(|e| FetchError::cache(temp.path(), e))?;
        persist(temp, &path)
    }

    /// Removes partial downloads left by processes that died long ago. Best effort: a
    /// cache we cannot clean is still a cache we can use.
    pub fn sweep_stale_temp_files(&self) {
        let Ok(entries) = fs::read_dir(self.tmp_dir()) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age > STALE_TEMP_AGE);
            if old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Writes `CACHEDIR.TAG` if it is not there yet, so backup tools skip the cache.
    fn tag_once(&self) {
        let tag = self.root.join("CACHEDIR.TAG");
        if tag.exists() {
            return;
        }
        let tmp = self.tmp_dir();
        if let Ok(mut temp) = tempfile::Builder::new().prefix("tag-").tempfile_in(&tmp)
            && temp.write_all(CACHEDIR_TAG.as_bytes()).is_ok()
        {
            let _ = temp.persist(&tag);
        }
    }
}

/// Renames `temp` to `path`, creating the parent directory.
fn persist(temp: NamedTempFile, path: &Path) -> Result<(), FetchError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| FetchError::cache(parent, e))?;
    }
    temp.persist(path)
        .map_err(|e| FetchError::cache(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::verify::{sha256_hex, verify_blob};

    #[test]
    fn blob_layout() {
        let cache = Cache::new("/c");
        let sha = "ab".repeat(32);
        assert_eq!(
            cache.blob_path(&sha),
            Path::new("/c/blobs/sha256/ab").join(&sha)
        );
    }

    #[test]
    fn verify_detects_missing_corrupt_and_valid() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let content = b"hello, cache";
        let sha = sha256_hex(content);

        let path = cache.blob_path(&sha);
        assert_eq!(verify_blob(&path, &sha, None).unwrap(), BlobState::Missing);

        let mut temp = cache.temp_file().unwrap();
        temp.write_all(content).unwrap();
        let path = cache.persist_blob(temp, &sha).unwrap();
        assert_eq!(
            verify_blob(&path, &sha, Some(12)).unwrap(),
            BlobState::Valid { size: 12 }
        );
        assert!(matches!(
            verify_blob(&path, &sha, Some(13)).unwrap(),
            BlobState::Corrupt { .. }
        ));

        fs::write(&path, b"hello, cachE").unwrap();
        assert!(matches!(
            verify_blob(&path, &sha, None).unwrap(),
            BlobState::Corrupt { .. }
        ));
        assert!(dir.path().join("CACHEDIR.TAG").is_file());
        assert_eq!(fs::read_dir(cache.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        assert_eq!(cache.read_record("k"), None);
        let record = HttpRecord {
            url: "http://127.0.0.1/x".into(),
            etag: Some("\"1\"".into()),
            last_modified: None,
            sha256: "00".repeat(32),
            size: 3,
        };
        cache.write_record("k", &record).unwrap();
        assert_eq!(cache.read_record("k"), Some(record.clone()));

        let bad = HttpRecord {
            sha256: "../x".into(),
            ..record
        };
        cache.write_record("k", &bad).unwrap();
        assert_eq!(cache.read_record("k"), None);
    }
}
