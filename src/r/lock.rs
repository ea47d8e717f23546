//! `[r]` → `[[r]]`: the manifest's R packages resolved as `install.packages` would on the
//! base image's own R (its version, platform and library), against the repositories the
//! manifest or the base's `Rprofile.site` names.
//!
//! Every tarball is downloaded here: PACKAGES lists only an MD5, so the sha256 the lock
//! pins must be computed, and only the tarball says whether it is a binary (a `Built:`
//! field in its DESCRIPTION) and which shared libraries its compiled code needs. The
//! sonames the base lacks are returned for the apt lock, which adds the Debian packages
//! that ship them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use url::Url;

use super::index::{self, Available, RIndexError, RepoOptions, parse_description};
use super::inventory::base::{BaseR, BaseRInstall};
use super::requirement::{ROp, RVersion};
use super::resolve::{self, Installed, RResolveError, Request};
use super::tarball::{self, TarballError};
use crate::fetch::header::{HeaderMap, HeaderValue, USER_AGENT};
use crate::fetch::{Blob, FetchError, Fetcher};
use crate::lockfile::{RKind, RPackage};
use crate::manifest::RSpec;

#[derive(Debug, thiserror::Error)]
pub enum RLockError {
    #[error(
        "the base image has no R for [r] packages to be installed into (looked for R_HOME \
         in /usr/lib/R, /usr/local/lib/R, /opt/R/*/lib/R)\n\
         help: extend an image that has R: R's version, libraries and repositories are read \
         from the base itself, so r-base-core in this manifest's [apt] packages is not enough"
    )]
    NoR,
    #[error(
        "the base image's R has no site library to install into (.libPaths() is {})\n\
         help: extend an image whose R has a site library (Debian: /usr/local/lib/R/site-library)",
        paths.join(", ")
    )]
    NoLibrary { paths: Vec<String> },
    #[error("{}", no_repos(rprofile))]
    NoRepos { rprofile: Option<String> },
    #[error(
        "{path}:{line}: cannot read the `repos` option statically: `{statement}`\nhelp: set [r] repos in the manifest"
    )]
    Rprofile {
        path: String,
        line: usize,
        statement: String,
    },
    #[error("the base image's R version `{version}` is not a version R would write")]
    BaseVersion { version: String },
    #[error(transparent)]
    Index(#[from] RIndexError),
    /// A repository the manifest did not name: the user must learn where it came from
    /// (Debian's Rprofile.site names a public mirror, unreachable on a closed network).
    #[error(
        "cannot read the R repository {repo}, which the base image's {path} names \
         (the manifest sets no [r] repos)\n\
         help: set [r] repos in the manifest to a CRAN-like repository this machine can reach"
    )]
    RprofileRepository {
        repo: String,
        path: String,
        #[source]
        source: RIndexError,
    },
    // The large sources are boxed (clippy's `result_large_err`): most results are `Ok`.
    #[error("cannot resolve [r] packages (repositories: {repos}, from {from})")]
    Resolve {
        repos: String,
        from: String,
        #[source]
        source: Box<RResolveError>,
    },
    #[error("{package}: cannot download {url}")]
    Download {
        package: String,
        url: String,
        #[source]
        source: Box<FetchError>,
    },
    #[error(
        "{package}: {url} has MD5 {actual}, but the repository's PACKAGES says {expected}; \
         the tarball is not what the index names, and nothing was written\n\
         help: the file changed after PACKAGES was written, or was damaged on the way: tell \
         the repository's maintainer, or lock from another repository in [r] repos"
    )]
    Md5Mismatch {
        package: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{package}: cannot read the tarball {url}")]
    Tarball {
        package: String,
        url: String,
        #[source]
        source: TarballError,
    },
    #[error(
        "{package}: the tarball {url} holds {found}, not {package} {version} as the index says; \
         the repository is inconsistent, and nothing was written"
    )]
    NotWhatIndexSays {
        package: String,
        version: String,
        url: String,
        found: String,
    },
    #[error(transparent)]
    BuiltFor(Box<BuiltFor>),
}

/// A binary tarball built for another R or platform than the base's.
#[derive(Debug, thiserror::Error)]
#[error(
    "{package} {version} at {url} is a binary built for R {built_r} on {built_platform}, \
     but the base image has R {base_r} on {base_platform}\n\
     help: use a repository with binaries for this R (or a source repository), \
     or a base with R {built_r}"
)]
pub struct BuiltFor {
    pub package: String,
    pub version: String,
    pub url: String,
    pub built_r: String,
    pub built_platform: String,
    pub base_r: String,
    pub base_platform: String,
}

