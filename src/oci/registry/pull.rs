//! Reading from a registry: manifests (by tag or digest), `HEAD` for digests, blobs into
//! the content-addressed cache.

use reqwest::Method;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::auth::Scope;
use super::{FetchedManifest, ManifestHead, Registry, RegistryError};
use crate::fetch::{Blob, FetchError};
use crate::oci::Digest;
use crate::oci::media_type::{self, MANIFEST_ACCEPT};
use crate::oci::reference::Reference;

/// The largest manifest rtlock reads (as containerd): a real one is a few KiB, and a
/// misbehaving server must not fill memory.
const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// The header registries put a manifest's or blob's digest in.
const CONTENT_DIGEST: &str = "docker-content-digest";

impl Registry {
    /// The manifest or index `reference` names (its digest if it has one, else its tag).
    ///
    /// By digest, the bytes are checked against it, and a copy in the cache is used
    /// without asking the registry (a digest names the same bytes forever). By tag, the
    /// digest is that of the bytes received, checked against the registry's
    /// `Docker-Content-Digest` when it sends one. Either way the manifest is cached by
    /// digest, so a later `--offline` run can read it.
    pub async fn get_manifest(&self, r: &Reference) -> Result<FetchedManifest, RegistryError> {
        if let Some(digest) = &r.digest
            && let Some(cached) = self.cached_manifest(digest).await
        {
            return Ok(cached);
        }
        let (response, what) = self.manifest_request(r, Method::GET, "fetching").await?;
        let content_type = header_str(response.headers(), CONTENT_TYPE.as_str());
        let announced =
            header_str(response.headers(), CONTENT_DIGEST).and_then(|d| d.parse::<Digest>().ok());
        let bytes = read_limited(response, &what, r).await?;
        let actual = Digest::of(&bytes);
        if let Some(expected) = r.digest.clone().or(announced)
            && expected != actual
        {
            return Err(RegistryError::DigestMismatch {
                what,
                expected,
                actual,
            });
        }
        let media_type = manifest_media_type(content_type.as_deref(), &bytes, &what)?;
        self.cache_manifest(&actual, &bytes);
        Ok(FetchedManifest {
            digest: actual,
            media_type,
            bytes,
        })
    }

    /// A successful answer to `method` on `r`'s manifest, with how to name it in errors.
    async fn manifest_request(
        &self,
        r: &Reference,
        method: Method,
        verb: &str,
    ) -> Result<(reqwest::Response, String), RegistryError> {
        let what = format!("the manifest of {r}");
        self.check_online(&what, r)?;
        let path = manifest_path(r);
        let action = format!("{verb} {what}");
        let response = self
            .inner
            .send(
                r,
                &Scope::pull(&r.repository),
                &action,
                |client, endpoint| {
                    Ok(client
                        .request(method.clone(), endpoint.url(&path))
                        .header(ACCEPT, MANIFEST_ACCEPT))
                },
            )
            .await?;
        if !response.status().is_success() {
            return Err(self
                .inner
                .status_error(r, &action, &what, "pull", response)
                .await);
        }
        Ok((response, what))
    }

