//! The fetch layer: one HTTP client, retries, revalidation and the content-addressed cache.
//!
//! Everything rtlock downloads goes through a [`Fetcher`], in one of two ways:
//!
//! - **Pinned artifacts** (a `.deb`, a wheel, an R package: anything a lock names by
//!   sha256) with [`Fetcher::fetch_verified`]. The cache is keyed by that digest, so a
//!   blob is found again whatever URL or mirror served it.
//! - **Mutable resources** (apt `InRelease`/`Packages`, index pages) with
//!   [`Fetcher::fetch_index`]: conditional requests against what the URL served last
//!   time (`ETag`, `Last-Modified`), the body stored as a blob like any other.
//!
//! Either way the caller gets a [`Blob`]: a path inside the cache whose content was
//! checked against its sha256 on the way in, and on the way out is either the very file
//! then verified (its [`Stamps`] stamp unchanged) or hashed again. A cache entry that went
//! bad (disk, crash, a hand edit) is noticed and fetched again; with
//! `--offline` it is an error that says so. See [`Cache`] for the layout on disk and why
//! concurrent rtlock processes can share it.
//!
//! Offline mode never opens a connection: it is decided here, once, not by each caller.
//! `file://` URLs are read from disk in both modes and still verified.

mod cache;
mod client;
mod download;
mod error;
pub mod pinned;
mod retry;
mod stamp;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::header::{HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use sha2::{Digest, Sha256};
use url::Url;

pub use cache::{Cache, HttpRecord};
pub use error::{FetchError, error_chain, redact};
pub use reqwest::header;
pub use retry::{
    ErrorClass, Failure, Retried, RetryPolicy, classify, is_transient_status, retry_after,
    with_retries,
};
pub use stamp::Stamps;
pub use verify::{BlobState, hash_file, sha256_hex, verify_blob};

use crate::progress::Progress;
use download::{Context, Outcome};

/// How a [`Fetcher`] behaves; the command line's global flags decide most of it.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// The cache root (`--cache-dir`, default [`default_cache_dir`]).
    pub cache_dir: PathBuf,
    /// Serve everything from the cache and never touch the network (`--offline`).
    pub offline: bool,
    /// Where download bars go (hidden unless standard error is a terminal).
    pub progress: Progress,
    /// When to retry transient failures.
    pub retry: RetryPolicy,
}

impl FetchSettings {
    /// Online, no progress bars, default retries.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        FetchSettings {
            cache_dir: cache_dir.into(),
            offline: false,
            progress: Progress::hidden(),
            retry: RetryPolicy::default(),
        }
    }
}

/// `$XDG_CACHE_HOME/rtlock`, else `$HOME/.cache/rtlock` (the XDG default), else a
/// directory under the system's temporary directory, so rtlock still works for users
/// without a home (some CI sandboxes).
pub fn default_cache_dir() -> PathBuf {
    let absolute = |name| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(xdg) = absolute("XDG_CACHE_HOME") {
        return xdg.join("rtlock");
    }
    if let Some(home) = absolute("HOME") {
        return home.join(".cache").join("rtlock");
    }
    std::env::temp_dir().join("rtlock-cache")
}

/// A verified file in the cache. Blobs are immutable: read it, copy it, hard-link it,
/// never write to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub path: PathBuf,
    /// Lowercase hex.
    pub sha256: String,
    pub size: u64,
}

/// Part of a resource: a half-open byte span, or the last bytes (e.g. a zip's directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// Bytes `start..end`.
    Span { start: u64, end: u64 },
    /// The last `n` bytes (fewer if the resource is shorter).
    Last(u64),
}

impl ByteRange {
    fn is_empty(&self) -> bool {
        match *self {
            ByteRange::Span { start, end } => end <= start,
            ByteRange::Last(n) => n == 0,
        }
    }

    fn header_value(&self) -> String {
        match *self {
            ByteRange::Span { start, end } => format!("bytes={start}-{}", end - 1),
            ByteRange::Last(n) => format!("bytes=-{n}"),
        }
    }
}

/// The bytes of a [`ByteRange`], and the resource's full size when the server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeBytes {
    pub bytes: Vec<u8>,
    pub total_size: Option<u64>,
}

