//! What can go wrong while fetching, said so that a user knows what failed, where, and
//! what to do next.
//!
//! Causes are exposed through `source()`, not repeated in the message: the command line
//! prints each cause on its own line, and [`error_chain`] joins them where one line is
//! needed.
//!
//! Every URL in a message goes through [`redact`] first: lock files and sources may carry
//! `user:token@` credentials, and an error message is the most likely thing to be pasted
//! into an issue or a CI log.

use std::io;
use std::path::PathBuf;

use url::Url;

/// An error of the fetch layer.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The HTTP client could not be set up (TLS configuration).
    #[error("could not set up the HTTP client: {0}")]
    Client(String),

    /// The URL is not one rtlock can fetch.
    #[error("cannot fetch {url}: only http://, https:// and file:// URLs are supported")]
    UnsupportedUrl { url: String },

    /// An expected digest that is not 64 hexadecimal digits.
    #[error("invalid sha256 {sha256:?} for {url}: expected 64 hexadecimal digits")]
    InvalidSha256 { url: String, sha256: String },

    /// The network failed (connect, timeout, broken transfer) on every attempt.
    #[error("could not download {url}{}", attempts_note(*.attempts))]
    Network {
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    /// The server refused the TLS connection's certificate: no retry helps, a trust
    /// anchor is missing.
    #[error(
        "could not download {url}: the server's TLS certificate is not trusted; \
         if a proxy or private CA signs it, point SSL_CERT_FILE at that CA's certificate (PEM)"
    )]
    Certificate {
        url: String,
        #[source]
        source: reqwest::Error,
    },

    /// The server answered with an error status (after retries, when it was transient).
    #[error("could not download {url}: the server answered {status}{}", attempts_note(*.attempts))]
    Status {
        url: String,
        status: reqwest::StatusCode,
        attempts: u32,
    },

    /// The downloaded bytes are not the ones the lock pins.
    #[error(
        "sha256 mismatch for {url}: expected {expected}, got {actual}; \
         the file changed upstream or was corrupted in transit, and nothing was cached"
    )]
    HashMismatch {
        url: String,
        expected: String,
        actual: String,
    },

    /// The downloaded size is not the one the lock pins.
    #[error(
        "size mismatch for {url}: expected {expected} bytes, got {actual}{}; \
         the file changed upstream or was truncated, and nothing was cached",
        if *.at_least { " or more" } else { "" }
    )]
    SizeMismatch {
        url: String,
        expected: u64,
        actual: u64,
        /// The download was stopped as soon as it passed the expected size.
        at_least: bool,
    },

    /// `--offline`, and the cache does not hold it.
    #[error(
        "{url} is not in the cache and --offline forbids downloading it; \
         run without --offline, or run `rtlock fetch` first while online"
    )]
    NotCached { url: String },

    /// `--offline`, and the cached copy fails verification.
    #[error(
        "the cached copy of {url} ({}) is corrupt: expected sha256 {expected}, got {actual}; \
         run without --offline to download it again",
        .path.display()
    )]
    CorruptOffline {
        url: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// A local file (a `file://` URL) could not be read.
    #[error("could not read {}", .path.display())]
    LocalFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The cache directory could not be read or written.
    #[error("could not use the cache at {} (check that --cache-dir is writable)", .path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl FetchError {
    pub(crate) fn cache(path: impl Into<PathBuf>, source: io::Error) -> Self {
        FetchError::Cache {
            path: path.into(),
            source,
        }
    }
}

/// An error and its causes on one line, `a: b: c`, for logs and lists where the
/// caller's error report (which prints causes on their own lines) is not used.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    crate::diagnostic::distinct_messages(error).join(": ")
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

/// The URL as it may be shown or stored: without `user:password@`.
///
/// Query strings are kept: they are part of what identifies a resource, and stripping
/// them would make two different resources look the same in the cache.
pub fn redact(url: &Url) -> String {
    if url.username().is_empty() && url.password().is_none() {
        return url.to_string();
    }
    let mut shown = url.clone();
    // Both setters only fail for URLs that cannot have credentials in the first place.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_strips_credentials_only() {
        let url = Url::parse("https://alice:s3cret@example.com/simple/?a=1").unwrap();
        assert_eq!(redact(&url), "https://example.com/simple/?a=1");
        let url = Url::parse("https://token@example.com/x").unwrap();
        assert_eq!(redact(&url), "https://example.com/x");
        let url = Url::parse("http://127.0.0.1:8080/x.deb").unwrap();
        assert_eq!(redact(&url), "http://127.0.0.1:8080/x.deb");
    }
}
