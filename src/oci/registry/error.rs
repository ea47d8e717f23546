//! What can go wrong talking to a registry, said so that the user knows what to do.
//!
//! No message ever holds a password, token or `Authorization` header: errors end up in
//! CI logs and issues. Credentials are named by where they came from (a config file, a
//! credential helper) and by user name only.

use std::path::PathBuf;

use reqwest::StatusCode;

use crate::fetch::FetchError;
use crate::oci::Digest;
use crate::oci::reference::ReferenceError;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    /// A download through the fetch layer (blobs) failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),

    /// No connection to the registry at all.
    #[error(
        "could not reach the registry {registry} ({tried}); check that it is running and \
         that the address is right{}",
        plain_http_hint(*.plain_http_allowed)
    )]
    Unreachable {
        registry: String,
        tried: String,
        plain_http_allowed: bool,
        #[source]
        source: reqwest::Error,
    },

    /// The registry's TLS certificate is not trusted.
    #[error(
        "the TLS certificate of the registry {registry} is not trusted; if a private CA signs \
         it, point SSL_CERT_FILE at that CA's certificate (PEM)"
    )]
    Certificate {
        registry: String,
        #[source]
        source: reqwest::Error,
    },

    /// A request failed in transit after the connection was made.
    #[error("{action} at {registry} failed{}", attempts_note(*.attempts))]
    Network {
        registry: String,
        action: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    /// The registry wants credentials and there are none for it.
    #[error(
        "the registry {registry} requires authentication for {repository} and no credentials \
         were found for it in {config}; log in (`docker login {registry}`) or set DOCKER_CONFIG \
         to a directory whose config.json has them"
    )]
    NoCredentials {
        registry: String,
        repository: String,
        config: String,
    },

    /// The registry (or its token service) refused the credentials.
    #[error(
        "the registry {registry} rejected the credentials of user `{user}` (from {source_of}); \
         check the user name and password, or log in again (`docker login {registry}`)"
    )]
    CredentialsRejected {
        registry: String,
        user: String,
        source_of: String,
    },

    /// Authenticated, but not allowed (403 or a token without the asked scope).
    #[error(
        "access to {repository} at {registry} was denied{}; check that the repository \
         exists and that {who} may {verb} it",
        detail_note(.detail)
    )]
    Denied {
        registry: String,
        repository: String,
        who: String,
        verb: &'static str,
        detail: Option<String>,
    },

    /// The manifest or blob is not there.
    #[error(
        "{what} is not in the registry{}; check the repository name and the tag or digest",
        detail_note(.detail)
    )]
    NotFound {
        what: String,
        detail: Option<String>,
    },

    /// Any other error status.
    #[error(
        "{action} at {registry}: the registry answered {status}{}{}",
        detail_note(.detail),
        attempts_note(*.attempts)
    )]
    Status {
        registry: String,
        action: String,
        status: StatusCode,
        detail: Option<String>,
        attempts: u32,
    },

    /// The bearer-token service answered something that is not a token.
    #[error("the token service of {registry} ({realm}) {problem}")]
    TokenService {
        registry: String,
        realm: String,
        problem: String,
    },

    /// The registry's authentication challenge cannot be answered.
    #[error("the registry {registry} asks for authentication rtlock cannot do: {challenge}")]
    UnsupportedChallenge { registry: String, challenge: String },

    /// Content that does not hash to the digest it was fetched or announced by.
    #[error(
        "{what} has digest {actual}, not {expected}; the registry or something between it and \
         rtlock changed the content, and nothing was cached"
    )]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },

    /// A manifest response that is not a manifest rtlock can read.
    #[error("{what}: {problem}")]
    BadManifest { what: String, problem: String },

    /// `--offline`, and what is asked for needs the network.
    #[error("{}", offline_message(.what, *.by_tag))]
    Offline { what: String, by_tag: bool },

    /// `config.json` or a credential helper failed.
    #[error("could not read registry credentials from {source_of}: {problem}")]
    Credentials { source_of: String, problem: String },

    /// A local file (a blob to push, a config file) could not be read.
    #[error("could not read {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The upload protocol went wrong in a way the registry did not explain.
    #[error("pushing {what} to {registry}: {problem}")]
    Upload {
        registry: String,
        what: String,
        problem: String,
    },
}

fn offline_message(what: &str, by_tag: bool) -> String {
    if by_tag {
        // A tag can move at any time: only the registry can say what it names now.
        format!(
            "{what} is named by a tag, which only the registry can resolve, and --offline \
             forbids asking it; pin the image by digest (name@sha256:…), or run without \
             --offline"
        )
    } else {
        format!(
            "{what} is not in the cache and --offline forbids asking the registry; run once \
             without --offline (e.g. `rtlock fetch`) to cache it"
        )
    }
}

fn plain_http_hint(allowed: bool) -> &'static str {
    if allowed {
        ""
    } else {
        " (rtlock uses HTTPS unless the registry is on this machine or listed as insecure)"
    }
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

fn detail_note(detail: &Option<String>) -> String {
    match detail {
        Some(detail) => format!(": {detail}"),
        None => String::new(),
    }
}

/// The `errors` of a registry's JSON error body (the distribution spec's format), as one
/// short line: `MANIFEST_UNKNOWN: manifest unknown`. Bodies that are not that are
/// ignored: an HTML error page says nothing useful and may be long.
pub(crate) fn error_detail(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    let lines: Vec<String> = body
        .errors
        .iter()
        .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
            (false, false) => format!("{}: {}", e.code, e.message),
            (false, true) => e.code.clone(),
            _ => e.message.clone(),
        })
        .filter(|l| !l.is_empty())
        .map(|l| l.chars().take(300).collect())
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#
            )
            .as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(error_detail(b"<html>404</html>"), None);
        assert_eq!(error_detail(br#"{"errors":[]}"#), None);
    }
}
