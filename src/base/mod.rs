//! The base image, as every ecosystem needs it alike; below `apt`, `pip` and `r`.
//!
//! - [`pin`]: `[base]` → the digests a lock records (index → platform manifest →
//!   config), and the base's `created` time;
//! - [`view`]: the base's files, read in one pass over its layers, and the caches of
//!   what was read, by manifest digest, so a warm `lock` or `build` reads no layer;
//! - [`os`]: which OS and C library the image has; [`dpkg`]: its package database,
//!   which apt resolves against and which Python and R read for their versions;
//! - [`env`]: the image config's environment, as a container sees it.
//! - [`recorded`]: the files a package's own record (md5sums, RECORD, MD5) names.
//!
//! Each ecosystem reads its own facts from these in its `inventory.rs`. May import
//! `image`, `oci`, `fetch`, `deb822`, `manifest` and `lockfile`; never an ecosystem.

pub mod dpkg;
pub mod env;
pub mod os;
pub mod pin;
pub mod recorded;
pub mod step;
pub mod view;
