//! apt: Debian packages. Relations and versions now; index, resolve, install and
//! inventory as they land.

pub mod configure;
pub mod index;
pub mod install;
pub mod relation;
pub mod resolve;
