//! The apt part of a lock: what `apt-get install` of the manifest's `[apt] packages`
//! would install or upgrade on the base image, pinned as `[[apt]]` entries.
//!
//! ```text
//! base RootFs ─┬─ sources (or the manifest's), keyrings, preferences, dpkg status, arch
//!              └─▶ fetch + verify each suite ─▶ candidates with pin priorities
//!                   ─▶ apt::resolve ─▶ [[apt]] (url = source URI + Filename, sha256, size)
//! ```
//!
//! Pins are kept like Cargo.lock keeps them: a version locked before gets a priority
//! above the archives' (see [`PRIORITY_LOCKED`]) unless `lock --update` names its
//! package, so a new request or a mirror update does not move what was locked.

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt};
use url::Url;

use crate::apt::index::{self, IndexError, IndexOptions, Repository, SourceError, sources};
use crate::apt::resolve::pins::{ImagePinsError, PinSource, Preferences};
use crate::apt::resolve::{
    Candidate, ResolveError, ResolveOptions, default_priority, parse_status, resolve,
};
use crate::fetch::Fetcher;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};
use crate::lockfile::{AptPackage, VersionError};
use crate::manifest::AptSpec;

/// The priority of a version the previous lock chose: above the archives (500) and the
/// installed version (100), below apt's "even if it downgrades" (1000), so a locked
/// version is kept while it is available and never forced over a newer base.
pub const PRIORITY_LOCKED: i32 = 990;

/// Suites fetched at once.
const PARALLEL_SUITES: usize = 4;

const DPKG_STATUS: &str = crate::base::dpkg::DPKG_STATUS;
const DPKG_ARCH: &str = "var/lib/dpkg/arch";

/// The name of the cached copy of [`wanted`]'s files of a base (see
/// [`crate::base::view`]). Bump when [`wanted`] changes: a cached copy then holds the
/// wrong set of files.
pub const BASE_FILES: &str = "v1";

/// The paths of the base that the apt lock reads: dpkg's status and architectures,
/// apt's configuration (sources, preferences, trusted keys), and the keyrings.
pub fn wanted(path: &str) -> bool {
    path == DPKG_STATUS
        || path == DPKG_ARCH
        || path.starts_with("etc/apt/")
        || path.starts_with("usr/share/keyrings/")
}

/// The [`RootFs::read`] predicate for [`wanted`] paths.
pub fn keep(path: &str, _size: u64) -> Option<Keep> {
    wanted(path).then_some(Keep::Whole)
}

/// Why the apt part of a lock could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AptLockError {
    #[error("cannot read the base image's apt configuration")]
    Image(#[from] ImageError),
    #[error("bad apt source")]
    Source(#[from] SourceError),
    #[error("bad apt preferences in the base image")]
    Pins(#[from] ImagePinsError),
    #[error(
        "the base image has no apt sources (/etc/apt/sources.list, sources.list.d/)\n\
         help: name them in the manifest: [apt] sources = [\"deb URI SUITE COMPONENT\"]"
    )]
    NoSources,
    #[error(
        "the base image has no dpkg database ({DPKG_STATUS}): apt packages need a Debian-based image"
    )]
    NoStatus,
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot resolve [apt] packages")]
    Resolve(#[from] ResolveError),
    /// The index's version of a chosen package breaks dpkg's syntax, which the lock
    /// holds its versions to (the resolver reads versions more leniently).
    #[error(
        "{package} from {url} cannot be locked: {reason}\n\
         help: its repository's index does not follow Debian's conventions; leave that \
         repository out (`[apt] exclude-sources`) or report it"
    )]
    Version {
        package: String,
        url: String,
        reason: String,
    },
}

/// What the apt resolution needs besides the base image.
#[derive(Debug, Clone)]
pub struct AptInputs<'a> {
    pub spec: &'a AptSpec,
    /// dpkg's name of the platform's architecture (`amd64`, `arm64`).
    pub native_arch: &'a str,
    /// The previous lock's entries to keep (those `--update` did not name).
    pub keep: &'a [AptPackage],
}

/// dpkg's architecture name for an OCI one.
pub fn dpkg_arch(oci_arch: &str, variant: Option<&str>) -> String {
    match (oci_arch, variant) {
        ("arm", Some("v7")) | ("arm", None) => "armhf".to_string(),
        ("arm", Some(_)) => "armel".to_string(),
        ("386", _) => "i386".to_string(),
        (other, _) => other.to_string(),
    }
}

/// The `[[apt]]` entries for `inputs` on the base image `rootfs`, sorted as the lock
/// writes them.
pub async fn lock_apt(
    rootfs: &RootFs,
    fetcher: &Fetcher,
    inputs: &AptInputs<'_>,
) -> Result<Vec<AptPackage>, AptLockError> {
    if inputs.spec.packages.is_empty() {
        return Ok(Vec::new());
    }
    let configured = match &inputs.spec.sources {
        Some(lines) => sources::from_manifest(lines)?,
        None => sources::from_image(rootfs).map_err(|e| match e {
            sources::ImageSourcesError::Image(e) => AptLockError::Image(e),
            sources::ImageSourcesError::Source(e) => AptLockError::Source(e),
        })?,
    };
    if configured.is_empty() {
        return Err(AptLockError::NoSources);
    }
    let status = rootfs
        .read_file(DPKG_STATUS)?
        .ok_or(AptLockError::NoStatus)?;
    let status = String::from_utf8_lossy(&status).into_owned();
    let architectures = architectures(rootfs, inputs.native_arch)?;
    let preferences = Preferences::from_image(rootfs)?;

    let started = std::time::Instant::now();
    let options = IndexOptions::new(&architectures.iter().map(String::as_str).collect::<Vec<_>>());
    let repositories: Vec<Repository> =
        futures_util::stream::iter(configured.iter().map(|source| {
            let options = &options;
            async move { index::fetch_repository(fetcher, source, rootfs, options).await }
        }))
        .buffered(PARALLEL_SUITES)
        .try_collect()
        .await?;
    tracing::debug!(
        "apt: {} suites fetched in {:?}",
        repositories.len(),
        started.elapsed()
    );

    let started = std::time::Instant::now();
    let resolved = resolve_on(&repositories, &status, &preferences, inputs)?;
    tracing::debug!("apt: resolved in {:?}", started.elapsed());
    Ok(resolved)
}

