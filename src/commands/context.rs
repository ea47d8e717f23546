//! What every command that touches the network needs, built once from the global flags:
//! the async runtime, the fetcher (HTTP client + cache) and the registry client; and
//! the environment variables behind those flags, read the way cargo reads its own: an
//! empty value is unset, a boolean is `1`/`true`/`yes` or `0`/`false`/`no`, and an error
//! names the variable.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::cli::GlobalArgs;
use crate::fetch::{FetchSettings, Fetcher, default_cache_dir};
use crate::oci::registry::{Registry, RegistryOptions};
use crate::progress::Progress;

/// Registries (host[:port], space-separated) that may be reached over plain HTTP besides
/// loopback ones, which always may.
pub(crate) const INSECURE_REGISTRIES_ENV: &str = "RTLOCK_INSECURE_REGISTRIES";

/// `--offline` from the environment.
pub(crate) const OFFLINE_ENV: &str = "RTLOCK_OFFLINE";

/// `--cache-dir` from the environment.
pub(crate) const CACHE_DIR_ENV: &str = "RTLOCK_CACHE_DIR";

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}

pub fn fetcher(global: &GlobalArgs) -> anyhow::Result<Fetcher> {
    let cache_dir = cache_dir(global)?;
    Ok(Fetcher::new(FetchSettings {
        offline: offline(global)?,
        progress: Progress::for_stderr(global.quiet),
        ..FetchSettings::new(&cache_dir)
    })?)
}

/// `--offline`, else `RTLOCK_OFFLINE`.
pub fn offline(global: &GlobalArgs) -> anyhow::Result<bool> {
    Ok(global.offline || env_bool(OFFLINE_ENV)?.unwrap_or(false))
}

/// `--cache-dir`, else `RTLOCK_CACHE_DIR`, else the default; created here, so that a
/// directory that cannot be made is reported with where its name came from.
pub fn cache_dir(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    let (dir, from) = match (&global.cache_dir, env_value(CACHE_DIR_ENV)) {
        (Some(dir), _) => (dir.clone(), "--cache-dir"),
        (None, Some(dir)) => (PathBuf::from(dir), CACHE_DIR_ENV),
        (None, None) => (default_cache_dir(), "the default cache location"),
    };
    std::fs::create_dir_all(&dir).with_context(|| {
        format!(
            "cannot create the cache directory {} (from {from})",
            dir.display()
        )
    })?;
    Ok(dir)
}

/// The value of `name`, `None` when it is unset or empty.
pub fn env_value(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// A boolean environment variable: `None` when unset or empty.
pub(crate) fn env_bool(name: &str) -> anyhow::Result<Option<bool>> {
    let Some(value) = env_value(name) else {
        return Ok(None);
    };
    match parse_bool(&value.to_string_lossy()) {
        Some(b) => Ok(Some(b)),
        None => bail!(
            "invalid value `{}` for the environment variable {name}\n\
             help: use 1, true or yes to turn it on; 0, false or no (or leave it empty) to turn it off",
            value.to_string_lossy()
        ),
    }
}

/// `1`, `true`, `yes` and `0`, `false`, `no`, in any case.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn booleans_read_as_cargo_reads_them() {
        for (text, expected) in [
            ("1", Some(true)),
            ("true", Some(true)),
            ("YES", Some(true)),
            ("0", Some(false)),
            ("False", Some(false)),
            ("no", Some(false)),
            ("2", None),
            ("on", None),
        ] {
            assert_eq!(super::parse_bool(text), expected, "{text}");
        }
    }
}
