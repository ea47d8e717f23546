//! OCI images: references, transports (one grammar for sources and destinations),
//! digests, manifest/index/config types with canonical JSON, the registry client (and
//! its one walk from a reference to a platform's manifest and config), image layouts and
//! archives, and the deterministic layer writer.
//!
//! Below everything but `fetch` and the small shared modules: may import `fetch`,
//! `atomic_file`, `diagnostic` and `progress`.

pub mod annotation;
pub mod canonical_json;
pub mod digest;
pub mod layer;
pub mod media_type;
pub mod output;
pub mod reference;
pub mod registry;
pub mod transport;
pub mod types;

pub use digest::Digest;
