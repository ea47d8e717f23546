//! What a locked base holds, by ecosystem, as `why` and `diff` show it: its dpkg
//! packages, Python distributions and R packages, from the base facts this machine
//! keeps (by manifest digest), else read from its layers through its registry.

use std::path::Path;

use crate::lockfile::BaseLock;
use crate::oci::registry::Registry;
use crate::why::BasePackages;

pub async fn read(
    base: &BaseLock,
    registry: &Registry,
    cache_root: &Path,
) -> anyhow::Result<BasePackages> {
    let files = crate::lock::base_files::read_locked(base, registry, cache_root).await?;
    let status = crate::base::dpkg::status_text(&files.apt)?;
    // Only what dpkg calls installed: a removed package's config files are not a package.
    let apt = crate::base::dpkg::parse_packages(&status)
        .into_iter()
        .filter(|p| p.status == "installed")
        .map(|p| (p.name, p.version))
        .collect();
    let r = files
        .r
        .r
        .map(|r| {
            r.packages
                .into_iter()
                .map(|p| (p.name, p.version))
                .collect()
        })
        .unwrap_or_default();
    Ok(BasePackages {
        apt,
        pip: files.python.distributions,
        r,
    })
}
