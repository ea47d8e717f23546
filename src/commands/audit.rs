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
use crate::sbom::Sbom;

/// SPEC.md's exit code for drift.
pub const EXIT_DRIFT: u8 = 3;

pub fn run(args: &AuditArgs, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let lock = Lockfile::read(&args.lock)?;
    let source: ImageSource = args.image.parse()?;
    let sbom = sbom_format(args.format);
    let Audited { audit, sbom } = audit_image(&source, &lock, global, sbom)?;
    let out = match (args.format, sbom) {
        (AuditFormat::Text, _) => report::text(&audit),
        (AuditFormat::Json, _) => report::json(&audit),
        (AuditFormat::Spdx, Some(sbom)) => crate::sbom::spdx::document(&sbom),
        (AuditFormat::Cyclonedx, Some(sbom)) => crate::sbom::cyclonedx::document(&sbom),
        (_, None) => unreachable!("an SBOM is made when one is asked for"),
    };
    super::print(&out)?;
    if audit.status == Status::Drift && sbom_format(args.format) {
        // The SBOM is what the image holds; the exit code says it is not the lock's.
        anstream::eprintln!(
            "warning: {} drifted from {}: `rtlock audit {}` shows how",
            audit.image,
            args.lock.display(),
            audit.image
        );
    }
    Ok(match audit.status {
        Status::Match => ExitCode::SUCCESS,
        Status::Drift => ExitCode::from(EXIT_DRIFT),
    })
}

fn sbom_format(format: AuditFormat) -> bool {
    matches!(format, AuditFormat::Spdx | AuditFormat::Cyclonedx)
}

/// An audit, and the SBOM of what the image holds when one was asked for.
pub struct Audited {
    pub audit: Audit,
    pub sbom: Option<Sbom>,
}

/// Opens `source`, reads the base's packages at the same time, and compares; with
/// `sbom`, also reads the licenses packages state and describes what the image holds.
pub fn audit_image(
    source: &ImageSource,
    lock: &Lockfile,
    global: &GlobalArgs,
    sbom: bool,
) -> anyhow::Result<Audited> {
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
    let wanted = |path: &str, size: u64| {
        audit::wanted(path, size).map(|keep| match crate::sbom::license::wanted(path, size) {
            Some(whole) if sbom => whole,
            _ => keep,
        })
    };
    let rootfs = RootFs::read_with_progress(&image.layers, &wanted, &progress)
        .with_context(|| format!("cannot read {source}"))?;
    let inventory = crate::inspect::inventory::of_rootfs(&rootfs, &image.config)
        .with_context(|| format!("cannot read {source}"))?;
    let audit = audit::audit(source.to_string(), &rootfs, &inventory, lock, &base)
        .with_context(|| format!("cannot read {source}"))?;
    let sbom = if sbom {
        let user = crate::pip::inventory::user_distributions(&rootfs, &inventory.python)?;
        let licenses = crate::sbom::license::of_image(&rootfs, &inventory, &user)
            .with_context(|| format!("cannot read {source}"))?;
        Some(crate::sbom::of_image(
            source.to_string(),
            image.config_digest.to_string(),
            &inventory,
            &user,
            &licenses,
            lock,
        ))
    } else {
        None
    };
    drop(image);
    Ok(Audited { audit, sbom })
}
