//! Moving bytes into the cache's `tmp/`: one HTTP GET with retries, or a local file copy,
//! hashing as the bytes go by.
//!
//! Nothing here decides what the bytes must be; the caller compares the digest and size
//! with what it expects and persists the temporary file only then. A download that fails
//! or is rejected drops its temporary file, which deletes it.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_RANGE, ETAG, HeaderMap, HeaderName, HeaderValue, LAST_MODIFIED, RANGE,
};
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;
use tokio::io::{AsyncWriteExt, BufWriter};
use url::Url;

use super::error::{error_chain, redact};
use super::retry::{self, ErrorClass, Failure, RetryPolicy};
use super::{ByteRange, FetchError, RangeBytes};
use super::{cache::Cache, verify::IO_BUFFER};
use crate::progress::Progress;

/// A body that arrived whole, in a temporary file.
pub(crate) struct Downloaded {
    pub temp: NamedTempFile,
    pub sha256: String,
    pub size: u64,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a GET gave.
pub(crate) enum Outcome {
    /// 304: the cached copy the request was conditional on is current.
    NotModified,
    Fresh(Downloaded),
}

/// Everything a download needs from its fetcher.
pub(crate) struct Context<'a> {
    pub client: &'a reqwest::Client,
    pub cache: &'a Cache,
    pub retry: &'a RetryPolicy,
    pub progress: &'a Progress,
}

/// Why one attempt failed, and whether another attempt may succeed.
type AttemptError = Failure<FetchError>;

/// Runs `attempt` until it succeeds, fails for good, or the policy runs out of attempts.
async fn with_retries<T, Fut>(
    policy: &RetryPolicy,
    attempt: impl FnMut(u32) -> Fut,
) -> Result<T, FetchError>
where
    Fut: Future<Output = Result<T, AttemptError>>,
{
    retry::with_retries(policy, attempt, |error, delay, next| {
        tracing::warn!(
            "{}; retrying in {:.1} s (attempt {next} of {})",
            error_chain(error),
            delay.as_secs_f64(),
            policy.attempts
        );
    })
    .await
    .result
}

/// Sorts a transport error of attempt number `attempt` into retry or give up.
fn network_error(shown: &str, attempt: u32, source: reqwest::Error) -> AttemptError {
    let source = source.without_url();
    let url = shown.to_string();
    match retry::classify(&source) {
        ErrorClass::Transient => Failure::Transient {
            error: FetchError::Network {
                url,
                attempts: attempt,
                source,
            },
            retry_after: None,
        },
        ErrorClass::Certificate => Failure::Permanent(FetchError::Certificate { url, source }),
        ErrorClass::Permanent => Failure::Permanent(FetchError::Network {
            url,
            attempts: attempt,
            source,
        }),
    }
}

/// Sends one GET. Success statuses and 304 come back as a response; error statuses as
/// an [`AttemptError`], transient or not.
async fn send(
    cx: &Context<'_>,
    url: &Url,
    headers: &HeaderMap,
    attempt: u32,
) -> Result<reqwest::Response, AttemptError> {
    let shown = redact(url);
    tracing::debug!("GET {shown} (attempt {attempt})");
    let response = cx
        .client
        .get(url.clone())
        .headers(headers.clone())
        .send()
        .await
        .map_err(|e| network_error(&shown, attempt, e))?;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        return Ok(response);
    }
    let error = FetchError::Status {
        url: shown,
        status,
        attempts: attempt,
    };
    Err(if retry::is_transient_status(status) {
        Failure::Transient {
            error,
            retry_after: retry::retry_after(response.headers()),
        }
    } else {
        Failure::Permanent(error)
    })
}

