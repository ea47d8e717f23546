//! The R layer of an image, from `[[r]]` entries. Not yet written: `rtlock build`
//! refuses a lock with `[[r]]` packages.