fn no_repos(rprofile: &Option<String>) -> String {
    let looked = match rprofile {
        Some(path) => format!("{path} sets no repos option"),
        None => "the base image has no Rprofile.site".to_string(),
    };
    format!(
        "no R repository to resolve [r] packages from: the manifest sets no [r] repos and {looked}\n\
         help: set [r] repos = [\"http://…\"] (a CRAN-like repository with src/contrib/PACKAGES)"
    )
}

/// What the R resolution needs besides the base image.
#[derive(Debug, Clone)]
pub struct RInputs<'a> {
    pub spec: &'a RSpec,
    pub as_of: Option<jiff::Timestamp>,
    /// The previous lock's entries to keep (those `--update` did not name).
    pub keep: &'a [RPackage],
}

/// A shared library that locked binary packages need and the base does not provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededSoname {
    pub soname: String,
    /// `r:sf`, sorted.
    pub needed_by: Vec<String>,
}

/// The `[[r]]` entries and the shared libraries they need of apt.
#[derive(Debug, Clone, Default)]
pub struct RLocked {
    pub entries: Vec<RPackage>,
    pub sonames: Vec<NeededSoname>,
    /// Said to the user, not fatal (an `as-of` no repository can honour).
    pub warnings: Vec<String>,
}

/// The `[[r]]` entries for `inputs` on the base image's R, sorted by name.
pub async fn lock_r(
    base: &BaseR,
    fetcher: &Fetcher,
    inputs: &RInputs<'_>,
) -> Result<RLocked, RLockError> {
    if inputs.spec.packages.is_empty() {
        return Ok(RLocked::default());
    }
    let r = base.r.as_ref().ok_or(RLockError::NoR)?;
    if r.library_paths.is_empty() {
        return Err(RLockError::NoLibrary {
            paths: r.library_paths.clone(),
        });
    }
    let r_version: RVersion = r.version.parse().map_err(|_| RLockError::BaseVersion {
        version: r.version.clone(),
    })?;
    let platform = r.platform.clone().unwrap_or_default();
    let user_agent = index::user_agent(&r.version, &platform);
    let (repos, from) = repositories(inputs.spec, r)?;
    let mut warnings = Vec::new();
    if let Some(as_of) = inputs.as_of
        && !repos.iter().any(index::is_dated)
    {
        warnings.push(format!(
            "[lock] as-of = {as_of} cannot apply to R: no repository is a dated snapshot \
             (a YYYY-MM-DD path component); the repositories are read as they stand"
        ));
    }
    let options = RepoOptions {
        as_of: inputs.as_of,
        user_agent: &user_agent,
    };
    let repos: Vec<Url> = repos
        .iter()
        .map(|repo| index::dated(repo, inputs.as_of))
        .collect();
    let fetched = futures_util::future::try_join_all(repos.iter().map(|repo| {
        let (options, from) = (&options, &from);
        async move {
            index::fetch_repository(fetcher, repo, options)
                .await
                .map_err(|source| match from {
                    RepoSource::Manifest => RLockError::Index(source),
                    RepoSource::Rprofile(path) => RLockError::RprofileRepository {
                        repo: crate::fetch::redact(repo),
                        path: path.clone(),
                        source,
                    },
                })
        }
    }))
    .await?;
    let mut candidates = index::merge(fetched);

    let headers = user_agent_headers(&user_agent);
    let pinned = kept_pins(fetcher, inputs.keep, &mut candidates).await?;
    archived_candidates(
        fetcher,
        &repos,
        &options,
        inputs.spec,
        &headers,
        &mut candidates,
    )
    .await?;

    let installed: Vec<Installed> = r
        .packages
        .iter()
        .filter_map(|p| {
            Some(Installed {
                name: p.name.clone(),
                version: p.version.parse().ok()?,
                priority: p.priority.clone(),
            })
        })
        .collect();
    let request = Request {
        requested: &inputs.spec.packages,
        candidates: &candidates,
        installed: &installed,
        allow_upgrade: &inputs.spec.allow_upgrade,
        suggests: inputs.spec.suggests,
        r_version: &r_version,
        pinned: &pinned,
    };
    let resolved = resolve::resolve(&request).map_err(|source| RLockError::Resolve {
        repos: repos
            .iter()
            .map(crate::fetch::redact)
            .collect::<Vec<_>>()
            .join(", "),
        from: from.to_string(),
        source: Box::new(source),
    })?;

    let downloads = futures_util::future::try_join_all(resolved.iter().map(|resolved| {
        let kept = inputs.keep.iter().find(|k| {
            k.name == resolved.package.name
                && k.version.parsed() == &resolved.package.version
                && k.url == crate::fetch::redact(&resolved.package.url)
        });
        download(fetcher, &resolved.package, kept, &headers)
    }))
    .await?;
    let cache_root = fetcher.cache().root();
    let all_facts = futures_util::future::try_join_all(
        resolved
            .iter()
            .zip(&downloads)
            .map(|(resolved, blob)| read_tarball(&resolved.package, blob, cache_root)),
    )
    .await?;

    let mut entries = Vec::with_capacity(resolved.len());
    let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut shipped: BTreeSet<String> = BTreeSet::new();
    let mut per_package: Vec<(String, Vec<String>)> = Vec::new();
    for ((resolved, blob), facts) in resolved.iter().zip(&downloads).zip(all_facts) {
        let package = &resolved.package;
        let kind = kind_of(package, &facts.description, r, &platform)?;
        if kind == RKind::Binary {
            for object in &facts.shared_objects {
                shipped.extend(object.soname.clone());
                if let Some(name) = object.path.rsplit('/').next() {
                    shipped.insert(name.to_string());
                }
            }
            let needed: Vec<String> = facts
                .shared_objects
                .iter()
                .flat_map(|o| o.needed.iter().cloned())
                .collect();
            per_package.push((package.name.clone(), needed));
        }
        entries.push(RPackage {
            name: package.name.clone(),
            version: crate::lockfile::RVersion::new(package.version.clone()),
            kind,
            url: crate::fetch::redact(&package.url),
            sha256: blob.sha256.clone(),
            size: blob.size,
            requested: resolved.requested,
            requires: resolved.requires.clone(),
        });
    }
    for (name, needed) in per_package {
        for soname in needed {
            if !base.sonames.contains(&soname) && !shipped.contains(&soname) {
                needs.entry(soname).or_default().insert(format!("r:{name}"));
            }
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(RLocked {
        entries,
        sonames: needs
            .into_iter()
            .map(|(soname, by)| NeededSoname {
                soname,
                needed_by: by.into_iter().collect(),
            })
            .collect(),
        warnings,
    })
}

/// Where the repositories come from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RepoSource {
    Manifest,
    /// The path of the base's `Rprofile.site`.
    Rprofile(String),
}

impl std::fmt::Display for RepoSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoSource::Manifest => f.write_str("[r] repos"),
            RepoSource::Rprofile(path) => write!(f, "the base image's {path}"),
        }
    }
}

