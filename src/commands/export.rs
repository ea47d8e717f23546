//! `rtlock export FORMAT`: the lock in another tool's format, on standard output or,
//! with `-o PATH`, in a file replaced atomically.
//!
//! `requirements` and `pylock` carry the pip packages (see [`crate::export`]); `renv` and
//! `dockerfile` are not written yet and say so.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{ExportArgs, ExportFormat, GlobalArgs};
use crate::export;
use crate::lockfile::Lockfile;

pub fn run(args: &ExportArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
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
        ExportFormat::Renv => return super::not_yet("export renv", "renv exports"),
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
