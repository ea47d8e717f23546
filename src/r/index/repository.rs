//! A repository's URLs and its index: the `src/contrib/` folder, dated snapshot
//! repositories, the User-Agent R sends, and [`fetch_repository`].

use std::io::Read;

use url::Url;

use super::{Available, RIndexError, parse_packages};
use crate::fetch::header::{HeaderMap, HeaderValue, USER_AGENT};
use crate::fetch::{FetchError, Fetcher, redact};

/// How to ask a repository.
#[derive(Debug, Clone, Copy)]
pub struct RepoOptions<'a> {
    /// `[lock] as-of`: dated snapshot repositories are asked for that day ([`dated`]).
    pub as_of: Option<jiff::Timestamp>,
    /// Sent with every request ([`user_agent`]): binary repositories choose what to
    /// serve by it.
    pub user_agent: &'a str,
}

/// The User-Agent R itself sends: `utils:::defaultUserAgent()`
/// (src/library/utils/R/readhttp.R), the default of the `HTTPUserAgent` option, is
/// `R (<major>.<minor> <platform> <arch> <os>)`, where `R.version$platform` is
/// `<arch>-<vendor>-<os>` (`x86_64-pc-linux-gnu`: arch `x86_64`, os `linux-gnu`).
/// Linux binary repositories read the R version and the OS from it.
pub fn user_agent(r_version: &str, platform: &str) -> String {
    let mut parts = platform.splitn(3, '-');
    let arch = parts.next().unwrap_or("");
    let os = parts.nth(1).unwrap_or("");
    format!("R ({r_version} {platform} {arch} {os})")
}

/// The repository's `src/contrib/` folder (always with a trailing `/`, so that
/// relative names join under it).
pub fn contrib_url(repo: &Url) -> Url {
    let mut url = folder(repo);
    url.path_segments_mut()
        .map(|mut segments| {
            segments.pop_if_empty().extend(["src", "contrib", ""]);
        })
        .ok();
    url
}

/// `url` with a trailing `/` on its path.
pub(super) fn folder(url: &Url) -> Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// The repository as it stood at `as_of`: in a dated snapshot repository, whose URL
/// has a `YYYY-MM-DD` path component (`…/cran/2026-11-01`,
/// `…/cran/__linux__/bookworm/2026-11-01`), that component becomes as-of's date (UTC).
/// Other repositories, and any repository without `as_of`, are unchanged. When
/// several components are dates, the last one is the snapshot's.
pub fn dated(repo: &Url, as_of: Option<jiff::Timestamp>) -> Url {
    let (Some(as_of), Some(at)) = (as_of, date_segment(repo)) else {
        return repo.clone();
    };
    let day = as_of.to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    let segments: Vec<String> = repo
        .path_segments()
        .map(|s| s.map(str::to_string).collect())
        .unwrap_or_default();
    let mut url = repo.clone();
    if let Ok(mut out) = url.path_segments_mut() {
        out.clear();
        for (i, segment) in segments.iter().enumerate() {
            out.push(if i == at { &day } else { segment });
        }
    }
    url
}

/// Whether `repo` is a dated snapshot repository (see [`dated`]).
pub fn is_dated(repo: &Url) -> bool {
    date_segment(repo).is_some()
}

/// The index of the last path segment that is a calendar date written `YYYY-MM-DD`.
fn date_segment(repo: &Url) -> Option<usize> {
    let is_date = |s: &str| {
        s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            })
            && s.parse::<jiff::civil::Date>().is_ok()
    };
    repo.path_segments()?
        .enumerate()
        .filter(|(_, s)| is_date(s))
        .map(|(i, _)| i)
        .last()
}

/// The request headers for a repository: R's User-Agent.
pub(super) fn headers(user_agent: &str) -> Result<HeaderMap, RIndexError> {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(user_agent)
        .map_err(|_| RIndexError::UserAgent(user_agent.to_string()))?;
    headers.insert(USER_AGENT, value);
    Ok(headers)
}

/// Whether a failed request means "there is no such file" (so the next name is worth
/// trying), rather than a failure to report. Object stores answer 403 for a missing
/// key when listing is not allowed, so 403 counts too.
pub(super) fn is_absent(error: &FetchError) -> bool {
    match error {
        FetchError::Status { status, .. } => matches!(status.as_u16(), 403 | 404 | 410),
        FetchError::LocalFile { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

/// What a repository offers: its `src/contrib/PACKAGES.gz`, else `src/contrib/PACKAGES`.
/// R's `available.packages` tries `PACKAGES.rds` first; rtlock does not read R's
/// serialization format, and every repository `tools::write_PACKAGES` made has the DCF
/// forms too. `repo` is first [`dated`] by `options.as_of`.
pub async fn fetch_repository(
    fetcher: &Fetcher,
    repo: &Url,
    options: &RepoOptions<'_>,
) -> Result<Vec<Available>, RIndexError> {
    let repo = dated(repo, options.as_of);
    let contrib = contrib_url(&repo);
    let headers = headers(options.user_agent)?;
    let mut tried = Vec::new();
    let mut offline_miss = None;
    for (name, gzip) in [("PACKAGES.gz", true), ("PACKAGES", false)] {
        let url = join(&contrib, name)?;
        let blob = match fetcher.fetch_index_with(&url, &headers).await {
            Ok(blob) => blob,
            Err(e @ FetchError::NotCached { .. }) => {
                // Offline: the other form may be cached; if neither is, say offline.
                offline_miss.get_or_insert(e);
                continue;
            }
            Err(e) if is_absent(&e) => {
                tried.push(format!("{} ({})", redact(&url), absent_reason(&e)));
                continue;
            }
            Err(source) => {
                return Err(RIndexError::Fetch {
                    repo: redact(&repo),
                    source: Box::new(source),
                });
            }
        };
        let shown = redact(&url);
        let path = blob.path.clone();
        let repo_for_parse = repo.clone();
        return crate::task::blocking(move || {
            let text = read_index(&path, gzip).map_err(|source| RIndexError::Gzip {
                url: shown.clone(),
                source,
            })?;
            parse_packages(&text, &repo_for_parse).map_err(|e| RIndexError::Packages {
                url: shown,
                line: e.line,
                message: e.message,
            })
        })
        .await?;
    }
    if let Some(source) = offline_miss {
        return Err(RIndexError::Fetch {
            repo: redact(&repo),
            source: Box::new(source),
        });
    }
    Err(RIndexError::NoIndex {
        repo: redact(&repo),
        tried: format!("tried {}", tried.join(" and ")),
    })
}

/// `name` under the folder `base`; fails only for a URL that has no folders at all
/// (`mailto:`), which cannot be a repository.
pub(super) fn join(base: &Url, name: &str) -> Result<Url, RIndexError> {
    base.join(name)
        .map_err(|_| RIndexError::NotARepository { repo: redact(base) })
}

fn absent_reason(error: &FetchError) -> String {
    match error {
        FetchError::Status { status, .. } => format!("the server answered {status}"),
        _ => "no such file".to_string(),
    }
}

/// The text of a downloaded index. A `PACKAGES.gz` that is not gzip (a server that
/// decoded it on the way) is read as it is; the text is UTF-8, or read lossily (the
/// fields rtlock reads are ASCII; only descriptions and names of people are not).
fn read_index(path: &std::path::Path, gzip: bool) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    let bytes = if gzip && bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out)?;
        out
    } else {
        bytes
    };
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}