/// The repositories to resolve against and where they came from: the manifest's, else
/// the `repos` option the base's `Rprofile.site` sets.
fn repositories(spec: &RSpec, r: &BaseRInstall) -> Result<(Vec<Url>, RepoSource), RLockError> {
    if let Some(repos) = &spec.repos {
        return Ok((repos.clone(), RepoSource::Manifest));
    }
    let Some((path, text)) = &r.rprofile_site else {
        return Err(RLockError::NoRepos { rprofile: None });
    };
    let repos = super::inventory::rprofile::repos(text).map_err(|e| RLockError::Rprofile {
        path: path.clone(),
        line: e.line,
        statement: e.statement,
    })?;
    // `@CRAN@` is R's placeholder for "ask the user which mirror": nothing to resolve.
    let urls: Vec<Url> = repos
        .iter()
        .filter(|repo| repo.url != "@CRAN@")
        .filter_map(|repo| Url::parse(&repo.url).ok())
        .collect();
    if urls.is_empty() {
        return Err(RLockError::NoRepos {
            rprofile: Some(path.clone()),
        });
    }
    Ok((urls, RepoSource::Rprofile(path.clone())))
}

fn user_agent_headers(user_agent: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(user_agent) {
        headers.insert(USER_AGENT, value);
    }
    headers
}

/// The versions the previous lock pins, as candidates: from the repositories' indexes
/// when they still list them, else read from the locked tarball itself (verified by
/// its sha256), so that a pin survives the repository moving on.
async fn kept_pins(
    fetcher: &Fetcher,
    keep: &[RPackage],
    candidates: &mut BTreeMap<String, Vec<Available>>,
) -> Result<BTreeMap<String, RVersion>, RLockError> {
    let mut pinned = BTreeMap::new();
    for kept in keep {
        let version = kept.version.parsed().clone();
        pinned.insert(kept.name.clone(), version.clone());
        let listed = candidates
            .get(&kept.name)
            .is_some_and(|c| c.iter().any(|a| a.version == version));
        if listed {
            continue;
        }
        let Ok(url) = Url::parse(&kept.url) else {
            continue;
        };
        let blob = fetcher
            .fetch_verified(&url, &kept.sha256, Some(kept.size))
            .await
            .map_err(|source| RLockError::Download {
                package: kept.name.clone(),
                url: kept.url.clone(),
                source: Box::new(source),
            })?;
        let repository = repository_of(&url);
        if let Some(available) =
            describe(&kept.name, &url, &blob, repository, fetcher.cache().root()).await?
        {
            candidates
                .entry(kept.name.clone())
                .or_default()
                .push(available);
        }
    }
    Ok(pinned)
}

