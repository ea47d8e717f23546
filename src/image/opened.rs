//! What opening an image gives, whatever its transport: the plain types [`super::open`]
//! returns and the transports' readers ([`super::layout`], the registry reader) build.
//! A leaf: it imports none of them, so they need not import each other.

use std::any::Any;
use std::fmt;

use super::layer::LayerBlob;
use crate::oci::Digest;
use crate::oci::types::{ImageConfig, ImageManifest};

/// Which image of a multi-platform index to read: the same type `[base] platform` is.
pub use crate::oci::types::Platform;

/// How to open an image.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Which image of a multi-platform index to read.
    pub platform: Platform,
    /// The registry client for `docker://` sources (required for them only); its
    /// fetcher's cache keeps the downloaded blobs.
    pub registry: Option<crate::oci::registry::Registry>,
}

/// An image ready to be read: its documents, and its layers bottom first.
pub struct OpenedImage {
    /// The image manifest; `None` for docker archives and the Docker Engine, which
    /// have none (the config digest is their identity, Docker's "image ID"), and for
    /// containers (whose `config_digest` is their image's ID, and whose one layer is
    /// the container's whole filesystem as `docker export` gives it).
    pub manifest: Option<ImageManifest>,
    pub manifest_digest: Option<Digest>,
    pub config: ImageConfig,
    pub config_digest: Digest,
    pub layers: Vec<LayerBlob>,
    /// Whatever must live as long as the layers are read (an archive's decompressed
    /// copy, an exported temporary archive).
    pub keep_alive: Vec<Box<dyn Any + Send + Sync>>,
}

impl fmt::Debug for OpenedImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedImage")
            .field("manifest_digest", &self.manifest_digest)
            .field("config_digest", &self.config_digest)
            .field("layers", &self.layers)
            .finish_non_exhaustive()
    }
}
