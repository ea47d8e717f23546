//! The stamp index: which cache entries were verified, and are still the very file
//! that was verified.
//!
//! Hashing a multi-gigabyte base layer on every cache hit costs seconds; trusting a
//! file because it has the right name and size publishes whatever a disk error or a
//! stray edit left there. A stamp is the middle way, the one rule for every cache of
//! rtlock (the fetch cache's blobs, the layer cache's layers): right after an entry was
//! hashed and found to match (after its final rename), its size, mtime, ctime, inode
//! and device are recorded. While they are unchanged the entry is trusted without
//! reading it; any change (a rewrite, a copy, a touch, a restore from backup) or a
//! missing stamp means hashing it again before use.
//!
//! Bit rot changes none of those, which is why every output also hashes each blob as it
//! copies it (see [`crate::oci::output`]): a stamp saves the read on the way in, never
//! the check on the way out.
//!
//! ```text
//! <dir>/<sha256 of the entry's path>   {"path", "sha256", "size", "mtime_ns", "ctime_ns", "ino", "dev"}
//! ```
//!
//! One small file per entry, written to a temporary name (in the cache's `tmp/`) and
//! renamed: concurrent
//! processes sharing a cache see a whole stamp or none, and a lost stamp only costs one
//! re-hash.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::verify::{BlobState, sha256_hex, verify_blob};

/// A directory of stamps.
#[derive(Debug, Clone)]
pub struct Stamps {
    dir: PathBuf,
    /// Whether an unchanged stamp spares the hash (`build --verify` says no).
    trust: bool,
}

/// What was true of an entry when it was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    path: String,
    sha256: String,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
}

impl Stamp {
    fn of(path: &Path, sha256: &str, meta: &fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            path: path.to_string_lossy().into_owned(),
            sha256: sha256.to_string(),
            size: meta.len(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            ino: meta.ino(),
            dev: meta.dev(),
        }
    }
}

impl Stamps {
    pub fn new(dir: impl Into<PathBuf>) -> Stamps {
        Stamps {
            dir: dir.into(),
            trust: true,
        }
    }

    /// The same index, whose [`check`](Self::check) hashes every entry whatever its
    /// stamp says (and stamps it again when it matches): `build --verify`.
    pub fn verifying(&self) -> Stamps {
        Stamps {
            dir: self.dir.clone(),
            trust: false,
        }
    }

    fn stamp_path(&self, entry: &Path) -> PathBuf {
        self.dir
            .join(sha256_hex(entry.as_os_str().as_encoded_bytes()))
    }

    /// Whether `path` is, by its stamp, the file verified to hash to `sha256`.
    pub fn is_trusted(&self, path: &Path, sha256: &str) -> bool {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return false;
        };
        let Ok(bytes) = fs::read(self.stamp_path(path)) else {
            return false;
        };
        serde_json::from_slice::<Stamp>(&bytes)
            .is_ok_and(|stamp| meta.is_file() && stamp == Stamp::of(path, sha256, &meta))
    }

    /// Records that `path` was just verified to hash to `sha256`. Best effort: a stamp
    /// that cannot be written costs one re-hash next time.
    pub fn record(&self, path: &Path, sha256: &str) {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        let stamp = Stamp::of(path, sha256, &meta);
        let target = self.stamp_path(path);
        // Written in the cache's `tmp/` (beside `stamps/`), where a stamp left half
        // written by a killed process is swept with the partial downloads.
        let tmp = self.dir.with_file_name("tmp");
        let written = fs::create_dir_all(&self.dir)
            .and_then(|()| fs::create_dir_all(&tmp))
            .and_then(|()| tempfile::Builder::new().prefix("stamp-").tempfile_in(&tmp))
            .and_then(|mut temp| {
                io::Write::write_all(&mut temp, &serde_json::to_vec(&stamp)?)?;
                temp.persist(&target).map_err(|e| e.error)
            });
        if let Err(e) = written {
            tracing::debug!("cannot write the stamp of {}: {e}", path.display());
        }
    }

    /// Forgets the stamp of `path` and removes `path`: an entry found corrupt is made
    /// again (a layer rebuilt, a blob downloaded again). Best effort: the next reader
    /// re-hashes it anyway.
    pub fn discard(&self, path: &Path) {
        let _ = fs::remove_file(self.stamp_path(path));
        match fs::remove_file(path) {
            Ok(()) => tracing::debug!("removed the corrupt cache entry {}", path.display()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(
                "cannot remove the corrupt cache entry {}: {e}",
                path.display()
            ),
        }
    }

    /// The state of the entry at `path` that must hash to `sha256` (and be `size` bytes,
    /// when given): trusted by its stamp, else hashed now, and stamped when it matches.
    /// Blocking: a re-hash reads the whole file.
    pub fn check(&self, path: &Path, sha256: &str, size: Option<u64>) -> io::Result<BlobState> {
        if self.trust
            && let Ok(meta) = fs::symlink_metadata(path)
            && size.is_none_or(|size| size == meta.len())
            && self.is_trusted(path, sha256)
        {
            return Ok(BlobState::Valid { size: meta.len() });
        }
        let before = fs::symlink_metadata(path).ok();
        let state = verify_blob(path, sha256, size)?;
        // Stamped only when the file did not change while it was read: a stamp taken
        // after a write that raced the hash would vouch for bytes nobody hashed.
        let unchanged = |before: &fs::Metadata| {
            fs::symlink_metadata(path).is_ok_and(|after| {
                Stamp::of(path, sha256, before) == Stamp::of(path, sha256, &after)
            })
        };
        if matches!(state, BlobState::Valid { .. }) && before.as_ref().is_some_and(unchanged) {
            self.record(path, sha256);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_holds_while_the_file_is_untouched_and_not_after() {
        let dir = tempfile::tempdir().unwrap();
        let stamps = Stamps::new(dir.path().join("stamps"));
        let path = dir.path().join("blob");
        fs::write(&path, b"content").unwrap();
        let sha = sha256_hex(b"content");
        assert!(!stamps.is_trusted(&path, &sha), "no stamp yet");
        assert_eq!(
            stamps.check(&path, &sha, Some(7)).unwrap(),
            BlobState::Valid { size: 7 }
        );
        assert!(stamps.is_trusted(&path, &sha));
        assert!(!stamps.is_trusted(&path, &sha256_hex(b"other")));

        // Same size, other bytes: the stamp no longer matches, the re-hash catches it.
        fs::write(&path, b"contenT").unwrap();
        assert!(!stamps.is_trusted(&path, &sha));
        assert!(matches!(
            stamps.check(&path, &sha, Some(7)).unwrap(),
            BlobState::Corrupt { .. }
        ));

        // A verifying index hashes a stamped entry anyway.
        fs::write(&path, b"content").unwrap();
        stamps.record(&path, &sha256_hex(b"contenT"));
        assert!(stamps.is_trusted(&path, &sha256_hex(b"contenT")));
        assert!(matches!(
            stamps
                .verifying()
                .check(&path, &sha256_hex(b"contenT"), Some(7))
                .unwrap(),
            BlobState::Corrupt { .. }
        ));

        stamps.discard(&path);
        assert!(!path.exists());
        assert_eq!(stamps.check(&path, &sha, None).unwrap(), BlobState::Missing);
    }
}
