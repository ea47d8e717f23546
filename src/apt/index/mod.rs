//! The index face of apt: from a source line to the verified `Packages` records of its
//! suite, the way apt-get update gets there.
//!
//! 1. [`sources`]: which repositories, read from an image or from the manifest.
//! 2. `InRelease` (else `Release` + `Release.gpg`), revalidated with
//!    [`Fetcher::fetch_index`], its signature checked by [`signature`] with the keyrings
//!    the source names (else the image's trusted keyrings), then parsed by [`release`].
//! 3. For each component and architecture, the first of `Packages.xz`, `.gz` or plain
//!    that the signed Release lists, fetched by the sha256 it gives (so a tampered file
//!    is refused and an unchanged one is never downloaded twice), decompressed and kept
//!    as text; [`packages`] parses it into borrowed records.

pub mod contents;
pub mod packages;
pub mod release;
pub mod signature;
pub mod sources;

use std::io::Read;
use std::path::PathBuf;

use pgp::types::PublicKeyTrait;
use url::Url;

pub use packages::{PackageRecord, PackagesError, RelationField, parse_packages};
pub use release::{IndexFile, Release, parse_release};
pub use signature::{Keyring, SignatureError, read_keyring};
pub use sources::{AptSource, SignedBy, SourceError};

use crate::fetch::{FetchError, Fetcher, redact};
use crate::image::ImageError;
use crate::image::rootfs::RootFs;

/// What the caller decides about a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexOptions {
    /// Architectures to read when a source names none (the image's dpkg architecture,
    /// plus its foreign ones).
    pub architectures: Vec<String>,
    /// Accept unsigned or badly signed repositories (the user said so explicitly).
    pub allow_unsigned: bool,
}

impl IndexOptions {
    pub fn new(architectures: &[&str]) -> Self {
        IndexOptions {
            architectures: architectures.iter().map(|a| a.to_string()).collect(),
            allow_unsigned: false,
        }
    }
}

/// Where keyring files are read from: an image ([`RootFs`]) or a directory standing for
/// one (the host's `/`, a test's temp dir). Paths are absolute, as apt writes them.
pub trait KeyFiles {
    /// The file's bytes, or `None` when there is no such file.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, KeyFileError>;
    /// The names of the entries of a directory (none when it does not exist).
    fn list(&self, dir: &str) -> Result<Vec<String>, KeyFileError>;
}

/// A keyring file or directory that exists but cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The host path (the error says why).
    #[error("{}", path.display())]
    Host {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl KeyFiles for RootFs {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, KeyFileError> {
        Ok(self.read_file(path)?)
    }
    fn list(&self, dir: &str) -> Result<Vec<String>, KeyFileError> {
        Ok(self
            .list_dir(dir)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }
}

/// A host directory taken as the root of the paths apt names.
#[derive(Debug, Clone)]
pub struct HostRoot(pub PathBuf);

impl KeyFiles for HostRoot {
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>, KeyFileError> {
        let full = self.0.join(path.trim_start_matches('/'));
        match std::fs::read(&full) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(KeyFileError::Host { path: full, source }),
        }
    }
    fn list(&self, dir: &str) -> Result<Vec<String>, KeyFileError> {
        let full = self.0.join(dir.trim_start_matches('/'));
        let entries = match std::fs::read_dir(&full) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(KeyFileError::Host { path: full, source }),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// An error of the index face. Each names the source (its file and line) or the URL,
/// and says what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{what}: {source}")]
    Fetch {
        what: String,
        #[source]
        source: FetchError,
    },
    /// A source's release file could not be fetched at all: the usual sign of a
    /// repository that is not meant to be reached from here.
    #[error(
        "{what}: {source}\n\
         help: if this source cannot be reached from here (a vendor's paywalled repository), \
         leave it out of resolution with `[apt] exclude-sources = [\"{uri}\"]`; the image \
         keeps it in its sources file"
    )]
    SourceUnreachable {
        what: String,
        uri: String,
        #[source]
        source: Box<FetchError>,
    },
    #[error(
        "{url} is not signed (source {origin}): apt would refuse it; if you trust this \
         repository anyway, mark the source `[trusted=yes]`"
    )]
    Unsigned { url: String, origin: String },
    #[error(
        "the signature of {url} does not verify (source {origin}): {reason}; keyrings tried: {}; \
         name the repository's key with `signed-by=` or add it to the image's \
         /etc/apt/trusted.gpg.d",
        keyrings_tried(.keyrings)
    )]
    BadSignature {
        url: String,
        origin: String,
        keyrings: Vec<String>,
        reason: SignatureError,
    },
    /// The source itself, or a keyring it names, cannot be used.
    #[error("source {origin}: {message}")]
    Source { origin: String, message: String },
    /// A keyring file of the source (or a trusted one) exists but cannot be read.
    #[error("source {origin}")]
    KeyFile {
        origin: String,
        #[source]
        source: KeyFileError,
    },
    /// A keyring the source names is not an OpenPGP keyring.
    #[error("source {origin}")]
    Keyring {
        origin: String,
        #[source]
        source: SignatureError,
    },
    #[error("{url}: {message}")]
    Release { url: String, message: String },
    #[error("{url}: {message}")]
    Packages { url: String, message: String },
}

