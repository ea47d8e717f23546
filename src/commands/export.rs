//! `rtlock export FORMAT`: the lock in another tool's format, on standard output or,
//! with `-o PATH`, in a file replaced atomically.
//!
//! `requirements` and `pylock` carry the pip packages, `renv` the R packages (see
//! [`crate::export`]); `spdx` and `cyclonedx` are SBOMs of every package the lock pins
//! ([`crate::sbom`]); `dockerfile` an equivalent Dockerfile ([`crate::export::dockerfile`]),
//! for which the base image's config is read (its user).

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{ExportArgs, ExportFormat, GlobalArgs};
use crate::export;
use crate::lockfile::Lockfile;
use crate::oci::reference::Reference;
use crate::oci::registry::image::{self as remote, Select};

pub fn run(args: &ExportArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    if let Some(output) = &args.output {
        super::refuse_overwriting(output, &args.lock, "lock")?;
    }
    let text = match args.format {
        ExportFormat::Requirements | ExportFormat::Pylock => {
            let lock = Lockfile::read(&args.lock)?;
            let written = if args.format == ExportFormat::Requirements {
                export::requirements(&lock, &args.lock)
            } else {
                export::pylock(&lock, &args.lock)
            };
            match written {
                Ok(text) => text,
                Err(e) => {
                    anstream::eprintln!("error: {e}");
                    return Ok(ExitCode::from(super::EXIT_ERROR));
                }
            }
        }
        ExportFormat::Renv => {
            let lock = Lockfile::read(&args.lock)?;
            if lock.r.is_empty() {
                // Said before the base is read: nothing to read it for.
                anstream::eprintln!(
                    "error: {}",
                    export::RenvError::NoR {
                        path: args.lock.clone()
                    }
                );
                return Ok(ExitCode::from(super::EXIT_ERROR));
            }
            let r_version = base_r_version(&lock, global)?;
            match export::renv(&lock, &args.lock, &r_version) {
                Ok(text) => text,
                Err(e) => {
                    anstream::eprintln!("error: {e}");
                    return Ok(ExitCode::from(super::EXIT_ERROR));
                }
            }
        }
        ExportFormat::Spdx | ExportFormat::Cyclonedx => {
            let lock = Lockfile::read(&args.lock)?;
            // Debian's, unless the lock's base says otherwise; a lock alone does not.
            let sbom = crate::sbom::of_lock(&lock, "debian");
            if args.format == ExportFormat::Spdx {
                crate::sbom::spdx::document(&sbom)
            } else {
                crate::sbom::cyclonedx::document(&sbom)
            }
        }
        ExportFormat::Dockerfile => {
            let lock = Lockfile::read(&args.lock)?;
            let user = base_user(&lock, &args.lock, global)?;
            match export::dockerfile(&lock, &args.lock, &user) {
                Ok(text) => text,
                Err(e) => {
                    anstream::eprintln!("error: {e}");
                    return Ok(ExitCode::from(super::EXIT_ERROR));
                }
            }
        }
    };
    match &args.output {
        Some(path) => crate::atomic_file::write(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => super::print(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The user the lock's base image runs as (its config's `User`, empty for root): the
/// Dockerfile's installs switch to root and back. Only the manifest and config are read,
/// by the digest the lock pins.
fn base_user(
    lock: &Lockfile,
    path: &std::path::Path,
    global: &GlobalArgs,
) -> anyhow::Result<String> {
    let fetcher = super::context::fetcher(global)?;
    let registry = super::context::registry(&fetcher)?;
    let reference: Reference = lock.base.reference.parse().with_context(|| {
        format!(
            "{} names the base `{}`, which is not an image reference",
            path.display(),
            lock.base.reference
        )
    })?;
    let pinned = reference.with_digest(lock.base.manifest.clone());
    let image = super::context::runtime()?
        .block_on(remote::read(&registry, &pinned, Select::ManifestOnly))
        .with_context(|| format!("cannot read the config of the base image {pinned}"))?;
    Ok(image.config.config.and_then(|c| c.user).unwrap_or_default())
}

/// The R version of the lock's base, which renv.lock names: from the base facts this
/// machine keeps, else read from the base's layers through its registry.
fn base_r_version(lock: &Lockfile, global: &GlobalArgs) -> anyhow::Result<String> {
    let fetcher = super::context::fetcher(global)?;
    let registry = super::context::registry(&fetcher)?;
    let files = super::context::runtime()?
        .block_on(crate::lock::base_files::read_locked(
            &lock.base,
            &registry,
            fetcher.cache().root(),
        ))
        .with_context(|| format!("cannot read the base image {}", lock.base.reference))?;
    match files.r.r {
        Some(r) => Ok(r.version),
        None => anyhow::bail!(
            "the base image {} has no R, yet the lock has [[r]] entries: run `rtlock lock` again",
            lock.base.reference
        ),
    }
}