    /// The digest, media type and size of what `reference` names, without its body
    /// (`HEAD`; a registry that leaves the digest out gets a `GET`). Pinning a tag this
    /// way costs no download and, on registries that meter pulls, no pull.
    pub async fn head_manifest(&self, r: &Reference) -> Result<ManifestHead, RegistryError> {
        if let Some(digest) = &r.digest
            && let Some(cached) = self.cached_manifest(digest).await
        {
            return Ok(head_of(&cached));
        }
        let (response, what) = self.manifest_request(r, Method::HEAD, "looking up").await?;
        let headers = response.headers();
        let digest = header_str(headers, CONTENT_DIGEST).and_then(|d| d.parse::<Digest>().ok());
        let media_type = header_str(headers, CONTENT_TYPE.as_str())
            .filter(|t| media_type::manifest_kind(t).is_some());
        let size = header_str(headers, CONTENT_LENGTH.as_str()).and_then(|s| s.parse().ok());
        match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size)) => {
                if let Some(expected) = &r.digest
                    && *expected != digest
                {
                    return Err(RegistryError::DigestMismatch {
                        what,
                        expected: expected.clone(),
                        actual: digest,
                    });
                }
                Ok(ManifestHead {
                    digest,
                    media_type,
                    size,
                })
            }
            _ => Ok(head_of(&self.get_manifest(r).await?)),
        }
    }

    /// The blob `digest` of `reference`'s repository, streamed into the cache and
    /// verified (and `size` checked, when given); from the cache when it is there.
    pub async fn get_blob(
        &self,
        r: &Reference,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Blob, RegistryError> {
        let fetcher = &self.inner.fetcher;
        let path = fetcher.cache().blob_path(digest.hex());
        if let Some(blob) = cached_blob(fetcher.cache(), &path, digest, size).await {
            return Ok(blob);
        }
        let what = format!("blob {digest} of {}", r.name());
        if fetcher.is_offline() {
            return Err(RegistryError::Offline {
                what: format!("the {what}"),
                by_tag: false,
            });
        }
        let endpoint = self.inner.endpoint(r).await?;
        let url = endpoint.url(&format!("{}/blobs/{digest}", r.repository));
        let scope = Scope::pull(&r.repository);
        let mut refresh = false;
        loop {
            let mut headers = HeaderMap::new();
            if let Some(value) = self
                .inner
                .authorization(&endpoint, r, &scope, refresh)
                .await?
            {
                headers.insert(reqwest::header::AUTHORIZATION, value);
            }
            // The fetch layer streams, retries, verifies and caches. A redirect to
            // storage on another host (common for blobs) drops the Authorization
            // header, as it must.
            match fetcher
                .fetch_verified_with(&url, &headers, digest.hex(), size)
                .await
            {
                Ok(blob) => return Ok(blob),
                Err(FetchError::Status { status, .. }) if status == StatusCode::UNAUTHORIZED => {
                    if refresh {
                        return Err(self.inner.unauthorized(r, false, "pull").await);
                    }
                    refresh = true;
                }
                Err(FetchError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
                    return Err(RegistryError::NotFound {
                        what: format!("the {what}"),
                        detail: None,
                    });
                }
                Err(FetchError::HashMismatch { actual, .. }) => {
                    return Err(RegistryError::DigestMismatch {
                        what: format!("the {what}"),
                        expected: digest.clone(),
                        actual: format!("sha256:{actual}").parse().unwrap_or(digest.clone()),
                    });
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Whether the repository of `reference` has the blob `digest`.
    pub async fn blob_exists(&self, r: &Reference, digest: &Digest) -> Result<bool, RegistryError> {
        self.blob_exists_in_scope(r, digest, &Scope::pull(&r.repository))
            .await
    }

    /// [`blob_exists`](Self::blob_exists) with the token of a push, so that a push
    /// needs one token, not two.
    pub(super) async fn blob_exists_in_scope(
        &self,
        r: &Reference,
        digest: &Digest,
        scope: &Scope,
    ) -> Result<bool, RegistryError> {
        let what = format!("blob {digest} of {}", r.name());
        self.check_online(&what, r)?;
        let path = format!("{}/blobs/{digest}", r.repository);
        let action = format!("looking up {what}");
        let response = self
            .inner
            .send(r, scope, &action, |client, endpoint| {
                Ok(client.head(endpoint.url(&path)))
            })
            .await?;
        match response.status() {
            status if status.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self
                .inner
                .status_error(r, &action, &what, "pull", response)
                .await),
        }
    }

    fn check_online(&self, what: &str, r: &Reference) -> Result<(), RegistryError> {
        if self.inner.fetcher.is_offline() {
            return Err(RegistryError::Offline {
                what: what.to_string(),
                by_tag: r.digest.is_none(),
            });
        }
        Ok(())
    }

    /// A manifest from the cache, if it is there and intact.
    async fn cached_manifest(&self, digest: &Digest) -> Option<FetchedManifest> {
        let path = self.inner.fetcher.cache().blob_path(digest.hex());
        let bytes = tokio::fs::read(&path).await.ok()?;
        if bytes.len() > MAX_MANIFEST_SIZE || Digest::of(&bytes) != *digest {
            return None;
        }
        let media_type = manifest_media_type(None, &bytes, "").ok()?;
        Some(FetchedManifest {
            digest: digest.clone(),
            media_type,
            bytes,
        })
    }

    /// Keeps a verified manifest in the cache. Best effort: a cache that cannot be
    /// written costs a later `--offline` run, not this one.
    pub(super) fn cache_manifest(&self, digest: &Digest, bytes: &[u8]) {
        use std::io::Write;
        let cache = self.inner.fetcher.cache();
        let stored = cache.temp_file().and_then(|mut temp| {
            temp.write_all(bytes).map_err(|e| FetchError::Cache {
                path: temp.path().to_path_buf(),
                source: e,
            })?;
            cache.persist_blob(temp, digest.hex())
        });
        if let Err(error) = stored {
            tracing::warn!("could not cache the manifest {digest}: {error}");
        }
    }
}

/// A valid cached blob (trusted by its stamp, else hashed), or `None` (missing or
/// corrupt: fetch it again).
async fn cached_blob(
    cache: &crate::fetch::Cache,
    path: &std::path::Path,
    digest: &Digest,
    size: Option<u64>,
) -> Option<Blob> {
    let (cache, owned, sha256) = (cache.clone(), path.to_path_buf(), digest.hex().to_string());
    let checked = sha256.clone();
    let state = tokio::task::spawn_blocking(move || cache.check(&owned, &checked, size))
        .await
        .ok()?
        .ok()?;
    match state {
        crate::fetch::BlobState::Valid { size } => Some(Blob {
            path: path.to_path_buf(),
            sha256,
            size,
        }),
        _ => None,
    }
}

fn head_of(manifest: &FetchedManifest) -> ManifestHead {
    ManifestHead {
        digest: manifest.digest.clone(),
        media_type: manifest.media_type.clone(),
        size: manifest.bytes.len() as u64,
    }
}

fn manifest_path(r: &Reference) -> String {
    format!("{}/manifests/{}", r.repository, r.api_reference())
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
}

/// Reads a manifest body, refusing one larger than [`MAX_MANIFEST_SIZE`].
async fn read_limited(
    mut response: reqwest::Response,
    what: &str,
    r: &Reference,
) -> Result<Vec<u8>, RegistryError> {
    let mut bytes = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| RegistryError::Network {
            registry: r.registry.clone(),
            action: format!("fetching {what}"),
            attempts: 1,
            source: e.without_url(),
        })?;
        let Some(chunk) = chunk else { break };
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(RegistryError::BadManifest {
                what: what.to_string(),
                problem: format!("it is larger than {MAX_MANIFEST_SIZE} bytes"),
            });
        }
    }
    Ok(bytes)
}

/// The media type of a fetched manifest ([`media_type::sniff_manifest`]), or why it is
/// not one.
fn manifest_media_type(
    content_type: Option<&str>,
    bytes: &[u8],
    what: &str,
) -> Result<String, RegistryError> {
    media_type::sniff_manifest(content_type, bytes).map_err(|e| RegistryError::BadManifest {
        what: what.to_string(),
        problem: match e {
            media_type::SniffError::NotJson => {
                "the registry sent something that is not JSON".to_string()
            }
            other => other.to_string(),
        },
    })
}