/// The base's architectures: the native one, then dpkg's foreign ones.
fn architectures(rootfs: &RootFs, native: &str) -> Result<Vec<String>, ImageError> {
    let mut out = vec![native.to_string()];
    if let Some(bytes) = rootfs.read_file(DPKG_ARCH)? {
        for arch in String::from_utf8_lossy(&bytes).split_whitespace() {
            if !out.iter().any(|a| a == arch) {
                out.push(arch.to_string());
            }
        }
    }
    Ok(out)
}

/// Resolution over fetched suites (no I/O): the part `lock_apt` and the tests share.
pub fn resolve_on(
    repositories: &[Repository],
    status: &str,
    preferences: &Preferences,
    inputs: &AptInputs<'_>,
) -> Result<Vec<AptPackage>, AptLockError> {
    let kept: HashMap<(&str, &str), &str> = inputs
        .keep
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), p.version.as_str()))
        .collect();

    let mut universe = Vec::new();
    for repository in repositories {
        let default = default_priority(&repository.release);
        let host = Url::parse(&repository.source.uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        for packages in &repository.packages {
            let source = PinSource {
                release: &repository.release,
                component: &packages.component,
                architecture: &packages.architecture,
                host: &host,
            };
            for record in packages.records()? {
                let mut priority =
                    preferences.priority(record.package, record.version, &source, default);
                // The lock writes `all` for Architecture: all, as the record does.
                if !kept.is_empty()
                    && kept.get(&(record.package, record.architecture)) == Some(&record.version)
                {
                    priority = priority.max(PRIORITY_LOCKED);
                }
                universe.push(Candidate { record, priority });
            }
        }
    }

    tracing::debug!("apt: {} candidates", universe.len());
    let started = std::time::Instant::now();
    let installed = parse_status(status);
    let mut options = ResolveOptions::new(inputs.native_arch);
    options.install_recommends = inputs.spec.install_recommends;
    let resolution = resolve(&universe, &installed, &inputs.spec.packages, &options)?;
    tracing::debug!("apt: solved in {:?}", started.elapsed());

    let mut entries: Vec<AptPackage> = resolution
        .packages
        .iter()
        .map(|planned| {
            let record = &planned.record;
            let root = archive_root(repositories, record.stanza);
            let url = file_url(root, record.filename);
            let version =
                record
                    .version
                    .parse()
                    .map_err(|e: VersionError| AptLockError::Version {
                        package: record.package.to_string(),
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
            Ok(AptPackage {
                name: record.package.to_string(),
                version,
                arch: planned.arch.clone(),
                url,
                filename: record.filename.to_string(),
                sha256: record.sha256.to_string(),
                size: record.size,
                requested: planned.requested,
                requires: planned.requires.clone(),
            })
        })
        .collect::<Result<_, AptLockError>>()?;
    entries.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    Ok(entries)
}

/// The archive root of the suite whose index text holds `stanza` (records borrow from
/// it, so the address says where a record came from, with no map to build).
fn archive_root<'r>(repositories: &'r [Repository], stanza: &str) -> &'r str {
    let at = stanza.as_ptr() as usize;
    repositories
        .iter()
        .find(|r| {
            r.packages.iter().any(|p| {
                let start = p.text.as_ptr() as usize;
                (start..start + p.text.len()).contains(&at)
            })
        })
        .map_or("", |r| r.source.uri.as_str())
}

/// `root` + `filename`, without credentials: a lock is committed and shared, so a
/// `user:password@` in a source URI stays out of it (apt keeps them in auth.conf too).
fn file_url(root: &str, filename: &str) -> String {
    let joined = format!("{root}{}", filename.trim_start_matches("./"));
    match Url::parse(&joined) {
        Ok(url) => crate::fetch::redact(&url),
        Err(_) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_the_archive_root_and_drop_credentials() {
        assert_eq!(
            file_url(
                "http://m.test/debian/",
                "pool/main/h/hello/hello_1_amd64.deb"
            ),
            "http://m.test/debian/pool/main/h/hello/hello_1_amd64.deb"
        );
        assert_eq!(
            file_url("https://u:secret@m.test/repo/", "./hello_1_amd64.deb"),
            "https://m.test/repo/hello_1_amd64.deb"
        );
    }

    #[test]
    fn dpkg_names_of_oci_architectures() {
        assert_eq!(dpkg_arch("amd64", None), "amd64");
        assert_eq!(dpkg_arch("arm64", Some("v8")), "arm64");
        assert_eq!(dpkg_arch("arm", Some("v7")), "armhf");
        assert_eq!(dpkg_arch("386", None), "i386");
    }
}
