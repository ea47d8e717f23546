//! `[pip]` → `[[pip]]`: the manifest's requirements resolved for the base image's own
//! Python (its version, glibc, architecture, installed distributions) against the index
//! the manifest, the environment or the image names.

use std::str::FromStr;

use url::Url;

use super::inventory::base::BasePython;
use crate::fetch::header::HeaderMap;
use crate::fetch::{ByteRange, FetchError, Fetcher};
use crate::lockfile::{PipPackage, PipVersion};
use crate::manifest::PipSpec;
use crate::pip::index::Index;
use crate::pip::resolve::{self, Request, ResolveError};
use crate::pip::tags::Libc;
use crate::pip::target::{Target, TargetError, parse_glibc};
use crate::pip::{PackageName, Version};

#[derive(Debug, thiserror::Error)]
pub enum PipLockError {
    #[error(
        "the base image has no python3 for [pip] packages to be installed into\n\
         help: add python3 to [apt] packages, or extend an image that has Python"
    )]
    NoPython,
    #[error(transparent)]
    Index(#[from] IndexChoiceError),
    #[error("cannot tell which wheels the base image's Python takes")]
    Target(#[from] TargetError),
    #[error("cannot resolve [pip] packages (index: {index}, from {from})")]
    Resolve {
        index: String,
        from: &'static str,
        #[source]
        source: ResolveError,
    },
    #[error("{package}: the index gives no sha256 for {file}, so it cannot be pinned")]
    NoHash { package: String, file: String },
    #[error(
        "{package}: cannot learn the size of {file}: the index gives none and the server did not say"
    )]
    Size {
        package: String,
        file: String,
        #[source]
        source: Option<FetchError>,
    },
}

/// What the pip resolution needs besides the base image.
#[derive(Debug, Clone)]
pub struct PipInputs<'a> {
    pub spec: &'a PipSpec,
    pub as_of: Option<jiff::Timestamp>,
    /// The OCI platform architecture (`amd64`, `arm64`).
    pub architecture: &'a str,
    /// The previous lock's entries to keep (those `--update` did not name).
    pub keep: &'a [PipPackage],
}