/// Fetches through the cache. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` offline: there is then no way to open a connection by mistake.
    client: Option<reqwest::Client>,
    cache: Cache,
    retry: RetryPolicy,
    progress: Progress,
}

impl Fetcher {
    /// Sets up the client (unless offline) and the cache. Touches neither the network
    /// nor, beyond sweeping day-old partial downloads, the disk: directories are created
    /// on the first write, so an offline run can use a read-only cache.
    pub fn new(settings: FetchSettings) -> Result<Fetcher, FetchError> {
        let client = if settings.offline {
            None
        } else {
            Some(client::build_client()?)
        };
        let cache = Cache::new(settings.cache_dir);
        cache.sweep_stale_temp_files();
        Ok(Fetcher {
            inner: Arc::new(Inner {
                client,
                cache,
                retry: settings.retry,
                progress: settings.progress,
            }),
        })
    }

    /// The same fetcher (one connection pool), whose cache hashes every blob it
    /// serves whatever its stamp says: `build --verify`.
    pub fn verifying(&self) -> Fetcher {
        Fetcher {
            inner: Arc::new(Inner {
                client: self.inner.client.clone(),
                cache: self.inner.cache.verifying(),
                retry: self.inner.retry.clone(),
                progress: self.inner.progress.clone(),
            }),
        }
    }

    pub fn is_offline(&self) -> bool {
        self.inner.client.is_none()
    }

    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    pub fn progress(&self) -> &Progress {
        &self.inner.progress
    }

    /// The shared HTTP client (`None` offline), for protocols that need more than GET
    /// into the cache, such as the registry client's HEAD, PUT and PATCH.
    pub fn http_client(&self) -> Option<&reqwest::Client> {
        self.inner.client.as_ref()
    }

    /// The retry policy this fetcher was set up with.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// A pinned artifact: from the cache if a valid copy is there, else downloaded,
    /// checked against `sha256` (and `size`, when given) and cached.
    ///
    /// A mismatch is an error naming the URL and both digests, and caches nothing.
    pub async fn fetch_verified(
        &self,
        url: &Url,
        sha256: &str,
        size: Option<u64>,
    ) -> Result<Blob, FetchError> {
        self.fetch_verified_with(url, &HeaderMap::new(), sha256, size)
            .await
    }

    /// [`fetch_verified`](Self::fetch_verified) with extra request headers (e.g. a
    /// `User-Agent` that a repository uses to pick binaries).
    pub async fn fetch_verified_with(
        &self,
        url: &Url,
        headers: &HeaderMap,
        sha256: &str,
        size: Option<u64>,
    ) -> Result<Blob, FetchError> {
        let shown = redact(url);
        let sha256 = verify::normalize_sha256(sha256).ok_or_else(|| FetchError::InvalidSha256 {
            url: shown.clone(),
            sha256: sha256.to_string(),
        })?;
        let path = self.inner.cache.blob_path(&sha256);
        match self.blob_state(&path, &sha256, size).await? {
            BlobState::Valid { size } => {
                tracing::debug!("{shown}: cached as {}", path.display());
                return Ok(Blob { path, sha256, size });
            }
            BlobState::Missing => {
                if self.is_offline() && !is_file_url(url) {
                    return Err(FetchError::NotCached { url: shown });
                }
            }
            BlobState::Corrupt { actual_sha256 } => {
                if self.is_offline() && !is_file_url(url) {
                    return Err(FetchError::CorruptOffline {
                        url: shown,
                        path,
                        expected: sha256,
                        actual: actual_sha256,
                    });
                }
                // Not deleted first: another process may have just put the right bytes
                // there. The verified download below replaces it atomically instead.
                tracing::warn!(
                    "the cached copy of {shown} ({}) is corrupt (sha256 {actual_sha256}); downloading it again",
                    path.display()
                );
            }
        }

        let downloaded = fresh(self.get(url, headers, size).await?, &shown)?;
        if let Some(expected) = size
            && downloaded.size != expected
        {
            return Err(FetchError::SizeMismatch {
                url: shown,
                expected,
                actual: downloaded.size,
                at_least: false,
            });
        }
        if downloaded.sha256 != sha256 {
            return Err(FetchError::HashMismatch {
                url: shown,
                expected: sha256,
                actual: downloaded.sha256,
            });
        }
        let size = downloaded.size;
        let path = self.inner.cache.persist_blob(downloaded.temp, &sha256)?;
        tracing::debug!("{shown}: downloaded to {}", path.display());
        Ok(Blob { path, sha256, size })
    }

