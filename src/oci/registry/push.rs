//! Pushing to a registry: blobs (skipped when present, mounted from another repository
//! of the same registry when possible, else streamed from disk in one request or in
//! chunks) and manifests.
//!
//! Memory never grows with blob size: a body is read from its file in small buffers as
//! the request goes out, and each attempt opens the file again, so a retry can resend.
//!
//! The bytes are hashed as they go out ([`SentHash`]), and an upload whose bytes are not
//! the blob its digest names is never completed: a file that rotted in a cache is not
//! published, whatever the registry would have said.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use reqwest::{Response, StatusCode};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt;
use url::Url;

use super::auth::Scope;
use super::client::Endpoint;
use super::{Registry, RegistryError};
use crate::oci::Digest;
use crate::oci::reference::Reference;
use crate::progress::Bar;

/// How a blob got into the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushedBlob {
    /// It was there already; nothing was sent.
    AlreadyPresent,
    /// The registry linked it from another repository; nothing was sent.
    Mounted,
    /// Its bytes were uploaded, in `chunks` `PATCH` requests (0: in one `PUT`).
    Uploaded { chunks: u64 },
}

/// Read buffer of a streamed request body.
const BODY_BUFFER: usize = 256 * 1024;

/// The header a registry states its smallest accepted chunk in (OCI distribution 1.1).
const CHUNK_MIN_LENGTH: &str = "oci-chunk-min-length";

const OCTET_STREAM: &str = "application/octet-stream";

/// How many times one chunked upload may pick up again after a broken chunk.
const MAX_RESUMES: u32 = 3;

/// A chunk failure worth resuming after: the transfer broke (after the request's own
/// retries), or a retry was refused because the registry had kept part of the chunk.
fn is_resumable(error: &RegistryError) -> bool {
    match error {
        RegistryError::Network { .. } => true,
        RegistryError::Status { status, .. } => {
            *status == StatusCode::RANGE_NOT_SATISFIABLE || status.is_server_error()
        }
        _ => false,
    }
}

/// The bytes an upload holds, from its status response's `Range: 0-<last>` (a
/// distribution quirk writes `0-0` for an empty upload too; reading it as nothing
/// received costs at most one byte sent again).
fn received_bytes(range: Option<&str>) -> Option<u64> {
    let Some(range) = range else {
        return Some(0);
    };
    let range = range.trim().trim_start_matches("bytes=");
    let (start, last) = range.split_once('-')?;
    let (start, last): (u64, u64) = (start.trim().parse().ok()?, last.trim().parse().ok()?);
    if start != 0 {
        return None;
    }
    Some(if last == 0 { 0 } else { last + 1 })
}

impl Registry {
    /// Puts the blob `digest` (the file at `path`, `size` bytes) into `r`'s repository.
    /// See [`push_blob_with`](Self::push_blob_with), which also says how.
    pub async fn push_blob(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: Option<&Reference>,
    ) -> Result<(), RegistryError> {
        self.push_blob_with(r, digest, size, path, mount_from)
            .await
            .map(|_| ())
    }

