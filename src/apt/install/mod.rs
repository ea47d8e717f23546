//! apt's install face: the lock's verified `.deb` files into one reproducible layer on
//! top of the base image, with the dpkg database that records them.
//!
//! [`deb`] reads a package in one streaming pass ([`layer::check_identity`] refuses one
//! whose control file is another package, version or architecture than its entry);
//! [`layer`] places its entries on the base (merged-/usr, path safety, upgrades) and
//! writes dpkg's `status` and `info/` ([`status`]). Maintainer scripts are not run
//! here: packages that have them are left `unpacked`, as `dpkg --unpack` leaves them,
//! and listed for a later configure step.

pub mod deb;
mod error;
pub mod layer;
pub mod status;

pub use error::InstallError;
pub use layer::{
    AptLayer, BASE_VIEW, PackageDeb, ReadDebs, base_keep, make_layer, make_layer_from, read_debs,
};