    /// A mutable resource (an index): revalidated with the server on every call, served
    /// from the cache when unchanged (304). Offline: the last cached version.
    pub async fn fetch_index(&self, url: &Url) -> Result<Blob, FetchError> {
        self.fetch_index_with(url, &HeaderMap::new()).await
    }

    /// [`fetch_index`](Self::fetch_index) with extra request headers (e.g. `Accept` to
    /// ask an index for JSON). The headers are part of the cache key: the same URL asked
    /// for JSON and for HTML are two cache entries.
    pub async fn fetch_index_with(
        &self,
        url: &Url,
        headers: &HeaderMap,
    ) -> Result<Blob, FetchError> {
        let shown = redact(url);
        if is_file_url(url) {
            // A local file has no validators worth keeping; reading it is the check.
            let downloaded = fresh(self.get(url, headers, None).await?, &shown)?;
            let (sha256, size) = (downloaded.sha256, downloaded.size);
            let path = self.inner.cache.persist_blob(downloaded.temp, &sha256)?;
            return Ok(Blob { path, sha256, size });
        }

        let key = record_key(url, headers);
        let cached = match self.inner.cache.read_record(&key) {
            Some(record) => {
                let path = self.inner.cache.blob_path(&record.sha256);
                match self
                    .blob_state(&path, &record.sha256, Some(record.size))
                    .await?
                {
                    BlobState::Valid { size } => Some((
                        record.clone(),
                        Blob {
                            path,
                            sha256: record.sha256,
                            size,
                        },
                    )),
                    BlobState::Missing => None,
                    BlobState::Corrupt { actual_sha256 } => {
                        if self.is_offline() {
                            return Err(FetchError::CorruptOffline {
                                url: shown,
                                path,
                                expected: record.sha256,
                                actual: actual_sha256,
                            });
                        }
                        tracing::warn!(
                            "the cached copy of {shown} ({}) is corrupt; downloading it again",
                            path.display()
                        );
                        None
                    }
                }
            }
            None => None,
        };

        if self.is_offline() {
            return match cached {
                Some((_, blob)) => Ok(blob),
                None => Err(FetchError::NotCached { url: shown }),
            };
        }

        let mut request_headers = headers.clone();
        if let Some((record, _)) = &cached {
            let mut condition = |name, value: &Option<String>| {
                if let Some(value) = value.as_deref().and_then(|v| v.parse().ok()) {
                    request_headers.insert(name, value);
                }
            };
            condition(IF_NONE_MATCH, &record.etag);
            condition(IF_MODIFIED_SINCE, &record.last_modified);
        }

        match self.get(url, &request_headers, None).await? {
            Outcome::NotModified => match cached {
                Some((_, blob)) => {
                    tracing::debug!("{shown}: not modified, served from the cache");
                    Ok(blob)
                }
                None => Err(unexpected_not_modified(shown)),
            },
            Outcome::Fresh(downloaded) => {
                let record = HttpRecord {
                    url: shown,
                    etag: downloaded.etag,
                    last_modified: downloaded.last_modified,
                    sha256: downloaded.sha256,
                    size: downloaded.size,
                };
                let path = self
                    .inner
                    .cache
                    .persist_blob(downloaded.temp, &record.sha256)?;
                self.inner.cache.write_record(&key, &record)?;
                Ok(Blob {
                    path,
                    sha256: record.sha256,
                    size: record.size,
                })
            }
        }
    }

    /// Part of a resource, into memory, uncached (offline: an error). For small reads
    /// such as the directory at the end of a remote zip.
    pub async fn fetch_range(
        &self,
        url: &Url,
        headers: &HeaderMap,
        range: ByteRange,
    ) -> Result<RangeBytes, FetchError> {
        if range.is_empty() {
            return Ok(RangeBytes {
                bytes: Vec::new(),
                total_size: None,
            });
        }
        if is_file_url(url) {
            let path = local_path(url)?;
            return download::local_range(&path, range).await;
        }
        check_scheme(url)?;
        let client = self.client(url)?;
        download::http_range(&self.context(client), url, headers, range).await
    }

