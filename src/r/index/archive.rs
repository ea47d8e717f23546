//! The archive of a CRAN-like repository: `src/contrib/Archive/NAME/` holds the
//! versions the index no longer lists, as `NAME_VERSION.tar.gz`. It has no index of
//! its own; the web server's directory listing (an HTML page of links, as Apache,
//! nginx and Python's http.server write them) is what there is to read.

use url::Url;

use super::repository::{contrib_url, dated, headers, is_absent, join};
use super::{RIndexError, RepoOptions};
use crate::fetch::{Fetcher, redact};
use crate::r::requirement::RVersion;

/// Where version `version` of `name` lies in the archive of `repo`.
pub fn archive_url(repo: &Url, name: &str, version: &RVersion) -> Url {
    let mut url = contrib_url(repo);
    url.path_segments_mut()
        .map(|mut s| {
            s.pop_if_empty()
                .extend(["Archive", name, &format!("{name}_{version}.tar.gz")]);
        })
        .ok();
    url
}

/// The versions of `name` in the archive of `repo` (first [`dated`] by
/// `options.as_of`), newest first, each with its tarball's URL. No archive folder
/// for it (an absent page, or for a `file://` repository an absent directory) means
/// no archived versions.
pub async fn archived_versions(
    fetcher: &Fetcher,
    repo: &Url,
    name: &str,
    options: &RepoOptions<'_>,
) -> Result<Vec<(RVersion, Url)>, RIndexError> {
    let repo = dated(repo, options.as_of);
    let folder = join(&contrib_url(&repo), &format!("Archive/{name}/"))?;
    let files: Vec<String> = if folder.scheme() == "file" {
        local_listing(&folder, name)?
    } else {
        let headers = headers(options.user_agent)?;
        let blob = match fetcher.fetch_index_with(&folder, &headers).await {
            Ok(blob) => blob,
            Err(e) if is_absent(&e) => return Ok(Vec::new()),
            Err(source) => {
                return Err(RIndexError::Archive {
                    package: name.to_string(),
                    url: redact(&folder),
                    source: Box::new(source),
                });
            }
        };
        let path = blob.path.clone();
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| RIndexError::ArchiveDir {
                package: name.to_string(),
                path,
                source,
            })?;
        parse_archive_listing(&String::from_utf8_lossy(&bytes))
    };
    let mut versions: Vec<(RVersion, Url)> = Vec::new();
    for file in files {
        let Some(version) = version_of(&file, name) else {
            continue;
        };
        let Ok(url) = folder.join(&file) else {
            continue;
        };
        if !versions.iter().any(|(v, _)| *v == version) {
            versions.push((version, url));
        }
    }
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(versions)
}

/// `NAME_VERSION.tar.gz` → VERSION, for this `name` only (the folder of `foo` may
/// list `foo.bar_1.0.tar.gz` nowhere, but a listing's links also go to parents and
/// sort orders).
pub(super) fn version_of(file: &str, name: &str) -> Option<RVersion> {
    let file = file.rsplit('/').next()?;
    file.strip_prefix(name)?
        .strip_prefix('_')?
        .strip_suffix(".tar.gz")?
        .parse()
        .ok()
}

/// The file names in a `file://` archive folder; an absent folder lists nothing.
fn local_listing(folder: &Url, name: &str) -> Result<Vec<String>, RIndexError> {
    let Ok(path) = folder.to_file_path() else {
        return Ok(Vec::new());
    };
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RIndexError::ArchiveDir {
                package: name.to_string(),
                path,
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| RIndexError::ArchiveDir {
            package: name.to_string(),
            path: path.clone(),
            source,
        })?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// The `href` targets of a directory listing, in page order. A scanner for the links
/// web servers write, not an HTML parser: `href="…"`, `href='…'` or `href=…`, any case.
pub fn parse_archive_listing(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find("href") {
        let start = at + i + 4;
        at = start;
        let rest = html[start..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
            _ => rest
                .split(|c: char| c.is_ascii_whitespace() || c == '>')
                .next()
                .unwrap_or(""),
        };
        if !value.is_empty() {
            out.push(value.replace("&amp;", "&"));
        }
    }
    out
}
