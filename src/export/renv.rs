//! `rtlock export renv`: the lock's R packages as a `renv.lock`, which `renv::restore()`
//! installs from the same repositories at the same versions.
//!
//! renv's lockfile (renv's `renv_lockfile_*`, format of renv 0.15 and later): `R` holds
//! the R version and the named repositories; `Packages` one record per package with
//! `Source = "Repository"` and the name of the repository it comes from. renv's `Hash`
//! is an MD5 of DESCRIPTION fields that renv computes itself (it keys renv's cache, it
//! is not a check of the download), so it is left out rather than guessed; the sha256
//! that does check the download stays in `runtime.lock`.
//!
//! The repositories are read back from the entries' URLs (`REPO/src/contrib/…`), in the
//! order the lock first names them; the first is called `CRAN`, as renv and R name the
//! main repository, the others `REPO2`, `REPO3`, ….

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::lockfile::Lockfile;

#[derive(Debug, thiserror::Error)]
pub enum RenvError {
    #[error(
        "{} has no [[r]] entries, so there is nothing to export: add R packages to \
         `[r] packages` in the manifest and run `rtlock lock` again",
        path.display()
    )]
    NoR { path: PathBuf },
    #[error(
        "{}: the url of {package} ({url}) is not in a CRAN-like repository (no /src/contrib/), \
         so renv cannot be told where to find it",
        path.display()
    )]
    NotCranLike {
        path: PathBuf,
        package: String,
        url: String,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RenvLock {
    #[serde(rename = "R")]
    r: RSection,
    packages: BTreeMap<String, Record>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RSection {
    version: String,
    repositories: Vec<Repository>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Repository {
    name: String,
    #[serde(rename = "URL")]
    url: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Record {
    package: String,
    version: String,
    source: &'static str,
    repository: String,
    requirements: Vec<String>,
}

/// The renv.lock of `lock`'s R packages for the base's R `r_version` (renv.lock names
/// it; `runtime.lock` does not, as the base digest pins it).
pub fn renv(lock: &Lockfile, path: &Path, r_version: &str) -> Result<String, RenvError> {
    if lock.r.is_empty() {
        return Err(RenvError::NoR {
            path: path.to_path_buf(),
        });
    }
    let mut repositories: Vec<Repository> = Vec::new();
    let mut packages = BTreeMap::new();
    for p in &lock.r {
        let root = repository_root(&p.url).ok_or_else(|| RenvError::NotCranLike {
            path: path.to_path_buf(),
            package: p.name.clone(),
            url: p.url.clone(),
        })?;
        let name = match repositories.iter().find(|r| r.url == root) {
            Some(existing) => existing.name.clone(),
            None => {
                let name = match repositories.len() {
                    0 => "CRAN".to_string(),
                    n => format!("REPO{}", n + 1),
                };
                repositories.push(Repository {
                    name: name.clone(),
                    url: root.to_string(),
                });
                name
            }
        };
        let locked: Vec<String> = p
            .requires
            .iter()
            .filter(|r| lock.r.iter().any(|q| &q.name == *r))
            .cloned()
            .collect();
        packages.insert(
            p.name.clone(),
            Record {
                package: p.name.clone(),
                version: p.version.to_string(),
                source: "Repository",
                repository: name,
                requirements: locked,
            },
        );
    }
    let renv = RenvLock {
        r: RSection {
            version: r_version.to_string(),
            repositories,
        },
        packages,
    };
    let mut text = serde_json::to_string_pretty(&renv).expect("a renv.lock serializes");
    text.push('\n');
    Ok(text)
}

/// `http://host/cran/src/contrib/x_1.0.tar.gz` (or `…/src/contrib/Archive/x/…`) →
/// `http://host/cran`, as renv and R write a repository.
fn repository_root(url: &str) -> Option<&str> {
    let at = url.find("/src/contrib/")?;
    Some(&url[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots() {
        assert_eq!(
            repository_root("http://127.0.0.1:1/cran/src/contrib/Archive/x/x_1.0.tar.gz"),
            Some("http://127.0.0.1:1/cran")
        );
        assert_eq!(repository_root("http://127.0.0.1:1/x_1.0.tar.gz"), None);
    }
}
