//! OCI images: references, transports (one grammar for sources and destinations), digests, manifest/index/config types with canonical JSON, the
//! registry client, image layouts and archives, reading an image's filesystem, and the
//! deterministic layer writer.

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
