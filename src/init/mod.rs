//! `rtlock init`: a commented `runtime.toml` to start from — drafted from a base image's
//! inventory ([`from_base`]), or converted from the Dockerfile a team has today
//! ([`convert`], which lists what a manifest cannot say, with line numbers).
//!
//! Above the ecosystems, beside `lock`: reads `inspect`'s inventory and the manifest's
//! `[runtime]` names; writes nothing itself (the command does, atomically).

pub mod convert;
pub mod dockerfile;
pub mod draft;
pub mod from_base;
pub mod shell;

pub use convert::{ConvertError, Converted, Left, convert};
pub use draft::Draft;

#[cfg(test)]
mod tests;