fn keyrings_tried(names: &[String]) -> String {
    if names.is_empty() {
        "none (the image has no trusted keyrings)".to_string()
    } else {
        names.join(", ")
    }
}

/// One `Packages` index, decompressed and verified against the signed Release.
#[derive(Debug, Clone)]
pub struct PackagesIndex {
    /// Empty for a flat repository.
    pub component: String,
    pub architecture: String,
    /// The URL it was fetched from (the compressed file).
    pub url: Url,
    /// The sha256 of the fetched (compressed) file, as the Release lists it.
    pub sha256: String,
    pub text: String,
}

impl PackagesIndex {
    /// The records, borrowed from [`text`](Self::text).
    pub fn records(&self) -> Result<Vec<PackageRecord<'_>>, IndexError> {
        parse_packages(&self.text).map_err(|e| IndexError::Packages {
            url: redact(&self.url),
            message: format!("{e} (after decompression)"),
        })
    }
}

/// A suite as fetched: its Release and its Packages indexes.
#[derive(Debug, Clone)]
pub struct Repository {
    pub source: AptSource,
    /// `InRelease`, or `Release` when there was no `InRelease`.
    pub release_url: Url,
    pub release: Release,
    /// `false` only when the source is `trusted=yes` or unsigned repositories were
    /// allowed, and no signature verified.
    pub verified: bool,
    pub packages: Vec<PackagesIndex>,
}

/// The keyrings that may sign `source`'s Release: those it names, else the trusted ones.
pub fn keyrings_for(source: &AptSource, files: &dyn KeyFiles) -> Result<Vec<Keyring>, IndexError> {
    let keyring_error = |message: String| IndexError::Source {
        origin: source.origin.clone(),
        message,
    };
    let bad_keyring = |e: SignatureError| IndexError::Keyring {
        origin: source.origin.clone(),
        source: e,
    };
    let read = |path: &str| -> Result<Option<Keyring>, IndexError> {
        match files.read(path).map_err(|e| key_file_error(source, e))? {
            None => Ok(None),
            Some(bytes) => read_keyring(path, &bytes).map(Some).map_err(bad_keyring),
        }
    };
    match &source.signed_by {
        Some(SignedBy::Inline(text)) => {
            let name = format!("the inline Signed-By key of {}", source.origin);
            Ok(vec![
                read_keyring(&name, text.as_bytes()).map_err(bad_keyring)?,
            ])
        }
        Some(SignedBy::Keyrings(entries)) => {
            let mut out = Vec::new();
            let mut fingerprints = Vec::new();
            for entry in entries {
                if entry.starts_with('/') {
                    let keyring = read(entry)?.ok_or_else(|| {
                        keyring_error(format!(
                            "the keyring {entry} named by signed-by is not in the image"
                        ))
                    })?;
                    out.push(keyring);
                } else {
                    fingerprints.push(entry.trim_end_matches('!').to_ascii_uppercase());
                }
            }
            if !fingerprints.is_empty() {
                // apt's meaning: keys with these fingerprints, from the trusted keyrings.
                for mut keyring in trusted_keyrings(source, files)? {
                    keyring.keys.retain(|key| {
                        let primary = hex::encode_upper(key.primary_key.fingerprint().as_bytes());
                        fingerprints.contains(&primary)
                            || key.public_subkeys.iter().any(|sub| {
                                fingerprints
                                    .contains(&hex::encode_upper(sub.key.fingerprint().as_bytes()))
                            })
                    });
                    if !keyring.keys.is_empty() {
                        out.push(keyring);
                    }
                }
            }
            Ok(out)
        }
        None => trusted_keyrings(source, files),
    }
}

