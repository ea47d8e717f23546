//! `rtlock diff OLD NEW`: what changed between two locks, as text for a terminal,
//! markdown for a pull request, or JSON (SPEC.md's shape) for machines.
//!
//! OLD and NEW are paths, or `REV:PATH` read with `git show` so a lock can be compared
//! with any commit without checking it out.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

use crate::cli::{DiffArgs, DiffFormat, GlobalArgs};
use crate::diff::{BaseContents, diff, render};
use crate::lockfile::{self, BaseLock, Lockfile};
use crate::oci::registry::Registry;
use crate::why::BasePackages;

pub fn run(args: &DiffArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let old = load(&args.old)?;
    let new = load(&args.new)?;
    let base_changed = old.base.manifest != new.base.manifest;
    let contents = if base_changed && !args.no_base_contents {
        match base_contents(&old, &new, global) {
            Ok(contents) => Some(contents),
            // The lock's own changes are still worth showing: say what is left out.
            Err(e) => {
                anstream::eprintln!(
                    "warning: what changed inside the base is not shown: {}\n\
                     help: `--offline` reads only this machine's cache; \
                     `--no-base-contents` skips the comparison",
                    crate::fetch::error_chain(e.as_ref())
                );
                None
            }
        }
    } else {
        None
    };
    let changes = diff(&old, &new, contents);
    let out = match args.format {
        DiffFormat::Text => render::text(&changes),
        DiffFormat::Markdown => render::markdown(&changes),
        DiffFormat::Json => render::json(&changes),
    };
    super::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Both bases' packages, read at once (each from the cache, else its registry).
fn base_contents(
    old: &Lockfile,
    new: &Lockfile,
    global: &GlobalArgs,
) -> anyhow::Result<BaseContents> {
    let fetcher = super::context::fetcher(global)?;
    let registry = super::context::registry(&fetcher)?;
    let root = fetcher.cache().root();
    let (before, after) = super::context::runtime()?.block_on(async {
        tokio::try_join!(
            read_base(&old.base, &registry, root),
            read_base(&new.base, &registry, root)
        )
    })?;
    Ok(crate::diff::base_contents(&before, &after))
}

async fn read_base(
    base: &BaseLock,
    registry: &Registry,
    root: &Path,
) -> anyhow::Result<BasePackages> {
    super::base_packages::read(base, registry, root)
        .await
        .with_context(|| format!("cannot read the base image {}", base.reference))
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
