//! Helpers shared by the integration tests: the test bed of real services started by
//! `scripts/test` (registries, Docker Engine, base images) and a static file server.
#![allow(dead_code)]

pub mod apt_repo;
pub mod cli;
pub mod cran;
pub mod pip_index;
pub mod sbom_tools;
pub mod server;
pub mod testbed;
pub mod uv;
