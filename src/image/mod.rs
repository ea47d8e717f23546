//! Image sources and reading an image's filesystem.
//!
//! - [`source`]: the transport names (`oci:`, `oci-archive:`, `docker-archive:`,
//!   `docker://`, `docker-daemon:`) parsed into an [`ImageSource`].
//! - [`open`]: an [`ImageSource`] opened to an [`OpenedImage`]: its manifest (when it has
//!   one), config, and layers as [`LayerBlob`]s on local disk (a layout, an archive read
//!   in place, or the fetch cache). `open` only dispatches; the plain types it returns
//!   live in [`opened`], which [`layout`] and the registry reader build without
//!   importing `open`.
//! - [`layer`]: a layer as a decompressed tar stream whose digests are checked as it is
//!   read.
//! - [`rootfs`]: the layers merged into the image's final filesystem (whiteouts, opaque
//!   directories, hard links) as a path index, with symlinks resolved inside the image
//!   root only, and the contents of the files a caller asked for.
//!
//! Nothing here extracts an image to disk or holds a layer in memory: reading is one
//! streaming pass per layer.

use std::io;

use crate::docker::export::ExportError;
use crate::oci::reference::ReferenceError;
use crate::oci::registry::RegistryError;
use crate::oci::registry::image::RemoteImageError;
use crate::task::TaskFailed;

pub mod layer;
pub mod layout;
pub mod open;
pub mod opened;
mod registry;
pub mod rootfs;
pub mod source;
pub mod store;
pub mod view;

pub use layer::LayerBlob;
pub use open::open;
pub use opened::{OpenOptions, OpenedImage};
pub use rootfs::RootFs;
pub use source::ImageSource;

/// What went wrong reading an image. Messages name the image part (layer digest, entry
/// path) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Source(#[from] source::SourceError),

    /// Reading a local file failed.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },

    /// A layout or archive that does not hold what an image needs.
    #[error("{0}")]
    Layout(String),

    /// A layer that cannot be read or does not verify, or holds an entry rtlock refuses.
    #[error("layer {layer}{}: {problem}", entry.as_ref().map(|e| format!(", entry `{e}`")).unwrap_or_default())]
    Layer {
        layer: String,
        entry: Option<String>,
        problem: String,
    },

    /// A `docker://` reference that does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    /// The registry failed for a `docker://` image.
    #[error("cannot read {reference} from its registry")]
    Registry {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },

    /// What the registry serves for `reference` is not an image rtlock reads (no image
    /// for the platform, a document that does not parse). The source's message is said
    /// of the reference (`has no image for linux/arm64 …`), so it follows it here; a
    /// report of the chain says it once.
    #[error("{reference} {source}")]
    RemoteImage {
        reference: String,
        #[source]
        source: Box<RemoteImageError>,
    },

    /// The Docker Engine could not give a `docker-daemon:` image or a `container:`.
    #[error("cannot export {image} from the Docker Engine")]
    Engine {
        image: String,
        #[source]
        source: Box<ExportError>,
    },

    /// A `docker://` source opened without a registry client.
    #[error("reading {image} needs a registry client (a bug in rtlock)")]
    NoRegistryClient { image: String },

    /// A worker reading the layers panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] TaskFailed),
}

impl ImageError {
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        ImageError::Io {
            what: what.into(),
            source,
        }
    }
}
