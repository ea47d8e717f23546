//! `rtlock lock`: resolve the manifest into the lock ([`crate::lock`]), or check that the
//! lock is current.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{GlobalArgs, LockArgs};
use crate::lock::epoch::refuse_future_as_of;
use crate::lock::{self, LockError, LockRequest, UPDATE_BASE, summary};
use crate::lockfile::{Lockfile, LockfileError};
use crate::manifest::Manifest;

use super::context;

pub fn run(args: &LockArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    let lock_path = lock_path(args);
    if args.check {
        return check(&manifest, &args.manifest, &lock_path);
    }
    super::refuse_overwriting(&lock_path, &args.manifest, "manifest")?;
    refuse_future_as_of(&manifest, jiff::Timestamp::now())
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.manifest.display()))?;

    let previous = match Lockfile::read(&lock_path) {
        Ok(lock) => Some(lock),
        Err(LockfileError::Missing { .. }) => None,
        Err(e) if args.update.is_empty() => {
            tracing::warn!("ignoring the existing lock, which cannot be read: {e}");
            None
        }
        Err(e) => return Err(e).context("`--update` needs the existing lock"),
    };
    let runtime = context::runtime()?;
    let fetcher = context::fetcher(global)?;
    let registry = context::registry(&fetcher)?;
    let environment_epoch = std::env::var("SOURCE_DATE_EPOCH").ok();
    let request = LockRequest {
        manifest: &manifest,
        previous: previous.as_ref(),
        update: &args.update,
        environment_epoch: environment_epoch.as_deref(),
    };
    let locked = match runtime.block_on(lock::lock(request, &fetcher, &registry)) {
        Ok(locked) => locked,
        Err(LockError::NotLocked { name }) => bail!(
            "`{name}` is not in {}: `--update` takes `{UPDATE_BASE}` or the name of a locked package",
            lock_path.display()
        ),
        Err(e) => return Err(e.into()),
    };
    warn_as_of_without_snapshots(&manifest);
    if let Some(previous) = &previous {
        warn_same_maintenance_version(previous, &locked.lock);
    }

    let unchanged = previous
        .as_ref()
        .is_some_and(|p| p.to_toml() == locked.lock.to_toml());
    if !unchanged {
        locked.lock.write(&lock_path)?;
    }
    if !global.quiet {
        anstream::eprint!("{}", summary::text(&locked, &lock_path, unchanged));
    }
    Ok(ExitCode::SUCCESS)
}

/// Cloudera shows only the highest maintenance version of a runtime: a new iteration
/// with other packages but the same `[runtime] maintenance-version` would be hidden
/// behind (or confused with) the one already deployed.
fn warn_same_maintenance_version(previous: &Lockfile, lock: &Lockfile) {
    const KEY: &str = "ML_RUNTIME_MAINTENANCE_VERSION";
    let (Some(before), Some(now)) = (previous.image.env.get(KEY), lock.image.env.get(KEY)) else {
        return;
    };
    if before != now {
        return;
    }
    let pins = |l: &Lockfile| -> Vec<(String, String)> {
        let apt = l
            .apt
            .iter()
            .map(|p| (format!("apt:{}", p.name), p.sha256.clone()));
        let pip = l
            .pip
            .iter()
            .map(|p| (format!("pip:{}", p.name), p.sha256.clone()));
        let r =
            l.r.iter()
                .map(|p| (format!("r:{}", p.name), p.sha256.clone()));
        apt.chain(pip).chain(r).collect()
    };
    if pins(previous) != pins(lock) || previous.base.manifest != lock.base.manifest {
        tracing::warn!(
            "the runtime's packages changed but [runtime] maintenance-version is still \
             {now}: Cloudera shows only the highest maintenance version of a runtime, so \
             raise it for this new iteration"
        );
    }
}

/// SPEC.md: apt honours `as-of` only through dated snapshot sources.
fn warn_as_of_without_snapshots(manifest: &Manifest) {
    if manifest.lock.as_of.is_some() && !manifest.apt.packages.is_empty() {
        let dated = manifest.apt.sources.as_ref().is_some_and(|lines| {
            lines
                .iter()
                .all(|line| line.split('/').any(is_snapshot_segment))
        });
        if !dated {
            tracing::warn!(
                "[lock] as-of does not apply to apt packages unless [apt] sources are dated \
                 snapshot archives; they were resolved as the sources stand today"
            );
        }
    }
}

/// `20261101T000000Z` or `2026-11-01`: a path segment that dates a snapshot archive.
fn is_snapshot_segment(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    segment.len() >= 8 && digits >= 8 && segment.bytes().take(4).all(|b| b.is_ascii_digit())
}

/// The lock sits next to the manifest unless `-o` says otherwise.
fn lock_path(args: &LockArgs) -> PathBuf {
    match &args.output {
        Some(path) => path.clone(),
        None => args
            .manifest
            .parent()
            .unwrap_or(Path::new(""))
            .join("runtime.lock"),
    }
}

/// `lock --check`: exit 1, saying why, when the lock is missing or does not match the
/// manifest. Writes nothing.
fn check(manifest: &Manifest, manifest_path: &Path, lock_path: &Path) -> anyhow::Result<ExitCode> {
    let lock = match Lockfile::read(lock_path) {
        Ok(lock) => lock,
        Err(e @ LockfileError::Missing { .. }) => {
            anstream::eprintln!("error: {e}");
            return Ok(ExitCode::from(super::EXIT_ERROR));
        }
        Err(e) => return Err(e).context("cannot check the lock"),
    };
    let expected = manifest.normalized_hash();
    if lock.manifest != expected {
        anstream::eprintln!(
            "error: {} is out of date: {} changed since it was locked (lock has {}, manifest is {})\n\
             help: run `rtlock lock` and commit the new lock",
            lock_path.display(),
            manifest_path.display(),
            short(&lock.manifest),
            short(&expected),
        );
        return Ok(ExitCode::from(super::EXIT_ERROR));
    }
    super::print(&format!(
        "{} is up to date with {}\n",
        lock_path.display(),
        manifest_path.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}
