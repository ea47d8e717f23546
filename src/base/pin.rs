//! Pinning the base image: the reference the manifest names, resolved for its platform to
//! the digests the lock records, plus the base's `created` time (one of the sources of
//! `source-date-epoch`).

use crate::lockfile::BaseLock;
use crate::manifest::{BaseSpec, Platform};
use crate::oci::Digest;
use crate::oci::reference::Reference;
use crate::oci::registry::image::{self as remote, RemoteImage, RemoteImageError, Select};
use crate::oci::registry::{Registry, RegistryError};

/// What `[base]` resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBase {
    /// The reference as the manifest wrote it.
    pub reference: String,
    /// What the reference resolved to: an index, or the manifest itself.
    pub digest: Digest,
    /// The image manifest for the platform.
    pub manifest: Digest,
    pub platform: Platform,
    /// The base config's `created`, in seconds since the epoch, when it has one.
    pub created: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("`{reference}` in [base] image is not a valid image reference: {reason}")]
    Reference { reference: String, reason: String },
    #[error("cannot resolve the base image {reference}")]
    Registry {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("the base image {reference} has no manifest for {platform}; it offers: {offered}")]
    NoPlatform {
        reference: String,
        // Boxed: an OCI platform's optional Windows fields would make every
        // `Result<_, BaseError>` large.
        platform: Box<Platform>,
        offered: String,
    },
    #[error("the base image {reference} is for {found}, but [base] platform is {platform}")]
    WrongPlatform {
        reference: String,
        platform: Box<Platform>,
        found: String,
    },
    #[error("the base image {reference} has a {what} rtlock cannot read: {reason}")]
    Malformed {
        reference: String,
        what: &'static str,
        reason: String,
    },
}

/// Resolves `[base]` through `registry`: the reference (usually a tag) to the digest it
/// names now, and, for an index, to the manifest for the platform.
pub async fn resolve(spec: &BaseSpec, registry: &Registry) -> Result<ResolvedBase, BaseError> {
    let reference = parse_reference(spec)?;
    let image = remote::read(registry, &reference, Select::Platform(&spec.platform))
        .await
        .map_err(|e| remote_error(spec, e))?;
    finish(spec, image)
}

/// Re-reads a base the lock already pins (by digest, never by tag), for its `created`
/// time and to check it is still there and still for the platform.
pub async fn resolve_pinned(
    spec: &BaseSpec,
    locked: &BaseLock,
    registry: &Registry,
) -> Result<ResolvedBase, BaseError> {
    let reference = parse_reference(spec)?;
    let pinned = reference.with_digest(locked.manifest.clone());
    let image = remote::read(registry, &pinned, Select::ManifestOnly)
        .await
        .map_err(|e| remote_error(spec, e))?;
    let base = finish(spec, image)?;
    Ok(ResolvedBase {
        digest: locked.digest.clone(),
        ..base
    })
}

/// Checks the platform of the image the reference led to and finds `created`.
fn finish(spec: &BaseSpec, image: RemoteImage) -> Result<ResolvedBase, BaseError> {
    let config = &image.config;
    // The image must be for the platform asked for: building an arm64 runtime on an
    // amd64 base would only fail much later, and confusingly.
    let platform = &spec.platform;
    if config.os != platform.os || config.architecture != platform.architecture {
        return Err(BaseError::WrongPlatform {
            reference: spec.image.clone(),
            platform: Box::new(platform.clone()),
            found: format!("{}/{}", config.os, config.architecture),
        });
    }
    let created = config
        .created
        .as_deref()
        .and_then(|c| c.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_second());
    Ok(ResolvedBase {
        reference: spec.image.clone(),
        digest: image.top,
        manifest: image.manifest_digest,
        platform: platform.clone(),
        created,
    })
}

fn remote_error(spec: &BaseSpec, error: RemoteImageError) -> BaseError {
    match error {
        RemoteImageError::Registry(source) => registry_error(spec, source),
        RemoteImageError::NoPlatform { platform, offered } => BaseError::NoPlatform {
            reference: spec.image.clone(),
            platform,
            offered,
        },
        RemoteImageError::Malformed { what, reason } => malformed(spec, what, reason),
        RemoteImageError::Config(e) => malformed(
            spec,
            "config",
            format!("cannot read the cached config: {e}"),
        ),
        other => malformed(spec, "manifest", other.to_string()),
    }
}

fn parse_reference(spec: &BaseSpec) -> Result<Reference, BaseError> {
    spec.image
        .parse::<Reference>()
        .map_err(|e| BaseError::Reference {
            reference: spec.image.clone(),
            reason: e.to_string(),
        })
}

fn registry_error(spec: &BaseSpec, source: RegistryError) -> BaseError {
    BaseError::Registry {
        reference: spec.image.clone(),
        source: Box::new(source),
    }
}

fn malformed(spec: &BaseSpec, what: &'static str, reason: String) -> BaseError {
    BaseError::Malformed {
        reference: spec.image.clone(),
        what,
        reason,
    }
}