fn key_file_error(source: &AptSource, e: KeyFileError) -> IndexError {
    IndexError::KeyFile {
        origin: source.origin.clone(),
        source: e,
    }
}

const TRUSTED_GPG: &str = "/etc/apt/trusted.gpg";
const TRUSTED_DIR: &str = "/etc/apt/trusted.gpg.d";

/// `/etc/apt/trusted.gpg` and `/etc/apt/trusted.gpg.d/*.{gpg,asc}`, as apt reads them.
fn trusted_keyrings(source: &AptSource, files: &dyn KeyFiles) -> Result<Vec<Keyring>, IndexError> {
    let mut paths = vec![TRUSTED_GPG.to_string()];
    for name in files
        .list(TRUSTED_DIR)
        .map_err(|e| key_file_error(source, e))?
    {
        if name.ends_with(".gpg") || name.ends_with(".asc") {
            paths.push(format!("{TRUSTED_DIR}/{name}"));
        }
    }
    let mut out = Vec::new();
    for path in paths {
        if let Some(bytes) = files.read(&path).map_err(|e| key_file_error(source, e))? {
            // An unreadable trusted keyring is skipped, as apt warns and goes on; a
            // keyring the source names explicitly is an error instead.
            match read_keyring(&path, &bytes) {
                Ok(k) => out.push(k),
                Err(e) => tracing::warn!("skipping {path}: {e}"),
            }
        }
    }
    Ok(out)
}

fn is_missing(error: &FetchError) -> bool {
    matches!(error, FetchError::Status { status, .. } if status.as_u16() == 404 || status.as_u16() == 410)
}

/// A source's URI as messages show it: without credentials.
fn shown_uri(uri: &str) -> String {
    Url::parse(uri).map_or_else(|_| "the source's URI".to_string(), |u| redact(&u))
}

fn join(base: &Url, path: &str) -> Result<Url, IndexError> {
    base.join(path).map_err(|e| IndexError::Release {
        url: redact(base),
        message: format!("cannot form the URL of {path}: {e}"),
    })
}

/// Fetches and verifies `source`'s Release and Packages indexes.
pub async fn fetch_repository(
    fetcher: &Fetcher,
    source: &AptSource,
    files: &dyn KeyFiles,
    options: &IndexOptions,
) -> Result<Repository, IndexError> {
    let mut repository = fetch_release(fetcher, source, files, options).await?;
    repository.packages = fetch_packages_of(fetcher, &repository, options).await?;
    Ok(repository)
}

