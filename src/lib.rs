//! rtlock: lock apt, pip and R packages against the base image they extend, and build
//! images from that lock whose digest is the same on every machine and every run.
//!
//! The modules follow the pipeline (see DESIGN.md and the README's Layout), bottom to
//! top: fetch, oci, docker, image → manifest, lockfile → base → the ecosystems apt, pip,
//! r → lock, build, inspect, diff, why, export → commands.

pub mod apt;
pub mod atomic_file;
pub mod audit;
pub mod base;
pub mod build;
pub mod cli;
pub mod commands;
pub mod deb822;
pub mod diagnostic;
pub mod diff;
pub mod docker;
pub mod elf;
pub mod export;
pub mod fetch;
pub mod image;
pub mod init;
pub mod inspect;
pub mod lock;
pub mod lockfile;
pub mod manifest;
pub mod oci;
pub mod pip;
pub mod progress;
pub mod r;
pub mod sbom;
pub mod task;
pub mod why;
