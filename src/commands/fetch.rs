//! `rtlock fetch`: download and verify every artifact of a lock, for offline and
//! air-gapped builds, optionally laid out as a mirror (`--into DIR`); the work is
//! [`crate::build::prefetch`]'s.

use anyhow::Context as _;
use indicatif::HumanBytes;

use crate::build::prefetch::{artifacts, fetch_all, place};
use crate::cli::{FetchArgs, GlobalArgs};
use crate::fetch::error_chain;
use crate::lockfile::Lockfile;

pub fn run(args: &FetchArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let lock = Lockfile::read(&args.lock)?;
    let artifacts = artifacts(&lock);
    if artifacts.is_empty() {
        if !global.quiet {
            anstream::eprintln!(
                "nothing to fetch: {} has no apt, pip or R packages",
                args.lock.display()
            );
        }
        return Ok(());
    }

    let fetcher = super::context::fetcher(global)?;
    let runtime = super::context::runtime()?;
    let results = runtime.block_on(fetch_all(&fetcher, &artifacts));

    let mut failures = Vec::new();
    let mut fetched = Vec::new();
    for (artifact, result) in artifacts.iter().zip(results) {
        match result {
            Ok(blob) => fetched.push((artifact, blob)),
            Err(error) => failures.push(format!("{}: {}", artifact.what, error_chain(&error))),
        }
    }

    if let Some(dir) = &args.into {
        for (artifact, blob) in &fetched {
            let dest = dir.join(&artifact.mirror_path);
            place(&blob.path, &dest).with_context(|| {
                format!("could not write {} into {}", artifact.what, dest.display())
            })?;
        }
    }

    if !failures.is_empty() {
        anyhow::bail!(
            "could not fetch {} of {} artifacts of {}:\n  {}",
            failures.len(),
            artifacts.len(),
            args.lock.display(),
            failures.join("\n  ")
        );
    }

    if !global.quiet {
        let bytes: u64 = fetched.iter().map(|(_, blob)| blob.size).sum();
        let mut summary = format!(
            "fetched {} artifact{} ({}), verified, in {}",
            fetched.len(),
            if fetched.len() == 1 { "" } else { "s" },
            HumanBytes(bytes),
            fetcher.cache().root().display()
        );
        if let Some(dir) = &args.into {
            summary.push_str(&format!(" and {}", dir.display()));
        }
        anstream::eprintln!("{summary}");
    }
    Ok(())
}
