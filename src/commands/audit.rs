//! `rtlock audit IMAGE`: what an image (or a container, as it is now) really holds,
//! compared with the lock: exit 0 when it matches, 3 on drift.
//!
//! The image is opened from any source of SPEC.md while the base's packages are read
//! (from the base facts this machine keeps, else its registry); its layers are then
//! streamed once, hashing every file as it passes (nothing is unpacked to disk), and
//! [`crate::audit`] compares.

use std::process::ExitCode;

use anyhow::Context as _;

use super::context;
use crate::audit::{self, Audit, Status, report};
use crate::cli::{AuditArgs, AuditFormat, GlobalArgs};
use crate::image::{ImageSource, OpenOptions, RootFs};
use crate::lockfile::Lockfile;
use crate::progress::Progress;

/// SPEC.md's exit code for drift.
pub const EXIT_DRIFT: u8 = 3;

pub fn run(args: &AuditArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let lock = Lockfile::read(&args.lock)?;
    let source: ImageSource = args.image.parse()?;
    let audit = audit_image(&source, &lock, global)?;
    let out = match args.format {
        AuditFormat::Text => report::text(&audit),
        AuditFormat::Json => report::json(&audit),
        AuditFormat::Spdx | AuditFormat::Cyclonedx => {
            return super::not_yet("audit --format spdx/cyclonedx", "image SBOMs");
        }
    };
    super::print(&out)?;
    Ok(match audit.status {
        Status::Match => ExitCode::SUCCESS,
        Status::Drift => ExitCode::from(EXIT_DRIFT),
    })
}

/// Opens `source`, reads the base's packages at the same time, and compares.
pub fn audit_image(
    source: &ImageSource,
    lock: &Lockfile,
    global: &GlobalArgs,
) -> anyhow::Result<Audit> {
    let fetcher = context::fetcher(global)?;
    let registry = context::registry(&fetcher)?;
    let options = OpenOptions {
        registry: Some(registry.clone()),
        ..OpenOptions::default()
    };
    let runtime = context::runtime()?;
    let (image, base) = runtime.block_on(async {
        let image = async {
            crate::image::open(source, &options)
                .await
                .with_context(|| format!("cannot open {source}"))
        };
        let base = async {
            super::base_packages::read(&lock.base, &registry, fetcher.cache().root())
                .await
                .with_context(|| {
                    format!(
                        "cannot read the base image {} the lock names, to know what it provides",
                        lock.base.reference
                    )
                })
        };
        tokio::try_join!(image, base)
    })?;
    let progress = Progress::for_stderr(global.quiet);
    let rootfs = RootFs::read_with_progress(&image.layers, &audit::wanted, &progress)
        .with_context(|| format!("cannot read {source}"))?;
    let inventory = crate::inspect::inventory::of_rootfs(&rootfs, &image.config)
        .with_context(|| format!("cannot read {source}"))?;
    let audit = audit::audit(source.to_string(), &rootfs, &inventory, lock, &base)
        .with_context(|| format!("cannot read {source}"))?;
    drop(image);
    Ok(audit)
}
