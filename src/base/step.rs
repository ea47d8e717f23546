//! What every ecosystem's layer is made on: the pinned base (its layers, downloaded and
//! verified, and its config) and how layers are written. `build` fills it in once and
//! hands it to each ecosystem's `layer.rs`.

use std::path::Path;

use crate::lockfile::Lockfile;
use crate::oci::layer::{Compression, Layer, LayerCache};
use crate::oci::output::{Image, ImageLayer};
use crate::oci::types::ImageConfig;

#[derive(Clone, Copy)]
pub struct Step<'a> {
    pub lock: &'a Lockfile,
    /// The base's layers, downloaded and verified, bottom first.
    pub base_layers: &'a [ImageLayer],
    pub base_config: &'a ImageConfig,
    pub layer_cache: &'a LayerCache,
    pub compression: Compression,
    /// The fetch cache's root, where views of the base are kept ([`super::view`]).
    pub cache_root: &'a Path,
    /// The image of the base with these layers (history line, layer) on top and the
    /// lock's `[image]` applied: what a container step of an ecosystem runs in.
    pub image_with: &'a (dyn Fn(Vec<(String, Layer)>) -> Image + Sync),
}

impl std::fmt::Debug for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Step")
            .field("base", &self.lock.base.reference)
            .field("base_layers", &self.base_layers.len())
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// `rtlock: apt (12 packages)`: the history line of an ecosystem's layer.
pub fn created_by(name: &str, packages: usize) -> String {
    let noun = if packages == 1 { "package" } else { "packages" };
    format!("rtlock: {name} ({packages} {noun})")
}
