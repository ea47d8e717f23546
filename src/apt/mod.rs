//! apt: Debian packages, everything rtlock knows about them in one place.
//!
//! The faces every ecosystem has:
//! - [`index`]: apt sources, Release/InRelease (signed), Packages: fetch and parse;
//! - [`relation`]: Debian versions and relations (`Depends: a (>= 1) | b`);
//! - [`resolve`]: the solver, `apt-get install` on the base image as the oracle;
//! - [`lock`]: `[apt]` of the manifest + the base's files → `[[apt]]` lock entries;
//! - [`layer`]: `[[apt]]` entries → the apt layers of an image, through [`install`]
//!   (unpacking `.deb` files onto the base) and [`configure`] (maintainer scripts in a
//!   container of the Docker Engine);
//! - [`inventory`]: an image's files → what dpkg and apt say is there (for `inspect`).
//!
//! May import what lies below the ecosystems (`base`, `deb822`, `fetch`, `image`, `oci`,
//! `docker`, `manifest`, `lockfile`), never `pip` or `r`, nor the orchestrators above.

pub mod configure;
pub mod index;
pub mod install;
pub mod inventory;
pub mod layer;
pub mod lock;
pub mod relation;
pub mod resolve;
