//! The registry client: manifests, indexes and blobs from OCI distribution registries,
//! and pushing images to them.
//!
//! One [`Registry`] per process: it remembers, per registry, whether it speaks HTTPS or
//! (loopback and `insecure` registries only) plain HTTP and how it authenticates, and
//! caches bearer tokens per repository scope. Credentials come from Docker's
//! configuration ([`credentials`]); TLS trust and retries from the [`Fetcher`].
//!
//! Everything fetched by digest is verified and kept in the fetcher's content-addressed
//! cache: blobs, and manifests too, so that an image pinned by digest can be read again
//! `--offline`.

mod auth;
mod client;
pub mod credentials;
mod error;
pub mod image;
mod pull;
mod push;

use std::path::PathBuf;
use std::sync::Arc;

pub use auth::{AuthScheme, Challenge, parse_challenges};
pub use error::RegistryError;
pub use push::PushedBlob;

use crate::fetch::Fetcher;
use crate::oci::Digest;

use client::Inner;
use credentials::CredentialStore;

/// How a [`Registry`] may reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// `host[:port]` of registries that may be spoken to over plain HTTP (loopback
    /// registries always may).
    pub insecure: Vec<String>,
    /// Where Docker's `config.json` is; else `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
}

/// Blobs up to this size are uploaded in one request; larger ones in chunks of this
/// size, so that proxies with a body-size limit pass them and a failure costs one
/// chunk's worth of progress report, not the whole blob's.
pub(crate) const DEFAULT_UPLOAD_CHUNK: u64 = 32 * 1024 * 1024;

/// The registry client. Cheap to clone: clones share endpoints, credentials and tokens.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
    chunk_size: u64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("chunk_size", &self.chunk_size)
            .finish_non_exhaustive()
    }
}

/// A manifest or index as the registry stores it (the bytes are what the digest is of).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// What a `HEAD` of a manifest tells: enough to pin a tag without downloading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

impl Registry {
    /// Reads the Docker credential configuration; touches no network.
    pub fn new(fetcher: &Fetcher, options: RegistryOptions) -> Result<Registry, RegistryError> {
        let credentials = CredentialStore::load(options.docker_config_dir.as_deref())?;
        Ok(Registry {
            inner: Arc::new(Inner::new(fetcher.clone(), &options.insecure, credentials)),
            chunk_size: DEFAULT_UPLOAD_CHUNK,
        })
    }

    /// The same client, uploading blobs larger than `bytes` in chunks of `bytes`.
    pub fn with_upload_chunk_size(mut self, bytes: u64) -> Registry {
        self.chunk_size = bytes.max(1);
        self
    }
}

pub use crate::oci::types::select_platform;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::reference::Reference;

    /// Callers spawn registry work on tokio's thread pool: every future must be `Send`.
    #[allow(dead_code)]
    fn futures_are_send(registry: Registry, r: Reference, d: Digest, p: &std::path::Path) {
        fn send<T: Send>(_: T) {}
        send(registry.get_manifest(&r));
        send(registry.head_manifest(&r));
        send(registry.get_blob(&r, &d, None));
        send(registry.blob_exists(&r, &d));
        send(registry.push_blob(&r, &d, 0, p, Some(&r)));
        send(registry.push_manifest(&r, "", b""));
    }
}
