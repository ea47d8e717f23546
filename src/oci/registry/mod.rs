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
mod pull;
mod push;

use std::path::PathBuf;
use std::sync::Arc;

pub use auth::{AuthScheme, Challenge, parse_challenges};
pub use error::RegistryError;
pub use push::PushedBlob;

use crate::fetch::Fetcher;
use crate::oci::Digest;
use crate::oci::types::{Descriptor, ImageIndex};
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
pub const DEFAULT_UPLOAD_CHUNK: u64 = 32 * 1024 * 1024;

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

/// The manifest of `index` for `os/arch[/variant]`, as `docker pull --platform` picks it.
///
/// An entry whose variant equals the one asked for wins over one without a variant
/// (a missing variant on either side matches, since arm64 images rarely say `v8`);
/// attestation manifests (build provenance, SBOMs) are never picked. Common aliases of
/// architecture names (`x86_64`, `aarch64`) are understood.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Descriptor> {
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let mut fallback = None;
    for descriptor in &index.manifests {
        let Some(platform) = &descriptor.platform else {
            continue;
        };
        if is_attestation(descriptor) || !platform.matches(os, arch, variant) {
            continue;
        }
        if platform.variant.as_deref() == variant {
            return Some(descriptor);
        }
        fallback.get_or_insert(descriptor);
    }
    fallback
}

/// BuildKit's attestation manifests sit in the index next to the images.
fn is_attestation(descriptor: &Descriptor) -> bool {
    descriptor
        .annotations
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|t| t == "attestation-manifest")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::reference::Reference;
    use crate::oci::types::Platform;

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

    fn entry(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(crate::oci::media_type::OCI_MANIFEST, Digest::of(&[n]), 1);
        d.platform = Some(Platform::new(os, arch, variant));
        d
    }

    #[test]
    fn platforms() {
        let mut attestation = entry(0, "linux", "amd64", None);
        attestation.annotations = Some(
            [(
                "vnd.docker.reference.type".to_string(),
                "attestation-manifest".to_string(),
            )]
            .into(),
        );
        let index = ImageIndex {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                attestation,
                entry(1, "linux", "arm", Some("v6")),
                entry(2, "linux", "arm", Some("v7")),
                entry(3, "linux", "amd64", None),
                entry(4, "linux", "arm64", None),
                entry(5, "linux", "arm64", Some("v8")),
                entry(6, "windows", "amd64", None),
            ],
            annotations: None,
            extra: Default::default(),
        };
        let pick = |os, arch, variant| {
            select_platform(&index, os, arch, variant).map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux", "amd64", None), Some(Digest::of(&[3])));
        assert_eq!(pick("linux", "x86_64", None), Some(Digest::of(&[3])));
        assert_eq!(pick("linux", "arm", Some("v7")), Some(Digest::of(&[2])));
        assert_eq!(pick("linux", "arm64", Some("v8")), Some(Digest::of(&[5])));
        assert_eq!(pick("linux", "arm64", None), Some(Digest::of(&[4])));
        assert_eq!(pick("windows", "amd64", None), Some(Digest::of(&[6])));
        assert_eq!(pick("linux", "s390x", None), None);
    }
}
