//! `inspect`: what an image holds, read from its files: the OS, and each ecosystem's
//! inventory ([`inventory`]), for `rtlock inspect` (and, later, `audit` and SBOMs).

pub mod inventory;
pub mod report;