/// The `[[pip]]` entries for `inputs` on the base image's Python, sorted by name.
pub async fn lock_pip(
    base: &BasePython,
    fetcher: &Fetcher,
    inputs: &PipInputs<'_>,
) -> Result<Vec<PipPackage>, PipLockError> {
    if inputs.spec.packages.is_empty() {
        return Ok(Vec::new());
    }
    let interpreter = base.interpreter.as_ref().ok_or(PipLockError::NoPython)?;
    let indexes = choose_indexes(inputs.spec, &|k| std::env::var(k).ok(), base)?;
    let target = Target::new(&interpreter.version, inputs.architecture, libc(base)?)?;
    let mut urls = vec![indexes.index_url.clone()];
    urls.extend(indexes.extra_index_urls.iter().cloned());
    let index = Index::new(fetcher.clone(), urls, inputs.as_of);
    let request = Request {
        requirements: inputs.spec.packages.clone(),
        installed: base
            .distributions
            .iter()
            .filter_map(|(name, version)| {
                // A distribution with an unparsable name or version cannot be a
                // dependency's match anyway; pip ignores such ones too.
                Some((
                    PackageName::from_str(name).ok()?,
                    Version::from_str(version).ok()?,
                ))
            })
            .collect(),
        allow_upgrade: inputs
            .spec
            .allow_upgrade
            .iter()
            .filter_map(|n| PackageName::from_str(n).ok())
            .collect(),
        locked: inputs
            .keep
            .iter()
            .filter_map(|p| {
                Some((
                    PackageName::from_str(&p.name).ok()?,
                    p.version.parsed().clone(),
                ))
            })
            .collect(),
    };
    let resolution = resolve::resolve(index, &target, &request)
        .await
        .map_err(|source| PipLockError::Resolve {
            index: crate::fetch::redact(&indexes.index_url),
            from: indexes.from,
            source,
        })?;
    let mut out = Vec::with_capacity(resolution.packages.len());
    for pinned in resolution.packages {
        let package = pinned.name.to_string();
        let file = &pinned.file;
        let sha256 = file.sha256.clone().ok_or_else(|| PipLockError::NoHash {
            package: package.clone(),
            file: file.filename.clone(),
        })?;
        let size = match file.size {
            Some(size) => size,
            // PEP 503 pages carry no sizes: ask the server for the file's length.
            None => {
                let size = match fetcher
                    .fetch_range(&file.url, &HeaderMap::new(), ByteRange::Last(1))
                    .await
                {
                    Ok(part) => part.total_size.ok_or(None),
                    Err(e) => Err(Some(e)),
                };
                size.map_err(|source| PipLockError::Size {
                    package: package.clone(),
                    file: file.filename.clone(),
                    source,
                })?
            }
        };
        out.push(PipPackage {
            name: package,
            version: PipVersion::new(pinned.version.clone()),
            file: file.filename.clone(),
            // A lock is committed and shared: `user:password@` of an index stays out of it
            // (pip keeps index credentials in its config or keyring, not in requirements).
            url: crate::fetch::redact(&file.url),
            sha256,
            size,
            requested: pinned.requested,
            requires: pinned.requires.iter().map(ToString::to_string).collect(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The wheels' C library: the base's glibc, else its musl; with neither (a static
/// image) only the oldest manylinux wheels, which every glibc takes.
fn libc(base: &BasePython) -> Result<Libc, TargetError> {
    if let Some(version) = base.glibc.as_deref() {
        return parse_glibc(version);
    }
    let musl = base.musl.as_deref().and_then(|v| {
        let (major, minor) = v.split_once('.')?;
        Some(Libc::Musl {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    });
    Ok(musl.unwrap_or(Libc::Glibc { major: 2, minor: 5 }))
}

/// The indexes to search, and where they came from (said in errors and `-v` output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexes {
    pub index_url: Url,
    pub extra_index_urls: Vec<Url>,
    pub from: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexChoiceError {
    #[error(
        "no Python index to resolve [pip] packages against: the manifest sets no \
         [pip] index-url, PIP_INDEX_URL is not set, and the base image has no pip \
         configuration or pip of its own to take one from\n\
         help: set [pip] index-url in the manifest (or PIP_INDEX_URL)"
    )]
    NoIndex,
    #[error("{from} names the index `{url}`, which is not a URL: {reason}")]
    BadUrl {
        from: &'static str,
        url: String,
        reason: url::ParseError,
    },
}

/// pip's order: the manifest (`[pip] index-url`, `extra-index-urls`), else rtlock's own
/// environment (`PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, as pip would read them), else
/// the base image's pip configuration (`pip.conf`, `PIP_*` in its config), else the
/// default built into the image's own pip. The code base names no index of its own.
pub fn choose_indexes(
    spec: &PipSpec,
    env: &dyn Fn(&str) -> Option<String>,
    base: &BasePython,
) -> Result<Indexes, IndexChoiceError> {
    let parse = |from: &'static str, url: &str| {
        Url::parse(url.trim()).map_err(|reason| IndexChoiceError::BadUrl {
            from,
            url: url.trim().to_string(),
            reason,
        })
    };
    let parse_all = |from: &'static str, urls: &[String]| -> Result<Vec<Url>, IndexChoiceError> {
        urls.iter().map(|u| parse(from, u)).collect()
    };
    let env_extras: Vec<String> = env("PIP_EXTRA_INDEX_URL")
        .map(|v| v.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();

    if let Some(url) = &spec.index_url {
        return Ok(Indexes {
            index_url: url.clone(),
            extra_index_urls: spec.extra_index_urls.clone(),
            from: "the manifest",
        });
    }
    // Extras from the manifest stand on their own; the index comes from further down.
    let extras = |fallback: Vec<Url>| {
        if spec.extra_index_urls.is_empty() {
            fallback
        } else {
            spec.extra_index_urls.clone()
        }
    };
    if let Some(url) = env("PIP_INDEX_URL").filter(|u| !u.trim().is_empty()) {
        return Ok(Indexes {
            index_url: parse("PIP_INDEX_URL", &url)?,
            extra_index_urls: extras(parse_all("PIP_EXTRA_INDEX_URL", &env_extras)?),
            from: "PIP_INDEX_URL",
        });
    }
    if let Some(url) = &base.index_url {
        let from = "the base image's pip configuration";
        return Ok(Indexes {
            index_url: parse(from, url)?,
            extra_index_urls: extras(parse_all(from, &base.extra_index_urls)?),
            from,
        });
    }
    if let Some(url) = &base.pip_default_index {
        let from = "the base image's pip (its default index)";
        return Ok(Indexes {
            index_url: parse(from, url)?,
            extra_index_urls: extras(parse_all(from, &base.extra_index_urls)?),
            from,
        });
    }
    Err(IndexChoiceError::NoIndex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(index: Option<&str>, default: Option<&str>) -> BasePython {
        BasePython {
            interpreter: None,
            distributions: Vec::new(),
            index_url: index.map(str::to_string),
            extra_index_urls: Vec::new(),
            pip_default_index: default.map(str::to_string),
            glibc: None,
            musl: None,
        }
    }

    fn spec(index: Option<&str>, extras: &[&str]) -> PipSpec {
        PipSpec {
            index_url: index.map(|u| Url::parse(u).unwrap()),
            extra_index_urls: extras.iter().map(|u| Url::parse(u).unwrap()).collect(),
            ..PipSpec::default()
        }
    }

    #[test]
    fn a_musl_base_takes_musllinux_wheels() {
        let mut musl = base(None, None);
        musl.musl = Some("1.2".into());
        let target = Target::new("3.12.3", "amd64", libc(&musl).unwrap()).unwrap();
        let platforms: Vec<&str> = target.tags().iter().map(|t| t.platform.as_str()).collect();
        assert!(platforms.contains(&"musllinux_1_2_x86_64"), "{platforms:?}");
        assert!(
            !platforms.iter().any(|p| p.starts_with("manylinux")),
            "{platforms:?}"
        );

        let mut glibc = base(None, None);
        glibc.glibc = Some("2.36".into());
        let target = Target::new("3.11.2", "amd64", libc(&glibc).unwrap()).unwrap();
        let platforms: Vec<&str> = target.tags().iter().map(|t| t.platform.as_str()).collect();
        assert!(
            platforms.contains(&"manylinux_2_36_x86_64"),
            "{platforms:?}"
        );
        assert!(
            !platforms.iter().any(|p| p.starts_with("musllinux")),
            "{platforms:?}"
        );
    }

    #[test]
    fn the_manifest_then_the_environment_then_the_image_decide_the_index() {
        let no_env = |_: &str| None;
        let env = |k: &str| match k {
            "PIP_INDEX_URL" => Some("http://env.test/simple".to_string()),
            "PIP_EXTRA_INDEX_URL" => {
                Some("http://extra1.test/simple http://extra2.test/simple".into())
            }
            _ => None,
        };
        let image = base(
            Some("http://conf.test/simple"),
            Some("http://default.test/simple"),
        );

        let m = choose_indexes(&spec(Some("http://m.test/simple"), &[]), &env, &image).unwrap();
        assert_eq!(m.index_url.as_str(), "http://m.test/simple");
        assert!(m.extra_index_urls.is_empty());

        let e = choose_indexes(&spec(None, &[]), &env, &image).unwrap();
        assert_eq!(e.index_url.as_str(), "http://env.test/simple");
        assert_eq!(e.extra_index_urls.len(), 2);

        let e = choose_indexes(&spec(None, &["http://mx.test/simple"]), &env, &image).unwrap();
        assert_eq!(e.extra_index_urls[0].as_str(), "http://mx.test/simple");

        let c = choose_indexes(&spec(None, &[]), &no_env, &image).unwrap();
        assert_eq!(c.index_url.as_str(), "http://conf.test/simple");

        let d = choose_indexes(
            &spec(None, &[]),
            &no_env,
            &base(None, Some("http://default.test/simple")),
        )
        .unwrap();
        assert_eq!(d.index_url.as_str(), "http://default.test/simple");

        let none = choose_indexes(&spec(None, &[]), &no_env, &base(None, None));
        assert!(matches!(none, Err(IndexChoiceError::NoIndex)));
    }
}