    /// [`push_blob`](Self::push_blob), saying whether the blob was already there,
    /// mounted, or uploaded.
    ///
    /// A blob already in the repository is skipped. With `mount_from` on the same
    /// registry, the registry is asked to link the blob from that repository (no bytes
    /// move; the registry may decline, then the upload proceeds). Otherwise the file is
    /// streamed: in one `PUT` up to the chunk size, else in `PATCH` chunks. The registry
    /// checks the bytes against `digest` before it accepts them.
    pub async fn push_blob_with(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: Option<&Reference>,
    ) -> Result<PushedBlob, RegistryError> {
        let mount_from = mount_from
            .filter(|from| from.registry == r.registry && from.repository != r.repository);
        let scope = match mount_from {
            Some(from) => Scope::push_mounting(&r.repository, &from.repository),
            None => Scope::push(&r.repository),
        };
        if self.blob_exists_in_scope(r, digest, &scope).await? {
            tracing::debug!("{digest} is already in {}", r.name());
            return Ok(PushedBlob::AlreadyPresent);
        }
        let upload = Upload {
            registry: self,
            r,
            scope: &scope,
            digest,
            what: format!("blob {digest}"),
            bar: Arc::new(
                self.inner
                    .fetcher
                    .progress()
                    .bytes(format!("push {}", &digest.hex()[..12]), Some(size)),
            ),
            sent: Arc::default(),
        };
        let (endpoint, location, min_chunk) = match upload.start(mount_from).await? {
            Started::Mounted => {
                tracing::debug!("{digest} mounted into {}", r.name());
                return Ok(PushedBlob::Mounted);
            }
            Started::Session(session) => {
                let Session {
                    endpoint,
                    location,
                    min_chunk,
                } = *session;
                (endpoint, location, min_chunk)
            }
        };

        let actual = tokio::fs::metadata(path)
            .await
            .map_err(|source| RegistryError::Io {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        if actual != size {
            return Err(RegistryError::Upload {
                registry: r.registry.clone(),
                what: upload.what,
                problem: format!(
                    "{} is {actual} bytes, not the {size} its descriptor says",
                    path.display()
                ),
            });
        }
        let chunk = self.chunk_size.max(min_chunk);
        if size <= chunk {
            upload.put(&endpoint, location, path, size).await?;
            return Ok(PushedBlob::Uploaded { chunks: 0 });
        }
        let mut location = location;
        let (mut offset, mut chunks, mut resumes) = (0, 0, 0);
        while offset < size {
            let len = chunk.min(size - offset);
            match upload
                .patch(&endpoint, location.clone(), path, offset, len)
                .await
            {
                Ok(next) => {
                    location = next;
                    offset += len;
                }
                // A chunk that broke off part-way leaves the registry with bytes we
                // cannot see: ask it where the upload stands and go on from there.
                Err(error) if resumes < MAX_RESUMES && is_resumable(&error) => {
                    resumes += 1;
                    let Ok((next, received)) = upload.status(&endpoint, &location).await else {
                        return Err(error);
                    };
                    if received > size {
                        return Err(error);
                    }
                    tracing::warn!(
                        "{}; resuming the upload at byte {received} of {size}",
                        crate::fetch::error_chain(&error)
                    );
                    location = next;
                    offset = received;
                }
                Err(error) => return Err(error),
            }
            chunks += 1;
        }
        upload.check_sent(path, size)?;
        upload.finish(&endpoint, location).await?;
        Ok(PushedBlob::Uploaded { chunks })
    }

    /// Puts a manifest (or index) into `r`'s repository, under its tag, or under its
    /// digest when it has none, and returns the digest. Its blobs (or manifests) must
    /// be there first: the registry refuses a manifest whose references it lacks.
    pub async fn push_manifest(
        &self,
        r: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::of(bytes);
        let target = match (&r.tag, &r.digest) {
            (Some(tag), _) => tag.clone(),
            (None, Some(expected)) if *expected != digest => {
                return Err(RegistryError::DigestMismatch {
                    what: format!("the manifest to push to {r}"),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
            (None, _) => digest.to_string(),
        };
        let what = format!("the manifest {digest} to {}:{target}", r.name());
        let action = format!("pushing {what}");
        let path = format!("{}/manifests/{target}", r.repository);
        let content_type = media_type.to_string();
        let body = bytes.to_vec();
        let response = self
            .inner
            .send(
                r,
                &Scope::push(&r.repository),
                &action,
                |client, endpoint| {
                    Ok(client
                        .put(endpoint.url(&path))
                        .header(CONTENT_TYPE, content_type.as_str())
                        .body(body.clone()))
                },
            )
            .await?;
        if !response.status().is_success() {
            return Err(self
                .inner
                .status_error(r, &action, &what, "push to", response)
                .await);
        }
        if let Some(announced) = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok())
            && announced != digest
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("the manifest the registry stored for {what}"),
                expected: digest,
                actual: announced,
            });
        }
        self.cache_manifest(&digest, bytes);
        Ok(digest)
    }
}

/// How an upload began.
enum Started {
    Mounted,
    Session(Box<Session>),
}

/// An open upload session.
struct Session {
    endpoint: Endpoint,
    location: Url,
    /// The registry's smallest accepted chunk (0: no limit).
    min_chunk: u64,
}

/// One blob upload's steps.
struct Upload<'a> {
    registry: &'a Registry,
    r: &'a Reference,
    scope: &'a Scope,
    digest: &'a Digest,
    what: String,
    /// Bytes sent (a retried request rewinds it).
    bar: Arc<Bar>,
    /// The hash of the bytes sent, in file order.
    sent: Arc<Mutex<SentHash>>,
}

