//! What each command does: thin orchestration over the pipeline modules.

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub mod build;
pub mod context;
pub mod diff;
pub mod export;
pub mod fetch;
pub mod inspect;
pub mod lock;
pub mod why;

/// Exit codes of SPEC.md: 0 success, 1 error, 2 usage (clap), 3 audit drift.
pub const EXIT_ERROR: u8 = 1;

/// Runs the command line and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let global = &cli.global;
    match &cli.command {
        Command::Lock(args) => lock::run(args, global),
        Command::Fetch(args) => fetch::run(args, global).map(|()| ExitCode::SUCCESS),
        Command::Build(args) => build::run(args, global),
        Command::Diff(args) => diff::run(args, global),
        Command::Why(args) => why::run(args, global),
        Command::Audit(_) => not_yet("audit", "image audits"),
        Command::Inspect(args) => inspect::run(args, global),
        Command::Export(args) => export::run(args, global),
    }
}

/// Commands whose implementation has not landed say so plainly and fail; they never
/// pretend to have done something.
fn not_yet(command: &str, what: &str) -> anyhow::Result<ExitCode> {
    anstream::eprintln!(
        "error: `rtlock {command}` is not available yet in this version of rtlock ({what} are still being built)"
    );
    Ok(ExitCode::from(EXIT_ERROR))
}
