//! The keys of the OCI image spec's pre-defined annotations that rtlock reads or writes
//! (as manifest and index annotations, and as image-config labels).

/// The tag of a manifest in an image layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// When the image was made: the lock's source-date-epoch.
pub const CREATED: &str = "org.opencontainers.image.created";
/// The manifest digest of the image this one extends.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// The reference of the image this one extends.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