/// The sha256 of what an upload has sent so far, in file order. Retried requests and
/// resumed chunks send a range again: each byte is hashed once, the first time it goes.
#[derive(Default)]
struct SentHash {
    hasher: Sha256,
    /// Bytes `0..hashed` of the file are in the hasher.
    hashed: u64,
}

impl SentHash {
    /// Hashes what of `bytes`, read at `offset` of the file, is past what is hashed.
    fn feed(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        if offset <= self.hashed && end > self.hashed {
            let new = usize::try_from(self.hashed - offset).unwrap_or(bytes.len());
            self.hasher.update(&bytes[new..]);
            self.hashed = end;
        }
    }

    /// Whether all `size` bytes were sent and hash to `digest`; the problem when not.
    fn check(&self, digest: &Digest, size: u64, path: &Path) -> Result<(), SentError> {
        if self.hashed != size {
            return Err(SentError::Short {
                hashed: self.hashed,
                size,
                path: path.to_path_buf(),
            });
        }
        let actual = Digest::from_sha256(&self.hasher.clone().finalize().into());
        if &actual != digest {
            return Err(SentError::Mismatch {
                path: path.to_path_buf(),
                actual,
            });
        }
        Ok(())
    }
}

/// What is wrong with the bytes an upload sent (see [`SentHash::check`]).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum SentError {
    #[error(
        "only {hashed} of the {size} bytes of {} were hashed on their way out",
        path.display()
    )]
    Short {
        hashed: u64,
        size: u64,
        path: PathBuf,
    },
    #[error(
        "{} does not hash to its name: its content hashes to {actual}; \
         the upload was not completed",
        path.display()
    )]
    Mismatch { path: PathBuf, actual: Digest },
}

