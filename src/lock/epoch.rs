//! Assembling a lock from a manifest and what its parts resolved to.

use crate::lockfile::{BaseLock, FORMAT_VERSION, ImageLock, Lockfile};
use crate::manifest::Manifest;

use crate::base::pin::ResolvedBase;

/// A source-date-epoch that cannot be used, and where it came from.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EpochError {
    #[error("SOURCE_DATE_EPOCH must be a number of seconds since 1970-01-01, not `{0}`")]
    NotANumber(String),
    #[error(
        "{from} `{shown}` gives a source-date-epoch of {epoch}, outside 0 (1970-01-01) to \
         {MAX_SOURCE_DATE_EPOCH} (2242-03-16, the largest mtime a tar header holds): the \
         image's files could not carry it\nhelp: {help}"
    )]
    OutOfRange {
        from: &'static str,
        shown: String,
        epoch: i64,
        help: &'static str,
    },
    #[error(
        "[lock] as-of = \"{as_of}\" is in the future (it is {now}): a lock resolved as of \
         then could not be reproduced until that time\n\
         help: use a time that has passed, or remove as-of to resolve as the indexes stand now"
    )]
    FutureAsOf {
        as_of: jiff::Timestamp,
        now: jiff::Timestamp,
    },
}

/// Where `source-date-epoch` came from, for the user's information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochSource {
    Environment,
    AsOf,
    BaseCreated,
    /// The base has no `created` time: the epoch itself, so builds stay reproducible.
    Zero,
}

/// The largest `source-date-epoch`: 8589934591 (2242-03-16T12:56:31Z), the largest mtime
/// a ustar header's 11 octal digits hold. A later one would be clamped in every layer
/// while the image config said otherwise; an earlier one than 0 has no ustar form at all.
pub const MAX_SOURCE_DATE_EPOCH: i64 = 0o77_777_777_777;

/// SPEC.md: `SOURCE_DATE_EPOCH` from the environment at lock time if set, else `as-of`,
/// else the base image's `created` time; refused outside 0..=[`MAX_SOURCE_DATE_EPOCH`],
/// naming where it came from.
pub fn source_date_epoch(
    environment: Option<&str>,
    manifest: &Manifest,
    base: &ResolvedBase,
) -> Result<(i64, EpochSource), EpochError> {
    if let Some(value) = environment.filter(|v| !v.trim().is_empty()) {
        let epoch = value
            .trim()
            .parse::<i64>()
            .map_err(|_| EpochError::NotANumber(value.to_string()))?;
        return in_range(
            epoch,
            "SOURCE_DATE_EPOCH",
            value,
            "set another SOURCE_DATE_EPOCH",
        )
        .map(|e| (e, EpochSource::Environment));
    }
    if let Some(as_of) = manifest.lock.as_of {
        return in_range(
            as_of.as_second(),
            "[lock] as-of",
            &as_of.to_string(),
            "choose another as-of",
        )
        .map(|e| (e, EpochSource::AsOf));
    }
    match base.created {
        Some(created) => in_range(
            created,
            "the base image's created time",
            &jiff::Timestamp::from_second(created).map_or(created.to_string(), |t| t.to_string()),
            "set SOURCE_DATE_EPOCH (or [lock] as-of) to give the lock a time of its own",
        )
        .map(|e| (e, EpochSource::BaseCreated)),
        None => Ok((0, EpochSource::Zero)),
    }
}

/// `epoch` when it is a `source-date-epoch` a layer can carry, else why not.
fn in_range(
    epoch: i64,
    from: &'static str,
    shown: &str,
    help: &'static str,
) -> Result<i64, EpochError> {
    if (0..=MAX_SOURCE_DATE_EPOCH).contains(&epoch) {
        return Ok(epoch);
    }
    Err(EpochError::OutOfRange {
        from,
        shown: shown.to_string(),
        epoch,
        help,
    })
}

/// A lock is made from the indexes as they stand; an `as-of` still to come would give a
/// lock that cannot be made again (or checked) before that time, so it is refused.
pub fn refuse_future_as_of(manifest: &Manifest, now: jiff::Timestamp) -> Result<(), EpochError> {
    match manifest.lock.as_of {
        Some(as_of) if as_of > now => Err(EpochError::FutureAsOf {
            as_of,
            now: now.round(jiff::Unit::Second).unwrap_or(now),
        }),
        _ => Ok(()),
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
            digest: base.digest.clone(),
            manifest: base.manifest.clone(),
            platform: base.platform.clone(),
        },
        image: ImageLock {
            env: image.env,
            labels: image.labels,
            user: image.user,
            workdir: image.workdir,
            entrypoint: image.entrypoint,
            cmd: image.cmd,
            compression: image.compression,
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
    use crate::oci::layer::Compression;

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
                .to_string()
                .contains("SOURCE_DATE_EPOCH")
        );
    }

    #[test]
    fn source_date_epoch_is_refused_out_of_the_tar_range() {
        let plain = manifest("");
        let b = base(Some(1_700_000_000));
        assert_eq!(
            source_date_epoch(Some("8589934591"), &plain, &b),
            Ok((MAX_SOURCE_DATE_EPOCH, EpochSource::Environment))
        );
        assert_eq!(
            source_date_epoch(Some("0"), &plain, &b),
            Ok((0, EpochSource::Environment))
        );
        for value in ["8589934592", "-1"] {
            let error = source_date_epoch(Some(value), &plain, &b)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("SOURCE_DATE_EPOCH `{value}`")),
                "{error}"
            );
            assert!(error.contains("2242-03-16"), "{error}");
        }
        let late = manifest("[lock]\nas-of = \"2999-01-01T00:00:00Z\"\n");
        let error = source_date_epoch(None, &late, &b).unwrap_err().to_string();
        assert!(
            error.starts_with("[lock] as-of `2999-01-01T00:00:00Z`"),
            "{error}"
        );
        let error = source_date_epoch(None, &plain, &base(Some(-62_135_596_800)))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("the base image's created time `0001-01-01T00:00:00Z`"),
            "{error}"
        );
        assert!(error.contains("help: set SOURCE_DATE_EPOCH"), "{error}");
    }

    #[test]
    fn a_future_as_of_is_refused() {
        let now: jiff::Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let past = manifest("[lock]\nas-of = \"2026-11-01T00:00:00Z\"\n");
        let future = manifest("[lock]\nas-of = \"2026-12-02T00:00:00Z\"\n");
        assert_eq!(refuse_future_as_of(&past, now), Ok(()));
        assert_eq!(refuse_future_as_of(&manifest(""), now), Ok(()));
        let error = refuse_future_as_of(&future, now).unwrap_err().to_string();
        assert!(
            error.contains("is in the future (it is 2026-12-01T00:00:00Z)"),
            "{error}"
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
        assert_eq!(lock.image.compression, Compression::Zstd);
        assert_eq!(lock.base.platform.to_string(), "linux/amd64");
        assert_eq!(lock.source_date_epoch, 7);
    }
}
