//! What each command does: thin orchestration over the pipeline modules.
//!
//! The top: each command parses its arguments, calls one module below, and prints what
//! it returns (rendering lives beside the data, in `inspect`, `diff`, `lock::summary`…).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Cli, Command};

pub mod audit;
pub mod base_packages;
pub mod build;
pub mod context;
pub mod diff;
pub mod export;
pub mod fetch;
pub mod init;
pub mod inspect;
pub mod lock;
pub mod why;

/// Exit codes of SPEC.md: 0 success, 1 error, 2 usage (clap), 3 audit drift.
pub const EXIT_ERROR: u8 = 1;

/// Runs the command line and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::Init(args) => init::run(args, global),
        Command::Lock(args) => lock::run(args, global),
        Command::Fetch(args) => fetch::run(args, global).map(|()| ExitCode::SUCCESS),
        Command::Build(args) => build::run(args, global),
        Command::Diff(args) => diff::run(args, global),
        Command::Why(args) => why::run(args, global),
        Command::Audit(args) => audit::run(args, global),
        Command::Inspect(args) => inspect::run(args, global),
        Command::Export(args) => export::run(args, global),
    }
}

/// Standard output could not be written (a full disk, an I/O error, a closed pipe).
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(pub std::io::Error);

impl StdoutError {
    /// The reader went away (`rtlock … | head -1`): nothing is wrong with rtlock's work.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes a command's result to standard output, flushed, and says when that fails
/// (`print!` would panic).
pub fn print(text: &str) -> Result<(), StdoutError> {
    let mut out = anstream::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

/// Checked before any work: `output` may be written (a regular file or nothing there,
/// see [`crate::atomic_file`]) and is not `input`, the `what` the command reads (the
/// same file under another name, a symlink or a hard link, counts).
pub fn refuse_overwriting(
    output: &std::path::Path,
    input: &std::path::Path,
    what: &str,
) -> anyhow::Result<()> {
    if crate::atomic_file::same_file(output, input) {
        anyhow::bail!(
            "the output {} is the {what} {} itself: writing it would replace what it is made from\n\
             help: choose another output path",
            output.display(),
            input.display()
        );
    }
    crate::atomic_file::replaceable_target(output)
        .map(drop)
        .with_context(|| format!("cannot write {}", output.display()))
}