fn header(response: &reqwest::Response, name: HeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// GETs `url` into a temporary file, retrying transient failures from the start.
///
/// A body stream that breaks mid-way is retried from byte 0 rather than resumed with a
/// range request: simpler, and correct even against servers that ignore ranges.
/// `expected_size`, when known, stops a download as soon as it is clearly wrong instead
/// of pulling a wrong multi-gigabyte file to the end. A 304 is only meaningful when
/// `headers` carry a condition; it is returned as [`Outcome::NotModified`].
pub(crate) async fn http_get(
    cx: &Context<'_>,
    url: &Url,
    headers: &HeaderMap,
    expected_size: Option<u64>,
) -> Result<Outcome, FetchError> {
    with_retries(cx.retry, |attempt| {
        attempt_get(cx, url, headers, expected_size, attempt)
    })
    .await
}

async fn attempt_get(
    cx: &Context<'_>,
    url: &Url,
    headers: &HeaderMap,
    expected_size: Option<u64>,
    attempt: u32,
) -> Result<Outcome, AttemptError> {
    let shown = redact(url);
    let response = send(cx, url, headers, attempt).await?;
    if response.status() == StatusCode::NOT_MODIFIED {
        return Ok(Outcome::NotModified);
    }

    let etag = header(&response, ETAG);
    let last_modified = header(&response, LAST_MODIFIED);
    let content_length = response.content_length();
    if let (Some(expected), Some(announced)) = (expected_size, content_length)
        && expected != announced
    {
        return Err(Failure::Permanent(FetchError::SizeMismatch {
            url: shown,
            expected,
            actual: announced,
            at_least: false,
        }));
    }

    let temp = cx.cache.temp_file().map_err(Failure::Permanent)?;
    let write_error = |e| Failure::Permanent(FetchError::cache(temp.path(), e));
    let file = temp.as_file().try_clone().map_err(write_error)?;
    let mut writer = BufWriter::with_capacity(IO_BUFFER, tokio::fs::File::from_std(file));
    let bar = cx
        .progress
        .bytes(file_label(url), content_length.or(expected_size));
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| network_error(&shown, attempt, e))?;
        size += chunk.len() as u64;
        if let Some(expected) = expected_size
            && size > expected
        {
            return Err(Failure::Permanent(FetchError::SizeMismatch {
                url: shown,
                expected,
                actual: size,
                at_least: true,
            }));
        }
        hasher.update(&chunk);
        writer.write_all(&chunk).await.map_err(write_error)?;
        bar.inc(chunk.len() as u64);
    }
    writer.flush().await.map_err(write_error)?;
    drop(writer);

    Ok(Outcome::Fresh(Downloaded {
        temp,
        sha256: hex::encode(hasher.finalize()),
        size,
        etag,
        last_modified,
    }))
}

/// GETs part of a resource into memory (not cached: ranges serve look-ups such as a
/// wheel's zip directory, which are small and read once).
pub(crate) async fn http_range(
    cx: &Context<'_>,
    url: &Url,
    headers: &HeaderMap,
    range: ByteRange,
) -> Result<RangeBytes, FetchError> {
    let mut headers = headers.clone();
    headers.insert(
        RANGE,
        HeaderValue::from_str(&range.header_value()).expect("a range header is ASCII"),
    );
    with_retries(cx.retry, |attempt| {
        attempt_range(cx, url, &headers, range, attempt)
    })
    .await
}

async fn attempt_range(
    cx: &Context<'_>,
    url: &Url,
    headers: &HeaderMap,
    range: ByteRange,
    attempt: u32,
) -> Result<RangeBytes, AttemptError> {
    let shown = redact(url);
    let response = send(cx, url, headers, attempt).await?;
    let partial = response.status() == StatusCode::PARTIAL_CONTENT;
    let total_size = if partial {
        header(&response, CONTENT_RANGE).and_then(|v| parse_content_range_total(&v))
    } else {
        response.content_length()
    };
    let mut collected = RangeCollector::new(range, partial);
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| network_error(&shown, attempt, e))?;
        if collected.push(&chunk) {
            // A server that ignored the range: stop once the span is in hand.
            break;
        }
    }
    Ok(RangeBytes {
        bytes: collected.finish(),
        total_size,
    })
}

/// `bytes a-b/total` → total, when the server knows it.
fn parse_content_range_total(value: &str) -> Option<u64> {
    value.rsplit_once('/')?.1.trim().parse().ok()
}

/// Keeps the requested bytes of a body, whether the server honoured the range (206) or
/// sent the whole resource (200).
struct RangeCollector {
    range: ByteRange,
    partial: bool,
    /// Bytes of the whole resource seen so far (200 only).
    offset: u64,
    bytes: Vec<u8>,
}

