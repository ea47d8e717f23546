//! `rtlock diff OLD NEW`: what changed between two locks, as text for a terminal,
//! markdown for a pull request, or JSON (SPEC.md's shape) for machines.
//!
//! OLD and NEW are paths, or `REV:PATH` read with `git show` so a lock can be compared
//! with any commit without checking it out.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::cli::{DiffArgs, DiffFormat, GlobalArgs};
use crate::diff::{diff, render};
use crate::lockfile::{self, Lockfile};

pub fn run(args: &DiffArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let old = load(&args.old)?;
    let new = load(&args.new)?;
    let changes = diff(&old, &new);
    let out = match args.format {
        DiffFormat::Text => render::text(&changes),
        DiffFormat::Markdown => render::markdown(&changes),
        DiffFormat::Json => render::json(&changes),
    };
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Reads a lock from a path, or from git when the argument is `REV:PATH` and no such file
/// exists.
fn load(spec: &str) -> anyhow::Result<Lockfile> {
    if Path::new(spec).exists() {
        return Ok(Lockfile::read(Path::new(spec))?);
    }
    let Some((rev, path)) = spec.split_once(':').filter(|(rev, _)| !rev.is_empty()) else {
        return Ok(Lockfile::read(Path::new(spec))?);
    };
    // `git show` would read `--output=FILE:…` as an option (and write FILE): no argument
    // given to git may start with `-`, and the object below starts with REV.
    if rev.starts_with('-') {
        bail!(
            "`{spec}` is neither a file nor REV:PATH: a revision cannot start with `-` \
             (git would read it as an option)\n\
             help: name a branch, tag or commit, e.g. HEAD~1:runtime.lock"
        );
    }
    // `git show REV:./PATH` resolves PATH against the current directory, like a path would.
    let object = if path.starts_with('/') || path.starts_with("./") || path.starts_with("../") {
        format!("{rev}:{path}")
    } else {
        format!("{rev}:./{path}")
    };
    let output = Command::new("git")
        .args(["show", &object])
        .output()
        .context("could not run git to read the lock from a revision")?;
    if !output.status.success() {
        bail!(
            "cannot read `{spec}` from git: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text =
        String::from_utf8(output.stdout).with_context(|| format!("`{spec}` is not UTF-8"))?;
    Ok(lockfile::parse(&text, Path::new(spec))?)
}