/// Fetches and verifies `source`'s Release (InRelease, or Release and Release.gpg): a
/// [`Repository`] without its Packages indexes yet ([`fetch_packages_of`] fetches them;
/// the Contents indexes can be read alongside).
pub async fn fetch_release(
    fetcher: &Fetcher,
    source: &AptSource,
    files: &dyn KeyFiles,
    options: &IndexOptions,
) -> Result<Repository, IndexError> {
    let dist = Url::parse(&source.dist_url()).map_err(|e| IndexError::Source {
        origin: source.origin.clone(),
        message: format!("`{}` is not a URL: {e}", source.uri),
    })?;
    let may_skip_signature = source.trusted || options.allow_unsigned;
    let keyrings = if source.trusted {
        Vec::new()
    } else {
        keyrings_for(source, files)?
    };
    let keyring_names: Vec<String> = keyrings.iter().map(|k| k.name.clone()).collect();
    let bad_signature = |url: &Url, reason: SignatureError| IndexError::BadSignature {
        url: redact(url),
        origin: source.origin.clone(),
        keyrings: keyring_names.clone(),
        reason,
    };

    let inrelease_url = join(&dist, "InRelease")?;
    let (release_url, text, verified) = match fetcher.fetch_index(&inrelease_url).await {
        Ok(blob) => {
            let raw = read_text(&blob.path, &inrelease_url)?;
            match signature::verify_cleartext(&raw, &keyrings) {
                Ok(signed) => (inrelease_url, signed, true),
                Err(_) if may_skip_signature => {
                    let body = signature::cleartext_body(&raw).unwrap_or(raw);
                    (inrelease_url, body, false)
                }
                Err(reason) => return Err(bad_signature(&inrelease_url, reason)),
            }
        }
        Err(e) if is_missing(&e) => {
            let release_url = join(&dist, "Release")?;
            let blob = fetcher.fetch_index(&release_url).await.map_err(|e| {
                IndexError::SourceUnreachable {
                    what: format!(
                        "source {} has neither InRelease nor a readable Release",
                        source.origin
                    ),
                    uri: shown_uri(&source.uri),
                    source: Box::new(e),
                }
            })?;
            let raw = read_text(&blob.path, &release_url)?;
            let gpg_url = join(&dist, "Release.gpg")?;
            let verdict = match fetcher.fetch_index(&gpg_url).await {
                Ok(sig) => {
                    let sig = std::fs::read(&sig.path).map_err(|e| IndexError::Release {
                        url: redact(&gpg_url),
                        message: format!("reading the cached copy: {e}"),
                    })?;
                    signature::verify_detached(raw.as_bytes(), &sig, &keyrings)
                        .map_err(|reason| bad_signature(&gpg_url, reason))
                }
                Err(e) if is_missing(&e) => Err(IndexError::Unsigned {
                    url: redact(&release_url),
                    origin: source.origin.clone(),
                }),
                Err(e) => {
                    return Err(IndexError::Fetch {
                        what: format!("Release.gpg of source {}", source.origin),
                        source: e,
                    });
                }
            };
            match verdict {
                Ok(()) => (release_url, raw, true),
                Err(_) if may_skip_signature => (release_url, raw, false),
                Err(e) => return Err(e),
            }
        }
        Err(e) => {
            return Err(IndexError::SourceUnreachable {
                what: format!("InRelease of source {}", source.origin),
                uri: shown_uri(&source.uri),
                source: Box::new(e),
            });
        }
    };
    let release = parse_release(&text).map_err(|e| IndexError::Release {
        url: redact(&release_url),
        message: e.to_string(),
    })?;
    if source.check_valid_until {
        check_valid_until(&release, &release_url)?;
    }
    Ok(Repository {
        source: source.clone(),
        release_url,
        release,
        verified,
        packages: Vec::new(),
    })
}

/// The Packages indexes the verified Release of `repository` lists for `options`,
/// fetched and checked against it.
pub async fn fetch_packages_of(
    fetcher: &Fetcher,
    repository: &Repository,
    options: &IndexOptions,
) -> Result<Vec<PackagesIndex>, IndexError> {
    let (source, release, release_url) = (
        &repository.source,
        &repository.release,
        &repository.release_url,
    );
    let dist = Url::parse(&source.dist_url()).map_err(|e| IndexError::Source {
        origin: source.origin.clone(),
        message: format!("`{}` is not a URL: {e}", source.uri),
    })?;
    let mut packages = Vec::new();
    for (component, architecture) in index_targets(source, release, options) {
        let dir = if source.is_flat() {
            String::new()
        } else {
            format!("{component}/binary-{architecture}/")
        };
        let index = fetch_packages(fetcher, &dist, release, release_url, &dir).await?;
        match index {
            Some((url, sha256, text)) => packages.push(PackagesIndex {
                component,
                architecture,
                url,
                sha256,
                text,
            }),
            // The per-architecture `all` index is optional; the others are not.
            None if architecture == "all" => {}
            None => {
                return Err(IndexError::Release {
                    url: redact(release_url),
                    message: format!(
                        "lists no Packages index for {}; check the source's components \
                         and architectures ({})",
                        if dir.is_empty() {
                            "the flat repository"
                        } else {
                            &dir
                        },
                        source.origin
                    ),
                });
            }
        }
    }
    Ok(packages)
}

/// apt refuses a Release past its `Valid-Until`: a mirror (or an attacker) replaying an
/// old, validly signed Release would otherwise freeze the packages at old versions.
fn check_valid_until(release: &Release, url: &Url) -> Result<(), IndexError> {
    let Some(until) = &release.valid_until else {
        return Ok(());
    };
    let fail = |message: String| IndexError::Release {
        url: redact(url),
        message,
    };
    let deadline = jiff::fmt::rfc2822::parse(until)
        .map_err(|e| {
            fail(format!(
                "Valid-Until `{until}` is not an RFC 2822 date: {e}"
            ))
        })?
        .timestamp();
    if deadline < jiff::Timestamp::now() {
        return Err(fail(format!(
            "the Release expired (Valid-Until: {until}); the mirror serves a stale copy, so \
             try another mirror, or, for a snapshot archive, add `check-valid-until=no` to \
             the source"
        )));
    }
    Ok(())
}

