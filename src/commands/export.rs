//! `rtlock export FORMAT`: the lock in another tool's format, on standard output or,
//! with `-o PATH`, in a file replaced atomically.
//!
//! `requirements` and `pylock` carry the pip packages, `renv` the R packages (see
//! [`crate::export`]); `spdx` and `cyclonedx` are SBOMs of every package the lock pins
//! ([`crate::sbom`]); `dockerfile` is not written yet and says so.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{ExportArgs, ExportFormat, GlobalArgs};
use crate::export;
use crate::lockfile::Lockfile;

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
            return super::not_yet("export dockerfile", "Dockerfile exports");
        }
    };
    match &args.output {
        Some(path) => crate::atomic_file::write(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => super::print(&text)?,
    }
    Ok(ExitCode::SUCCESS)
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
