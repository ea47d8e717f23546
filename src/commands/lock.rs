//! `rtlock lock`: resolve the manifest into the lock, or check that the lock is current.
//!
//! Pins are kept, as cargo keeps Cargo.lock: when a lock exists and `[base]` still names
//! the same image and platform, the locked base digest stays, even if the tag has moved
//! since; `--update base` re-resolves it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::{GlobalArgs, LockArgs};
use crate::lockfile::{AptPackage, Lockfile, LockfileError, PipPackage};
use crate::manifest::Manifest;
use crate::resolve::apt::{AptInputs, dpkg_arch, lock_apt};
use crate::resolve::base::{self, ResolvedBase};
use crate::resolve::lock::{EpochSource, assemble, refuse_future_as_of, source_date_epoch};
use crate::resolve::pip::{PipInputs, lock_pip};
use crate::why::normalize_pip;

use super::context;

/// The name `--update` takes for the base image.
const BASE: &str = "base";

pub fn run(args: &LockArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    let lock_path = lock_path(args);
    if args.check {
        return check(&manifest, &args.manifest, &lock_path);
    }
    super::refuse_overwriting(&lock_path, &args.manifest, "manifest")?;
    refuse_unresolvable(&manifest)?;
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
    let locked_apt = previous.as_ref().map_or(&[][..], |p| p.apt.as_slice());
    let locked_pip = previous.as_ref().map_or(&[][..], |p| p.pip.as_slice());
    let named_pip = |p: &PipPackage| args.update.iter().any(|n| same_pip_name(n, &p.name));
    for name in &args.update {
        if name != BASE
            && !locked_apt.iter().any(|p| &p.name == name)
            && !locked_pip.iter().any(|p| same_pip_name(name, &p.name))
        {
            bail!(
                "`{name}` is not in {}: `--update` takes `{BASE}` or the name of a locked package",
                lock_path.display()
            );
        }
    }
    // Every locked package keeps its version unless named (cargo's `update -p`).
    let keep_apt: Vec<AptPackage> = locked_apt
        .iter()
        .filter(|p| !args.update.contains(&p.name))
        .cloned()
        .collect();
    let keep_pip: Vec<PipPackage> = locked_pip
        .iter()
        .filter(|p| !named_pip(p))
        .cloned()
        .collect();

    let kept = previous.as_ref().filter(|lock| {
        !args.update.iter().any(|n| n == BASE)
            && lock.base.reference == manifest.base.image
            && lock.base.platform == manifest.base.platform.to_string()
    });
    let runtime = context::runtime()?;
    let fetcher = context::fetcher(global)?;
    let registry = context::registry(&fetcher)?;
    let base = runtime.block_on(async {
        match kept {
            // Re-read the pinned manifest (not the tag) for its `created` time.
            Some(lock) => base::resolve_pinned(&manifest.base, &lock.base, &registry).await,
            None => base::resolve(&manifest.base, &registry).await,
        }
    })?;

    let base_files = if manifest.apt.packages.is_empty() && manifest.pip.packages.is_empty() {
        None
    } else {
        Some(runtime.block_on(async {
            base::read_rootfs(&base, &registry, fetcher.cache().root())
                .await
                .with_context(|| format!("cannot read the base image {}", base.reference))
        })?)
    };
    let apt = match &base_files {
        Some(files) if !manifest.apt.packages.is_empty() => {
            let inputs = AptInputs {
                spec: &manifest.apt,
                native_arch: &dpkg_arch(
                    &base.platform.architecture,
                    base.platform.variant.as_deref(),
                ),
                keep: &keep_apt,
            };
            runtime.block_on(lock_apt(&files.rootfs, &fetcher, &inputs))?
        }
        _ => Vec::new(),
    };
    let pip = match &base_files {
        Some(files) if !manifest.pip.packages.is_empty() => {
            let inputs = PipInputs {
                spec: &manifest.pip,
                as_of: manifest.lock.as_of,
                architecture: &base.platform.architecture,
                keep: &keep_pip,
            };
            runtime.block_on(lock_pip(&files.python, &fetcher, &inputs))?
        }
        _ => Vec::new(),
    };
    warn_as_of_without_snapshots(&manifest);

    let environment = std::env::var("SOURCE_DATE_EPOCH").ok();
    let (epoch, epoch_source) =
        source_date_epoch(environment.as_deref(), &manifest, &base).map_err(anyhow::Error::msg)?;
    let mut lock = assemble(&manifest, &base, epoch);
    lock.apt = apt;
    lock.pip = pip;
    let unchanged = previous
        .as_ref()
        .is_some_and(|p| p.to_toml() == lock.to_toml());
    if !unchanged {
        lock.write(&lock_path)?;
    }
    if !global.quiet {
        report(&lock, &base, epoch, epoch_source, &lock_path, unchanged);
    }
    Ok(ExitCode::SUCCESS)
}

/// Package resolution lands ecosystem by ecosystem; until then a manifest that asks for
/// packages is refused rather than locked without them.
fn refuse_unresolvable(manifest: &Manifest) -> anyhow::Result<()> {
    let pending = [("r", manifest.r.packages.len())];
    let pending: Vec<&str> = pending
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, _)| *name)
        .collect();
    if !pending.is_empty() {
        bail!(
            "this version of rtlock cannot resolve [{}] packages yet; remove them from the \
             manifest to lock the base image and image config alone",
            pending.join("], [")
        );
    }
    Ok(())
}

/// pip names compare PEP 503-normalized: `--update Scikit_Learn` names `scikit-learn`.
fn same_pip_name(a: &str, b: &str) -> bool {
    normalize_pip(a) == normalize_pip(b)
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

fn report(
    lock: &Lockfile,
    base: &ResolvedBase,
    epoch: i64,
    source: EpochSource,
    lock_path: &Path,
    unchanged: bool,
) {
    let from = match source {
        EpochSource::Environment => "from SOURCE_DATE_EPOCH",
        EpochSource::AsOf => "from [lock] as-of",
        EpochSource::BaseCreated => "the base image's creation time",
        EpochSource::Zero => "the base image has no creation time",
    };
    anstream::eprintln!("base {} ({})", base.reference, base.platform);
    anstream::eprintln!("  digest   {}", base.digest);
    anstream::eprintln!("  manifest {}", base.manifest);
    anstream::eprintln!("source-date-epoch {epoch} ({from})");
    if !lock.apt.is_empty() {
        let requested = lock.apt.iter().filter(|p| p.requested).count();
        anstream::eprintln!(
            "apt {} packages ({requested} requested, {} pulled in)",
            lock.apt.len(),
            lock.apt.len() - requested
        );
    }
    if !lock.pip.is_empty() {
        let requested = lock.pip.iter().filter(|p| p.requested).count();
        anstream::eprintln!(
            "pip {} packages ({requested} requested, {} pulled in)",
            lock.pip.len(),
            lock.pip.len() - requested
        );
    }
    if unchanged {
        anstream::eprintln!("{} is unchanged", lock_path.display());
    } else {
        anstream::eprintln!("wrote {}", lock_path.display());
    }
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
