//! The R part of a lock: `[r]` of the manifest and the base's R → `[[r]]` entries. Not
//! yet written: `rtlock lock` refuses a manifest with `[r]` packages.
