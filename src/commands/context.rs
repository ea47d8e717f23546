//! What every command that touches the network needs, built once from the global flags:
//! the async runtime, the fetcher (HTTP client + cache) and the registry client.

use anyhow::Context as _;

use crate::cli::GlobalArgs;
use crate::fetch::{FetchSettings, Fetcher, default_cache_dir};
use crate::oci::registry::{Registry, RegistryOptions};
use crate::progress::Progress;

/// Registries (host[:port], space-separated) that may be reached over plain HTTP besides
/// loopback ones, which always may.
pub const INSECURE_REGISTRIES_ENV: &str = "RTLOCK_INSECURE_REGISTRIES";

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}

pub fn fetcher(global: &GlobalArgs) -> anyhow::Result<Fetcher> {
    let cache_dir = global.cache_dir.clone().unwrap_or_else(default_cache_dir);
    Ok(Fetcher::new(FetchSettings {
        offline: global.offline,
        progress: Progress::for_stderr(global.quiet),
        ..FetchSettings::new(&cache_dir)
    })?)
}

pub fn registry(fetcher: &Fetcher) -> anyhow::Result<Registry> {
    let insecure = std::env::var(INSECURE_REGISTRIES_ENV)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Ok(Registry::new(
        fetcher,
        RegistryOptions {
            insecure,
            docker_config_dir: None,
        },
    )?)
}
