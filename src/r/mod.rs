//! R packages. Requirements and versions now; index, resolve, install and inventory as
//! they land.

pub mod requirement;