/// (component, architecture) pairs to read. `binary-all` only where the Release
/// announces `all` without `No-Support-for-Architecture-all: Packages` (Debian lists
/// `Architecture: all` packages in every architecture's index and says so).
fn index_targets(
    source: &AptSource,
    release: &Release,
    options: &IndexOptions,
) -> Vec<(String, String)> {
    let mut architectures = if source.architectures.is_empty() {
        options.architectures.clone()
    } else {
        source.architectures.clone()
    };
    if source.is_flat() {
        architectures.truncate(1);
        return architectures
            .into_iter()
            .map(|a| (String::new(), a))
            .collect();
    }
    if release.architectures.iter().any(|a| a == "all")
        && !release.no_support_for_architecture_all
        && !architectures.iter().any(|a| a == "all")
    {
        architectures.push("all".to_string());
    }
    let mut out = Vec::new();
    for component in &source.components {
        for architecture in &architectures {
            out.push((component.clone(), architecture.clone()));
        }
    }
    out
}

/// The first of `Packages.xz`, `.gz`, plain the Release lists under `dir` and the
/// server has: (url, sha256 of what was fetched, decompressed text).
///
/// With `Acquire-By-Hash: yes` the file is asked for by its hash first
/// (`dir/by-hash/SHA256/<sha256>`), as apt does: a mirror caught mid-update then still
/// serves the file this Release means, where the named path may already hold the next
/// one. A server without it falls back to the named path.
async fn fetch_packages(
    fetcher: &Fetcher,
    dist: &Url,
    release: &Release,
    release_url: &Url,
    dir: &str,
) -> Result<Option<(Url, String, String)>, IndexError> {
    // The signed Release also lists the uncompressed file's hash: a copy decompressed
    // before is used by it without touching the network or decompressing again.
    let plain = release.file(&format!("{dir}Packages"));
    if let Some(entry) = plain {
        // Off the async threads, as every read of a large index here: `lock` fetches
        // the archives in the same task as the R part's downloads.
        let (cache, sha256) = (fetcher.clone(), entry.sha256.clone());
        let cached = crate::task::blocking(move || cached_plain(&cache, &sha256))
            .await
            .ok()
            .flatten();
        if let Some(text) = cached {
            let url = join(dist, &entry.path)?;
            return Ok(Some((url, entry.sha256.clone(), text)));
        }
    }
    // `.gz` first, as for Contents: it decompresses about five times faster than `.xz`
    // (0.15 s against 0.8 s for Debian's main), which a cold lock waits for, while the
    // larger download costs less on any link a mirror is worth using over. Every form
    // is checked against the same signed Release, and the text against its plain hash.
    for name in ["Packages.gz", "Packages.xz", "Packages"] {
        let path = format!("{dir}{name}");
        let Some(entry) = release.file(&path) else {
            continue;
        };
        let mut paths = Vec::with_capacity(2);
        if release.acquire_by_hash {
            paths.push(format!("{dir}by-hash/SHA256/{}", entry.sha256));
        }
        paths.push(path.clone());
        for candidate in paths {
            let url = join(dist, &candidate)?;
            let blob = match fetcher
                .fetch_verified(&url, &entry.sha256, Some(entry.size))
                .await
            {
                Ok(blob) => blob,
                // Debian lists the uncompressed file's hash but does not serve it.
                Err(e) if is_missing(&e) => continue,
                Err(e) => {
                    return Err(IndexError::Fetch {
                        what: format!(
                            "{path} does not match the signed {} (or could not be fetched)",
                            redact(release_url)
                        ),
                        source: e,
                    });
                }
            };
            let (cache, url_owned) = (fetcher.clone(), url.clone());
            let plain = plain.filter(|_| name != "Packages").cloned();
            let text = crate::task::blocking(move || {
                let text = decompress(&blob.path, name, &url_owned)?;
                if let Some(plain) = plain {
                    keep_plain(&cache, &text, &plain, &url_owned)?;
                }
                Ok::<_, IndexError>(text)
            })
            .await
            .map_err(|e| IndexError::Packages {
                url: redact(&url),
                message: e.to_string(),
            })??;
            return Ok(Some((url, entry.sha256.clone(), text)));
        }
    }
    Ok(None)
}