/// For a requested version the indexes do not list (`data.table (== 1.14.8)`), the
/// repositories' archives (`src/contrib/Archive/NAME/`): the newest archived version
/// that satisfies the request, read from its tarball (an archive has no index).
async fn archived_candidates(
    fetcher: &Fetcher,
    repos: &[Url],
    options: &RepoOptions<'_>,
    spec: &RSpec,
    headers: &HeaderMap,
    candidates: &mut BTreeMap<String, Vec<Available>>,
) -> Result<(), RLockError> {
    for requirement in &spec.packages {
        let Some((op, bound)) = &requirement.constraint else {
            continue;
        };
        let satisfied = candidates
            .get(&requirement.name)
            .is_some_and(|c| c.iter().any(|a| op.matches(&a.version, bound)));
        if satisfied {
            continue;
        }
        for repo in repos {
            let mut versions =
                index::archived_versions(fetcher, repo, &requirement.name, options).await?;
            if *op == ROp::Equal && !versions.iter().any(|(v, _)| v == bound) {
                // The listing may be missing (not every server lists directories):
                // an exact version has one possible place.
                versions.push((
                    bound.clone(),
                    index::archive_url(repo, &requirement.name, bound),
                ));
            }
            let Some((_, url)) = versions
                .into_iter()
                .filter(|(v, _)| op.matches(v, bound))
                .max_by(|a, b| a.0.cmp(&b.0))
            else {
                continue;
            };
            let blob = match fetcher.fetch_index_with(&url, headers).await {
                Ok(blob) => blob,
                Err(e) if is_not_found(&e) => continue,
                Err(source) => {
                    return Err(RLockError::Download {
                        package: requirement.name.clone(),
                        url: crate::fetch::redact(&url),
                        source: Box::new(source),
                    });
                }
            };
            if let Some(available) = describe(
                &requirement.name,
                &url,
                &blob,
                repo.clone(),
                fetcher.cache().root(),
            )
            .await?
            {
                candidates
                    .entry(requirement.name.clone())
                    .or_default()
                    .push(available);
                break;
            }
        }
    }
    Ok(())
}

fn is_not_found(error: &FetchError) -> bool {
    matches!(error, FetchError::Status { status, .. } if status.as_u16() == 404 || status.as_u16() == 410)
}

/// The repository root of a tarball URL (`…/src/contrib/[Archive/NAME/]FILE`).
fn repository_of(url: &Url) -> Url {
    let text = url.as_str();
    match text.find("/src/contrib/") {
        Some(at) => Url::parse(&text[..at + 1]).unwrap_or_else(|_| url.clone()),
        None => url.clone(),
    }
}

/// A tarball's own DESCRIPTION as a candidate (for versions no index lists).
async fn describe(
    name: &str,
    url: &Url,
    blob: &Blob,
    repository: Url,
    cache_root: &Path,
) -> Result<Option<Available>, RLockError> {
    let facts = facts_of(name, url, blob, cache_root).await?;
    let Ok(description) = parse_description(&facts.description) else {
        return Ok(None);
    };
    if description.name != name {
        return Ok(None);
    }
    Ok(Some(description.into_available(
        url.clone(),
        repository,
        None,
    )))
}

/// The tarball of `package`: the kept pin's verified copy when the lock already has
/// it (no download), else downloaded and checked against the index's MD5.
async fn download(
    fetcher: &Fetcher,
    package: &Available,
    kept: Option<&RPackage>,
    headers: &HeaderMap,
) -> Result<Blob, RLockError> {
    let shown = crate::fetch::redact(&package.url);
    let failed = |source| RLockError::Download {
        package: package.name.clone(),
        url: shown.clone(),
        source: Box::new(source),
    };
    // Without a kept pin the server is asked again (a 304 costs little): a tarball
    // replaced upstream must meet the index's MD5 here, not pass on a cached copy and
    // fail at build time.
    let known = kept.map(|kept| (kept.sha256.clone(), kept.size));
    let blob = match &known {
        Some((sha256, size)) => fetcher
            .fetch_verified_with(&package.url, headers, sha256, Some(*size))
            .await
            .map_err(failed)?,
        None => fetcher
            .fetch_index_with(&package.url, headers)
            .await
            .map_err(failed)?,
    };
    Ok(blob)
}

