//! Everything a build of a lock downloads, fetched ahead (`rtlock fetch`), for offline
//! and air-gapped builds.
//!
//! Every `[[apt]]`, `[[pip]]` and `[[r]]` entry is fetched into the cache (at most
//! `PARALLEL` = 8 at once) and checked against its sha256 and size. A later
//! `rtlock build --offline` with the same cache then needs no network at all.
//!
//! With `--into DIR` the artifacts are also laid out in DIR as a mirror that can be
//! copied to another machine and served or used as `build --mirror file://…`:
//!
//! ```text
//! DIR/apt/<filename>                         the lock's archive-relative pool/… path,
//!                                            so DIR/apt is an apt mirror root
//! DIR/pip/<file>                             a flat directory of wheels (find-links)
//! DIR/r/<binary|source>/src/contrib/<file>   CRAN-like roots, one per kind: binary and
//!                                            source tarballs share file names
//! ```
//!
//! Only the artifacts are written, not indexes (apt `dists/`, `PACKAGES`, index pages):
//! the lock already names every file by path and hash, and a signed apt index cannot be
//! made up. Each file is placed atomically (temp name + rename), as a hard link to the
//! cached blob when the mirror is on the same filesystem (no second copy of gigabytes),
//! else as a copy. A hard-linked file edited by hand also changes the cached blob; the
//! cache notices on its next read (it re-hashes every blob) and downloads it again.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use url::Url;

use crate::fetch::{Blob, FetchError, Fetcher};
use crate::lockfile::{Lockfile, url_file_name};

/// Downloads in flight at once: enough to hide per-request latency, few enough not to
/// trip a mirror's rate limits.
const PARALLEL: usize = 8;

/// One file the lock needs.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// How a person would name it: `pip pandas 2.2.3`.
    pub what: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    /// Where it goes under `--into DIR`.
    pub mirror_path: PathBuf,
}

/// Fetches every artifact, [`PARALLEL`] at a time; results come back in input order.
pub async fn fetch_all(fetcher: &Fetcher, artifacts: &[Artifact]) -> Vec<Result<Blob, FetchError>> {
    let bar = fetcher.progress().items("Fetching", artifacts.len() as u64);
    let mut results: Vec<Option<Result<Blob, FetchError>>> =
        (0..artifacts.len()).map(|_| None).collect();
    let mut stream = futures_util::stream::iter(artifacts.iter().enumerate())
        .map(|(index, artifact)| async move {
            let result = match Url::parse(&artifact.url) {
                Ok(url) => {
                    fetcher
                        .fetch_verified(&url, &artifact.sha256, Some(artifact.size))
                        .await
                }
                Err(_) => Err(FetchError::UnsupportedUrl {
                    url: artifact.url.clone(),
                }),
            };
            (index, result)
        })
        .buffer_unordered(PARALLEL);
    while let Some((index, result)) = stream.next().await {
        bar.inc(1);
        results[index] = Some(result);
    }
    results
        .into_iter()
        .map(|result| result.expect("every artifact has a result"))
        .collect()
}

/// The lock's artifacts. The reader has checked their paths and file names (no root,
/// no `..`, plain file names): joined to `--into` they stay inside it.
pub fn artifacts(lock: &Lockfile) -> Vec<Artifact> {
    let apt = lock.apt.iter().map(|p| Artifact {
        what: format!("apt {} {} ({})", p.name, p.version, p.arch),
        url: p.url.clone(),
        sha256: p.sha256.clone(),
        size: p.size,
        mirror_path: Path::new("apt").join(&p.filename),
    });
    let pip = lock.pip.iter().map(|p| Artifact {
        what: format!("pip {} {}", p.name, p.version),
        url: p.url.clone(),
        sha256: p.sha256.clone(),
        size: p.size,
        mirror_path: Path::new("pip").join(&p.file),
    });
    let r = lock.r.iter().map(|p| Artifact {
        what: format!("r {} {} ({})", p.name, p.version, p.kind.as_str()),
        url: p.url.clone(),
        sha256: p.sha256.clone(),
        size: p.size,
        mirror_path: Path::new("r")
            .join(p.kind.as_str())
            .join("src/contrib")
            .join(url_file_name(&p.url).unwrap_or_default()),
    });
    apt.chain(pip).chain(r).collect()
}

/// Puts the cached `blob` at `dest` atomically: a hard link when possible, else a copy.
pub fn place(blob: &Path, dest: &Path) -> io::Result<()> {
    let parent = dest.parent().expect("mirror paths have a parent");
    fs::create_dir_all(parent)?;
    if already_linked(blob, dest) {
        // Renaming a link over another link to the same file is a no-op that would leave
        // the temporary name behind.
        return Ok(());
    }
    let mut temp = tempfile::Builder::new();
    temp.prefix(".rtlock-");
    match temp.make_in(parent, |path| fs::hard_link(blob, path)) {
        Ok(linked) => linked.persist(dest).map(drop).map_err(|e| e.error),
        Err(_) => {
            let mut copy = temp.tempfile_in(parent)?;
            io::copy(&mut fs::File::open(blob)?, copy.as_file_mut())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                copy.as_file()
                    .set_permissions(fs::Permissions::from_mode(0o644))?;
            }
            copy.persist(dest).map(drop).map_err(|e| e.error)
        }
    }
}

#[cfg(unix)]
fn already_linked(blob: &Path, dest: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(blob), fs::metadata(dest)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn already_linked(_blob: &Path, _dest: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_links_then_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("blob");
        fs::write(&blob, b"content").unwrap();
        let dest = dir.path().join("mirror/pip/a.whl");
        place(&blob, &dest).unwrap();
        place(&blob, &dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"content");
        let names: Vec<_> = fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.whl")]);
    }
}
