//! R packages, with the same faces as `apt` and `pip`:
//! - [`requirement`]: R package names, versions and requirements (`pkg (>= 1.2)`);
//! - [`index`]: CRAN-like repositories (`src/contrib/PACKAGES`): fetch and parse;
//! - [`resolve`]: the solver;
//! - [`lock`]: `[r]` of the manifest + the base's R → `[[r]]` lock entries;
//! - [`layer`]: `[[r]]` entries → the R layer of an image;
//! - [`inventory`]: an image's files → its R installations and their packages;
//! - [`tarball`]: a package tarball's DESCRIPTION, shared objects and checked entries.
//!
//! Today only [`requirement`] and [`inventory`] are filled in; the others wait for R
//! resolution. May import what lies below the ecosystems, never `apt` or `pip`.

pub mod index;
pub mod inventory;
pub mod layer;
pub mod lock;
pub mod requirement;
pub mod resolve;
pub mod tarball;
