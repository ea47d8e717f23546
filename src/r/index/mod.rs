//! CRAN-like repositories: `src/contrib/PACKAGES` and the tarballs it lists. Not yet
//! written: R packages cannot be locked by this version of rtlock.