    /// The state of a blob: trusted by its stamp, else hashed off the async threads (a
    /// blob may be gigabytes).
    async fn blob_state(
        &self,
        path: &Path,
        sha256: &str,
        size: Option<u64>,
    ) -> Result<BlobState, FetchError> {
        let (owned_path, sha256) = (path.to_path_buf(), sha256.to_string());
        let cache = self.inner.cache.clone();
        tokio::task::spawn_blocking(move || cache.check(&owned_path, &sha256, size))
            .await
            .expect("the verification task does not panic")
            .map_err(|e| FetchError::cache(path, e))
    }

    /// One GET (or local read) into a temporary file.
    async fn get(
        &self,
        url: &Url,
        headers: &HeaderMap,
        expected_size: Option<u64>,
    ) -> Result<Outcome, FetchError> {
        if is_file_url(url) {
            let path = local_path(url)?;
            let downloaded =
                download::copy_local(&self.inner.cache, &path, expected_size, &redact(url)).await?;
            return Ok(Outcome::Fresh(downloaded));
        }
        check_scheme(url)?;
        let client = self.client(url)?;
        download::http_get(&self.context(client), url, headers, expected_size).await
    }

    fn client(&self, url: &Url) -> Result<&reqwest::Client, FetchError> {
        self.inner
            .client
            .as_ref()
            .ok_or_else(|| FetchError::NotCached { url: redact(url) })
    }

    fn context<'a>(&'a self, client: &'a reqwest::Client) -> Context<'a> {
        Context {
            client,
            cache: &self.inner.cache,
            retry: &self.inner.retry,
            progress: &self.inner.progress,
        }
    }
}

/// The body of an unconditional request.
fn fresh(outcome: Outcome, shown: &str) -> Result<download::Downloaded, FetchError> {
    match outcome {
        Outcome::Fresh(downloaded) => Ok(downloaded),
        Outcome::NotModified => Err(unexpected_not_modified(shown.to_string())),
    }
}

/// A 304 to a request that was not conditional: a broken server or proxy.
fn unexpected_not_modified(url: String) -> FetchError {
    FetchError::Status {
        url,
        status: reqwest::StatusCode::NOT_MODIFIED,
        attempts: 1,
    }
}

fn is_file_url(url: &Url) -> bool {
    url.scheme() == "file"
}

fn check_scheme(url: &Url) -> Result<(), FetchError> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        _ => Err(FetchError::UnsupportedUrl { url: redact(url) }),
    }
}

fn local_path(url: &Url) -> Result<PathBuf, FetchError> {
    url.to_file_path()
        .map_err(|()| FetchError::UnsupportedUrl { url: redact(url) })
}

/// The name of a mutable URL's [`HttpRecord`]: the sha256 of the URL (without
/// credentials, which change nothing about the resource), followed by any extra request
/// headers, which may (`Accept`).
fn record_key(url: &Url, headers: &HeaderMap) -> String {
    let mut hasher = Sha256::new();
    hasher.update(redact(url).as_bytes());
    if !headers.is_empty() {
        let mut lines: Vec<(String, &[u8])> = headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.as_bytes()))
            .collect();
        lines.sort();
        for (name, value) in lines {
            hasher.update(b"\n");
            hasher.update(name.as_bytes());
            hasher.update(b": ");
            hasher.update(value);
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_key_ignores_credentials_but_not_headers() {
        let plain = Url::parse("http://127.0.0.1/simple/x/").unwrap();
        let with_auth = Url::parse("http://me:pw@127.0.0.1/simple/x/").unwrap();
        let none = HeaderMap::new();
        assert_eq!(record_key(&plain, &none), record_key(&with_auth, &none));
        assert_eq!(
            record_key(&plain, &none),
            verify::sha256_hex(b"http://127.0.0.1/simple/x/")
        );
        let mut json = HeaderMap::new();
        json.insert(header::ACCEPT, "application/json".parse().unwrap());
        assert_ne!(record_key(&plain, &none), record_key(&plain, &json));
    }

    #[test]
    fn range_headers() {
        assert_eq!(
            ByteRange::Span { start: 0, end: 10 }.header_value(),
            "bytes=0-9"
        );
        assert_eq!(ByteRange::Last(22).header_value(), "bytes=-22");
        assert!(ByteRange::Span { start: 5, end: 5 }.is_empty());
    }
}
