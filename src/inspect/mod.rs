//! `inspect`: what an image holds, read from its files: the OS, and each ecosystem's
//! inventory ([`inventory`]), for `rtlock inspect` (and, later, `audit` and SBOMs).
//!
//! Orchestration above the ecosystems: may import their `inventory.rs`, `base`, `image`,
//! `oci` and `progress`.

pub mod inventory;
pub mod report;