impl RangeCollector {
    fn new(range: ByteRange, partial: bool) -> Self {
        RangeCollector {
            range,
            partial,
            offset: 0,
            bytes: Vec::new(),
        }
    }

    /// Takes a chunk; true when nothing more is needed.
    fn push(&mut self, chunk: &[u8]) -> bool {
        if self.partial {
            self.bytes.extend_from_slice(chunk);
            return false;
        }
        let chunk_start = self.offset;
        self.offset += chunk.len() as u64;
        match self.range {
            ByteRange::Span { start, end } => {
                let from = start.max(chunk_start);
                let to = end.min(self.offset);
                if from < to {
                    let (a, b) = ((from - chunk_start) as usize, (to - chunk_start) as usize);
                    self.bytes.extend_from_slice(&chunk[a..b]);
                }
                self.offset >= end
            }
            ByteRange::Last(n) => {
                self.bytes.extend_from_slice(chunk);
                let keep = usize::try_from(n).unwrap_or(usize::MAX);
                if self.bytes.len() > keep.saturating_mul(2).max(IO_BUFFER) {
                    self.bytes.drain(..self.bytes.len() - keep);
                }
                false
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if let ByteRange::Last(n) = self.range {
            let keep = usize::try_from(n).unwrap_or(usize::MAX);
            if self.bytes.len() > keep {
                self.bytes.drain(..self.bytes.len() - keep);
            }
        }
        self.bytes
    }
}

/// Reads part of a local file.
pub(crate) async fn local_range(path: &Path, range: ByteRange) -> Result<RangeBytes, FetchError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let local = |source| FetchError::LocalFile {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::File::open(&path).map_err(local)?;
        let total = file.metadata().map_err(local)?.len();
        let (start, end) = match range {
            ByteRange::Span { start, end } => (start.min(total), end.min(total)),
            ByteRange::Last(n) => (total.saturating_sub(n), total),
        };
        file.seek(SeekFrom::Start(start)).map_err(local)?;
        let mut bytes = Vec::new();
        file.take(end.saturating_sub(start))
            .read_to_end(&mut bytes)
            .map_err(local)?;
        Ok(RangeBytes {
            bytes,
            total_size: Some(total),
        })
    })
    .await
    .expect("the local read task does not panic")
}

/// Copies a local file (a `file://` URL) into a temporary file, hashing it.
///
/// Local files go through the cache like downloads: the blob a caller gets is then always
/// a verified, immutable copy, whatever happens to the original afterwards.
pub(crate) async fn copy_local(
    cache: &Cache,
    path: &Path,
    expected_size: Option<u64>,
    shown: &str,
) -> Result<Downloaded, FetchError> {
    let cache = cache.clone();
    let path = path.to_path_buf();
    let shown = shown.to_string();
    tokio::task::spawn_blocking(move || copy_local_blocking(&cache, &path, expected_size, &shown))
        .await
        .expect("the local copy task does not panic")
}

fn copy_local_blocking(
    cache: &Cache,
    path: &Path,
    expected_size: Option<u64>,
    shown: &str,
) -> Result<Downloaded, FetchError> {
    let local = |source| FetchError::LocalFile {
        path: path.to_path_buf(),
        source,
    };
    let mut source = std::fs::File::open(path).map_err(local)?;
    if let Some(expected) = expected_size {
        let actual = source.metadata().map_err(local)?.len();
        if actual != expected {
            return Err(FetchError::SizeMismatch {
                url: shown.to_string(),
                expected,
                actual,
                at_least: false,
            });
        }
    }
    let mut temp = cache.temp_file()?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; IO_BUFFER];
    let mut size = 0u64;
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(local(e)),
        };
        hasher.update(&buf[..n]);
        temp.write_all(&buf[..n])
            .map_err(|e| FetchError::cache(temp.path(), e))?;
        size += n as u64;
    }
    Ok(Downloaded {
        temp,
        sha256: hex::encode(hasher.finalize()),
        size,
        etag: None,
        last_modified: None,
    })
}

/// The last path segment, for a progress bar (as it appears in the URL: decoding `+` or
/// `%2B` the form-encoding way would mangle Debian version strings).
fn file_label(url: &Url) -> String {
    url.path_segments()
        .and_then(|mut segments| segments.next_back())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| url.host_str().unwrap_or("download").to_string())
}