impl Upload<'_> {
    /// `POST …/blobs/uploads/`, asking to mount from `mount_from` when given.
    async fn start(&self, mount_from: Option<&Reference>) -> Result<Started, RegistryError> {
        let inner = &self.registry.inner;
        let action = format!("starting the upload of {}", self.what);
        let path = format!("{}/blobs/uploads/", self.r.repository);
        let response = inner
            .send(self.r, self.scope, &action, |client, endpoint| {
                let mut url = endpoint.url(&path);
                if let Some(from) = mount_from {
                    url.query_pairs_mut()
                        .append_pair("mount", self.digest.as_str())
                        .append_pair("from", &from.repository);
                }
                Ok(client.post(url).header(CONTENT_LENGTH, "0"))
            })
            .await?;
        match response.status() {
            StatusCode::CREATED if mount_from.is_some() => Ok(Started::Mounted),
            StatusCode::ACCEPTED => {
                let endpoint = inner.endpoint(self.r).await?;
                let min_chunk = response
                    .headers()
                    .get(CHUNK_MIN_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let location = self.location(&endpoint, &response)?;
                Ok(Started::Session(Box::new(Session {
                    endpoint,
                    location,
                    min_chunk,
                })))
            }
            _ => Err(inner
                .status_error(self.r, &action, &self.what, "push to", response)
                .await),
        }
    }

    /// The whole blob in one `PUT <location>?digest=…`.
    async fn put(
        &self,
        endpoint: &Endpoint,
        location: Url,
        path: &Path,
        size: u64,
    ) -> Result<(), RegistryError> {
        let url = with_digest(location, self.digest);
        let action = format!("uploading {}", self.what);
        let response = self
            .registry
            .inner
            .send(self.r, self.scope, &action, |client, _| {
                Ok(client
                    .put(url.clone())
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .header(CONTENT_LENGTH, size)
                    .body(file_body(path, 0, size, self, true)?))
            })
            .await?;
        self.expect_created(endpoint, response, &action).await
    }

    /// One chunk, `PATCH <location>` with `Content-Range`; returns where the next goes.
    async fn patch(
        &self,
        endpoint: &Endpoint,
        location: Url,
        path: &Path,
        offset: u64,
        len: u64,
    ) -> Result<Url, RegistryError> {
        let action = format!(
            "uploading bytes {offset}-{} of {}",
            offset + len - 1,
            self.what
        );
        let response = self
            .registry
            .inner
            .send(self.r, self.scope, &action, |client, _| {
                Ok(client
                    .patch(location.clone())
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .header(CONTENT_LENGTH, len)
                    .header(CONTENT_RANGE, format!("{offset}-{}", offset + len - 1))
                    .body(file_body(path, offset, len, self, false)?))
            })
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(self
                .registry
                .inner
                .status_error(self.r, &action, &self.what, "push to", response)
                .await);
        }
        self.location(endpoint, &response)
    }

    /// The chunks sent are the blob its digest names, else the upload must not be
    /// completed.
    fn check_sent(&self, path: &Path, size: u64) -> Result<(), RegistryError> {
        let sent = self
            .sent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sent.check(self.digest, size, path)
            .map_err(|problem| RegistryError::Upload {
                registry: self.r.registry.clone(),
                what: self.what.clone(),
                problem: problem.to_string(),
            })
    }

    /// Closes a chunked upload: `PUT <location>?digest=…` with no body.
    async fn finish(&self, endpoint: &Endpoint, location: Url) -> Result<(), RegistryError> {
        let url = with_digest(location, self.digest);
        let action = format!("completing the upload of {}", self.what);
        let response = self
            .registry
            .inner
            .send(self.r, self.scope, &action, |client, _| {
                Ok(client.put(url.clone()).header(CONTENT_LENGTH, "0"))
            })
            .await?;
        self.expect_created(endpoint, response, &action).await
    }

    async fn expect_created(
        &self,
        _endpoint: &Endpoint,
        response: Response,
        action: &str,
    ) -> Result<(), RegistryError> {
        if response.status() == StatusCode::CREATED {
            tracing::debug!("uploaded {} to {}", self.what, self.r.name());
            return Ok(());
        }
        Err(self
            .registry
            .inner
            .status_error(self.r, action, &self.what, "push to", response)
            .await)
    }

    /// Where an upload stands: `GET <location>` answers where to send the next bytes
    /// and, in `Range`, how many it has.
    async fn status(
        &self,
        endpoint: &Endpoint,
        location: &Url,
    ) -> Result<(Url, u64), RegistryError> {
        let action = format!("asking how much of {} arrived", self.what);
        let response = self
            .registry
            .inner
            .send(self.r, self.scope, &action, |client, _| {
                Ok(client.get(location.clone()))
            })
            .await?;
        if !response.status().is_success() {
            return Err(self
                .registry
                .inner
                .status_error(self.r, &action, &self.what, "push to", response)
                .await);
        }
        let range = response
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok());
        let received = received_bytes(range).ok_or_else(|| RegistryError::Upload {
            registry: self.r.registry.clone(),
            what: self.what.clone(),
            problem: "the registry's upload status has a Range rtlock cannot read".into(),
        })?;
        let next = self
            .location(endpoint, &response)
            .unwrap_or_else(|_| location.clone());
        Ok((next, received))
    }

    fn location(&self, endpoint: &Endpoint, response: &Response) -> Result<Url, RegistryError> {
        response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| endpoint.resolve(v))
            .ok_or_else(|| RegistryError::Upload {
                registry: self.r.registry.clone(),
                what: self.what.clone(),
                problem: format!(
                    "the registry answered {} without a usable Location for the upload",
                    response.status()
                ),
            })
    }
}

/// `location` with `digest=<digest>` added to whatever query it already has (upload
/// locations often carry state there).
fn with_digest(mut location: Url, digest: &Digest) -> Url {
    location
        .query_pairs_mut()
        .append_pair("digest", digest.as_str());
    location
}

