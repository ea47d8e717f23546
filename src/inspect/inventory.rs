//! What an image holds, read from its filesystem: the OS, apt and dpkg, Python and pip,
//! R. Each comes from its ecosystem's `inventory.rs` (and the OS from `base`); each says
//! which files it needs (`wanted`) so that one streaming pass over the layers collects
//! them all, then reads them from the merged [`RootFs`].
//!
//! Used by `rtlock inspect` (and by `lock` and `audit`, which need the same facts).

use serde::Serialize;

use crate::image::rootfs::{Keep, RootFs};
use crate::image::{ImageError, OpenedImage};
use crate::oci::types::ImageConfig;
use crate::progress::Progress;

use crate::apt::inventory as apt;
use crate::base::os;
use crate::pip::inventory as python;
use crate::r::inventory as r;

/// Everything `inspect` reports about an image's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inventory {
    pub os: os::Os,
    pub apt: apt::Apt,
    pub python: python::Python,
    /// Usually none or one installation.
    pub r: Vec<r::R>,
}

/// The files whose content the inventory reads, for [`RootFs::read`].
pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    os::wanted(path, size)
        .or_else(|| apt::wanted(path, size))
        .or_else(|| python::wanted(path, size))
        .or_else(|| r::wanted(path, size))
}

/// Reads the image's layers (one streaming pass, a bar per layer on `progress`) and
/// takes its inventory.
pub fn of_image(
    image: &OpenedImage,
    progress: &Progress,
) -> Result<(RootFs, Inventory), ImageError> {
    let rootfs = RootFs::read_with_progress(&image.layers, &wanted, progress)?;
    let inventory = of_rootfs(&rootfs, &image.config)?;
    Ok((rootfs, inventory))
}

/// The inventory of an already merged filesystem.
pub(crate) fn of_rootfs(rootfs: &RootFs, config: &ImageConfig) -> Result<Inventory, ImageError> {
    let apt = apt::inventory(rootfs)?;
    Ok(Inventory {
        os: os::inventory(rootfs, config, &apt.packages)?,
        python: python::inventory(rootfs, config, &apt.packages)?,
        r: r::inventory(rootfs, config, &apt.packages)?,
        apt,
    })
}
