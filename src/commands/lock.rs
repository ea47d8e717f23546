//! `rtlock lock`: resolve the manifest into the lock, or check that the lock is current.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{GlobalArgs, LockArgs};
use crate::lockfile::{Lockfile, LockfileError};
use crate::manifest::Manifest;

pub fn run(args: &LockArgs, _global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let manifest = Manifest::load(&args.manifest)?;
    let lock_path = lock_path(args);
    if args.check {
        return check(&manifest, &args.manifest, &lock_path);
    }
    anstream::eprintln!(
        "error: `rtlock lock` cannot resolve yet: base-image resolution is still being built \
         in this version of rtlock; `rtlock lock --check` works"
    );
    Ok(ExitCode::from(super::EXIT_ERROR))
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
    anstream::println!(
        "{} is up to date with {}",
        lock_path.display(),
        manifest_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}
