//! Resolution: from a manifest and the base image it extends to the contents of a lock.
//! Each part (the base, and later apt, pip and R) resolves on its own; `lock` assembles
//! them into a [`crate::lockfile::Lockfile`].

pub mod apt;
pub mod base;
pub mod base_files;
pub mod base_python;
pub mod lock;
pub mod pip;