/// The decompressed `Packages` with this sha256, when the cache has an intact copy:
/// trusted by its stamp as every cached blob is (hashed again when the stamp is gone or
/// changed, or under `--verify`); a copy that does not match is ignored and made again.
fn cached_plain(fetcher: &Fetcher, sha256: &str) -> Option<String> {
    let path = fetcher.cache().blob_path(sha256);
    match fetcher.cache().check(&path, sha256, None) {
        Ok(crate::fetch::BlobState::Valid { .. }) => {}
        _ => return None,
    }
    String::from_utf8(std::fs::read(&path).ok()?).ok()
}

/// Checks the decompressed text against the signed hash of the uncompressed file (one
/// more proof that it is what the archive published), then keeps it in the cache.
fn keep_plain(
    fetcher: &Fetcher,
    text: &str,
    plain: &IndexFile,
    url: &Url,
) -> Result<(), IndexError> {
    if crate::fetch::sha256_hex(text.as_bytes()) != plain.sha256 {
        return Err(IndexError::Packages {
            url: redact(url),
            message: format!(
                "decompressed, it does not match the sha256 the signed Release gives for {}",
                plain.path
            ),
        });
    }
    // A cache that cannot be written only costs a decompression next time.
    let kept = fetcher.cache().temp_file().ok().and_then(|mut temp| {
        std::io::Write::write_all(&mut temp, text.as_bytes()).ok()?;
        fetcher.cache().persist_blob(temp, &plain.sha256).ok()
    });
    if kept.is_none() {
        tracing::debug!(
            "could not keep the decompressed {} in the cache",
            plain.path
        );
    }
    Ok(())
}

fn decompress(path: &std::path::Path, name: &str, url: &Url) -> Result<String, IndexError> {
    let fail = |message: String| IndexError::Packages {
        url: redact(url),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(format!("reading the cache: {e}")))?;
    let mut bytes = Vec::new();
    let result = if name.ends_with(".xz") {
        liblzma::read::XzDecoder::new(std::io::BufReader::new(file)).read_to_end(&mut bytes)
    } else if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file)).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    };
    result.map_err(|e| fail(format!("cannot decompress it: {e}")))?;
    String::from_utf8(bytes).map_err(|e| fail(format!("it is not UTF-8 text: {e}")))
}

fn read_text(path: &std::path::Path, url: &Url) -> Result<String, IndexError> {
    let bytes = std::fs::read(path).map_err(|e| IndexError::Release {
        url: redact(url),
        message: format!("reading the cached copy: {e}"),
    })?;
    String::from_utf8(bytes).map_err(|_| IndexError::Release {
        url: redact(url),
        message: "it is not UTF-8 text".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(line: &str) -> AptSource {
        sources::parse_one_line(line, "test:1").unwrap().remove(0)
    }

    #[test]
    fn an_unreadable_trusted_keyring_keeps_its_cause() {
        let root = tempfile::tempdir().unwrap();
        // A directory where apt expects the trusted keyring file: it cannot be read.
        std::fs::create_dir_all(root.path().join("etc/apt/trusted.gpg")).unwrap();
        let files = HostRoot(root.path().to_path_buf());
        let e = keyrings_for(&source("deb http://127.0.0.1/ stable main"), &files).unwrap_err();
        let IndexError::KeyFile {
            source: KeyFileError::Host { path, source: io },
            ..
        } = &e
        else {
            panic!("not a key file error: {e:?}");
        };
        assert_eq!(path, &root.path().join("etc/apt/trusted.gpg"));
        assert_eq!(e.to_string(), "source test:1:1");
        assert_eq!(
            crate::fetch::error_chain(&e),
            format!("source test:1:1: {}: {io}", path.display())
        );
    }

    #[test]
    fn a_named_keyring_that_is_not_one_is_a_keyring_error() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("k")).unwrap();
        std::fs::write(root.path().join("k/bad.gpg"), b"not a key").unwrap();
        let files = HostRoot(root.path().to_path_buf());
        let e = keyrings_for(
            &source("deb [signed-by=/k/bad.gpg] http://127.0.0.1/ stable main"),
            &files,
        )
        .unwrap_err();
        assert!(matches!(e, IndexError::Keyring { .. }), "{e:?}");
        let chain = crate::fetch::error_chain(&e);
        assert!(
            chain.starts_with("source test:1:1: /k/bad.gpg holds no OpenPGP public key"),
            "{chain}"
        );
    }
}