/// What the tarball of `package` says of itself, checked against what the index says:
/// its MD5 (PACKAGES' `MD5sum`), its name and version.
async fn read_tarball(
    package: &Available,
    blob: &Blob,
    cache_root: &Path,
) -> Result<tarball::TarballFacts, RLockError> {
    let url = crate::fetch::redact(&package.url);
    let facts = facts_of(&package.name, &package.url, blob, cache_root).await?;
    if let Some(expected) = &package.md5
        && !facts.md5.eq_ignore_ascii_case(expected)
    {
        return Err(RLockError::Md5Mismatch {
            package: package.name.clone(),
            url,
            expected: expected.clone(),
            actual: facts.md5,
        });
    }
    let described = parse_description(&facts.description).ok();
    let matches = described
        .as_ref()
        .is_some_and(|d| d.name == package.name && d.version == package.version);
    if !matches {
        return Err(RLockError::NotWhatIndexSays {
            package: package.name.clone(),
            version: package.version.to_string(),
            url,
            found: described.map_or_else(
                || format!("a DESCRIPTION R cannot read ({})", facts.top),
                |d| format!("{} {}", d.name, d.version),
            ),
        });
    }
    Ok(facts)
}

/// The facts of a downloaded tarball, off the async runtime; kept by its sha256, so a
/// second lock does not decompress it again.
async fn facts_of(
    name: &str,
    url: &Url,
    blob: &Blob,
    cache_root: &Path,
) -> Result<tarball::TarballFacts, RLockError> {
    let (path, sha256, root) = (
        blob.path.clone(),
        blob.sha256.clone(),
        cache_root.to_path_buf(),
    );
    let read = crate::task::blocking(move || tarball::read_cached(&path, &sha256, &root)).await;
    read.unwrap_or_else(|e| {
        Err(TarballError::Io {
            path: blob.path.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    })
    .map_err(|source| RLockError::Tarball {
        package: name.to_string(),
        url: crate::fetch::redact(url),
        source,
    })
}

/// Binary or source, by the tarball's content: a `Built:` field, whose R major.minor
/// and platform must be the base's.
fn kind_of(
    package: &Available,
    description: &str,
    r: &BaseRInstall,
    base_platform: &str,
) -> Result<RKind, RLockError> {
    let Some(built) = parse_description(description).ok().and_then(|d| d.built) else {
        return Ok(RKind::Source);
    };
    // R's own check when it loads a package (`library()` → `testRversion`, in
    // src/library/base/R/library.R): a package built for another platform, or before
    // the running R's major version ("built before R 4.0.0: please re-install it"), is
    // refused; one built under a newer R only warns. rtlock refuses that last case too:
    // such a binary may call C entry points the base's R lacks. Within one major
    // version R keeps its package ABI (Debian's `r-api-4.0`), so Debian's binaries built
    // under 4.1 load in 4.2, and are accepted.
    let parse = |v: &str| v.parse::<RVersion>().ok();
    let (built_r, base_r) = (parse(&built.r_version), parse(&r.version));
    let fits = match (&built_r, &base_r) {
        (Some(built_r), Some(base_r)) => {
            let minor = |v: &RVersion| v.parts().iter().take(2).copied().collect::<Vec<_>>();
            built_r.parts().first() == base_r.parts().first()
                && minor(built_r) <= minor(base_r)
                && (built.platform.is_empty() || built.platform == base_platform)
        }
        _ => false,
    };
    if fits {
        return Ok(RKind::Binary);
    }
    Err(RLockError::BuiltFor(Box::new(BuiltFor {
        package: package.name.clone(),
        version: package.version.to_string(),
        url: crate::fetch::redact(&package.url),
        built_r: built.r_version,
        built_platform: if built.platform.is_empty() {
            "any platform".to_string()
        } else {
            built.platform
        },
        base_r: r.version.clone(),
        base_platform: base_platform.to_string(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_of_tarball_urls() {
        let url =
            Url::parse("http://127.0.0.1:8080/cran/src/contrib/Archive/x/x_1.0.tar.gz").unwrap();
        assert_eq!(repository_of(&url).as_str(), "http://127.0.0.1:8080/cran/");
    }
}