/// `len` bytes of the file at `path` from `offset`, as a streamed request body that
/// moves the upload's bar and feeds its [`SentHash`] as it goes. With `last`, the body
/// ends the blob: when the bytes sent are not the blob, the body fails at its end, so
/// the request breaks off and the registry never completes the upload.
fn file_body(
    path: &Path,
    offset: u64,
    len: u64,
    upload: &Upload<'_>,
    last: bool,
) -> Result<reqwest::Body, RegistryError> {
    let io = |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let file = tokio::fs::File::from_std(file);
    upload.bar.set_position(offset);
    let bar = Arc::clone(&upload.bar);
    let sent = Arc::clone(&upload.sent);
    let digest = upload.digest.clone();
    let (path, end) = (path.to_path_buf(), offset + len);
    let state = (file, offset, false);
    let stream = futures_util::stream::unfold(state, move |(mut file, at, done)| {
        let (bar, sent, digest, path) = (
            Arc::clone(&bar),
            Arc::clone(&sent),
            digest.clone(),
            path.clone(),
        );
        async move {
            if done || at == end {
                return None;
            }
            let mut buf =
                vec![0u8; BODY_BUFFER.min(usize::try_from(end - at).unwrap_or(BODY_BUFFER))];
            match file.read(&mut buf).await {
                Ok(0) => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file got shorter while it was being uploaded",
                    )),
                    (file, at, true),
                )),
                Ok(n) => {
                    buf.truncate(n);
                    let mut hash = sent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    hash.feed(at, &buf);
                    let next = at + n as u64;
                    // Checked before the last bytes go: once the request has all the
                    // bytes its length promised, it completes whatever the body says.
                    if last
                        && next == end
                        && let Err(problem) = hash.check(&digest, end, &path)
                    {
                        return Some((Err(std::io::Error::other(problem)), (file, at, true)));
                    }
                    bar.inc(n as u64);
                    Some((Ok(buf), (file, next, false)))
                }
                Err(e) => Some((Err(e), (file, at, true))),
            }
        }
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ranges() {
        assert_eq!(received_bytes(None), Some(0));
        assert_eq!(received_bytes(Some("0-0")), Some(0));
        assert_eq!(received_bytes(Some("0-1023")), Some(1024));
        assert_eq!(received_bytes(Some("bytes=0-9")), Some(10));
        assert_eq!(received_bytes(Some("5-9")), None);
        assert_eq!(received_bytes(Some("garbage")), None);
    }

    #[test]
    fn sent_bytes_are_hashed_once_in_file_order() {
        let blob: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let digest = Digest::of(&blob);
        let path = Path::new("blob");
        // Chunks, a resend of part of the second, a retried first request.
        let mut sent = SentHash::default();
        sent.feed(0, &blob[..4000]);
        sent.feed(4000, &blob[4000..7000]);
        sent.feed(5000, &blob[5000..8000]);
        sent.feed(0, &blob[..100]);
        assert!(
            matches!(
                sent.check(&digest, 10_000, path),
                Err(SentError::Short {
                    hashed: 8000,
                    size: 10_000,
                    ..
                })
            ),
            "not all sent yet"
        );
        sent.feed(8000, &blob[8000..]);
        assert_eq!(sent.check(&digest, 10_000, path), Ok(()));

        // The same bytes but one: named, and never completed.
        let mut rotten = blob.clone();
        rotten[6000] ^= 1;
        let mut sent = SentHash::default();
        sent.feed(0, &rotten);
        let problem = sent.check(&digest, 10_000, path).unwrap_err();
        assert_eq!(
            problem,
            SentError::Mismatch {
                path: path.to_path_buf(),
                actual: Digest::of(&rotten)
            }
        );
        assert!(
            problem.to_string().contains("does not hash to its name"),
            "{problem}"
        );
        // A gap (bytes past what was hashed) is never counted as sent.
        let mut sent = SentHash::default();
        sent.feed(0, &blob[..100]);
        sent.feed(200, &blob[200..]);
        assert!(sent.check(&digest, 10_000, path).is_err());
    }
}
