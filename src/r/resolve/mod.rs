//! The R solver: `[r]` requirements against the repositories and the base's installed
//! packages. Not yet written: R packages cannot be locked by this version of rtlock.
