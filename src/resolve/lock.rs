//! Assembling a lock from a manifest and what its parts resolved to.

use crate::lockfile::{BaseLock, FORMAT_VERSION, ImageLock, Lockfile};
use crate::manifest::Manifest;

use super::base::ResolvedBase;

/// Where `source-date-epoch` came from, for the user's information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochSource {
    Environment,
    AsOf,
    BaseCreated,
    /// The base has no `created` time: the epoch itself, so builds stay reproducible.
    Zero,
}

/// SPEC.md: `SOURCE_DATE_EPOCH` from the environment at lock time if set, else `as-of`,
/// else the base image's `created` time.
pub fn source_date_epoch(
    environment: Option<&str>,
    manifest: &Manifest,
    base: &ResolvedBase,
) -> Result<(i64, EpochSource), String> {
    if let Some(value) = environment.filter(|v| !v.trim().is_empty()) {
        let epoch = value.trim().parse::<i64>().map_err(|_| {
            format!("SOURCE_DATE_EPOCH must be a number of seconds since 1970-01-01, not `{value}`")
        })?;
        if epoch < 0 {
            return Err(format!(
                "SOURCE_DATE_EPOCH must not be negative, not `{value}`"
            ));
        }
        return Ok((epoch, EpochSource::Environment));
    }
    if let Some(as_of) = manifest.lock.as_of {
        return Ok((as_of.as_second(), EpochSource::AsOf));
    }
    match base.created {
        Some(created) => Ok((created.max(0), EpochSource::BaseCreated)),
        None => Ok((0, EpochSource::Zero)),
    }
}

/// The lock for `manifest` on `base`, with no packages yet (apt, pip and R add theirs).
pub fn assemble(manifest: &Manifest, base: &ResolvedBase, source_date_epoch: i64) -> Lockfile {
    let image = manifest.expanded_image();
    Lockfile {
        version: FORMAT_VERSION,
        manifest: manifest.normalized_hash(),
        source_date_epoch,
        as_of: manifest.lock.as_of.map(|t| t.to_string()),
        base: BaseLock {
            reference: base.reference.clone(),
            digest: base.digest.to_string(),
            manifest: base.manifest.to_string(),
            platform: base.platform.to_string(),
        },
        image: ImageLock {
            env: image.env,
            labels: image.labels,
            user: image.user,
            workdir: image.workdir,
            entrypoint: image.entrypoint,
            cmd: image.cmd,
            compression: image.compression.as_str().to_string(),
        },
        apt: Vec::new(),
        pip: Vec::new(),
        r: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::Platform;

    fn base(created: Option<i64>) -> ResolvedBase {
        ResolvedBase {
            reference: "registry.example.com/ml/runtime:1".into(),
            digest: crate::oci::Digest::of(b"index"),
            manifest: crate::oci::Digest::of(b"manifest"),
            platform: Platform::default(),
            created,
        }
    }

    fn manifest(extra: &str) -> Manifest {
        let text = format!("[base]\nimage = \"registry.example.com/ml/runtime:1\"\n{extra}");
        Manifest::parse(&text, Path::new("runtime.toml")).unwrap()
    }

    #[test]
    fn source_date_epoch_follows_the_spec_order() {
        let with_as_of = manifest("[lock]\nas-of = \"2026-11-01T00:00:00Z\"\n");
        let plain = manifest("");
        let b = base(Some(1_700_000_000));
        assert_eq!(
            source_date_epoch(Some("42"), &with_as_of, &b),
            Ok((42, EpochSource::Environment))
        );
        assert_eq!(
            source_date_epoch(None, &with_as_of, &b),
            Ok((1_793_491_200, EpochSource::AsOf))
        );
        assert_eq!(
            source_date_epoch(Some(""), &plain, &b),
            Ok((1_700_000_000, EpochSource::BaseCreated))
        );
        assert_eq!(
            source_date_epoch(None, &plain, &base(None)),
            Ok((0, EpochSource::Zero))
        );
        assert!(
            source_date_epoch(Some("yesterday"), &plain, &b)
                .unwrap_err()
                .contains("SOURCE_DATE_EPOCH")
        );
    }

    #[test]
    fn the_lock_carries_the_expanded_image_config() {
        let m = manifest(
            "[image]\nuser = \"8536\"\ncompression = \"zstd\"\n[runtime]\nedition = \"Data Science\"\n",
        );
        let lock = assemble(&m, &base(None), 7);
        assert_eq!(lock.manifest, m.normalized_hash());
        assert_eq!(lock.image.env["ML_RUNTIME_EDITION"], "Data Science");
        assert_eq!(
            lock.image.labels["com.cloudera.ml.runtime.edition"],
            "Data Science"
        );
        assert_eq!(lock.image.user.as_deref(), Some("8536"));
        assert_eq!(lock.image.compression, "zstd");
        assert_eq!(lock.base.platform, "linux/amd64");
        assert_eq!(lock.source_date_epoch, 7);
    }
}
