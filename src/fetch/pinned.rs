//! Fetching what a lock pins (a `.deb`, a wheel): from the URL the lock names, else from
//! each `--mirror`, where the same file sits at its path relative to the mirror root.
//! The sha256 decides what is accepted, never the source.

use std::path::PathBuf;

use url::Url;

use crate::fetch::{Fetcher, error_chain};

/// One pinned file of a lock.
#[derive(Debug, Clone, Copy)]
pub struct PinnedFile<'a> {
    /// How messages name it (`libpq5`, `pandas`).
    pub name: &'a str,
    pub url: &'a str,
    /// Its path under a mirror's root (`pool/main/…/x.deb`, or a wheel's file name).
    pub relative: &'a str,
    pub sha256: &'a str,
    pub size: u64,
}

/// The verified file in the cache, or why every source failed (one line each).
pub async fn fetch_pinned(
    fetcher: &Fetcher,
    file: PinnedFile<'_>,
    mirrors: &[Url],
) -> Result<PathBuf, Vec<String>> {
    let mut candidates = Vec::new();
    match Url::parse(file.url) {
        Ok(url) => candidates.push(url),
        Err(e) => tracing::warn!(
            "{}: the lock's url `{}` is not a URL ({e})",
            file.name,
            file.url
        ),
    }
    let relative = file.relative.trim_start_matches('/');
    for mirror in mirrors {
        let mut base = mirror.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        if let Ok(url) = base.join(relative) {
            candidates.push(url);
        }
    }
    let mut failures = Vec::new();
    for url in &candidates {
        match fetcher
            .fetch_verified(url, file.sha256, Some(file.size))
            .await
        {
            Ok(blob) => return Ok(blob.path),
            Err(e) => {
                tracing::debug!("{}: {}", file.name, error_chain(&e));
                failures.push(error_chain(&e));
            }
        }
    }
    Err(failures)
}
