//! R in an image: its home, version, library paths (as `.libPaths()` would list them),
//! the `repos` option its `Rprofile.site` sets, and the packages installed.

pub mod base;
pub mod rprofile;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::base::dpkg::DpkgPackage;
use crate::base::recorded::{Recorded, RecordedDigest};
use crate::deb822::owned::paragraphs;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};
use crate::oci::types::ImageConfig;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct R {
    /// `R.home()`: `/usr/lib/R` (Debian), `/usr/local/lib/R` (built from source),
    /// `/opt/R/4.3.2/lib/R` (Posit's builds).
    pub home: String,
    pub version: Option<String>,
    /// Site libraries then `.Library`, only those that exist, as `.libPaths()` as root.
    pub library_paths: Vec<String>,
    /// The `repos` option set in `etc/Rprofile.site`, `name=url` in order.
    pub repos: Vec<Repo>,
    pub rprofile_site: Option<String>,
    pub packages: Vec<RPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repo {
    /// `CRAN`; empty for an unnamed entry.
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RPackage {
    pub name: String,
    pub version: String,
    /// `base` or `recommended` for R's own packages.
    pub priority: Option<String>,
    pub library: String,
}

const HOMES: [&str; 3] = ["usr/lib/R", "usr/local/lib/R", "usr/lib64/R"];

pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    let keep = (path.ends_with("/DESCRIPTION") && size <= 1 << 20)
        || path.ends_with("lib/R/etc/Renviron")
        || path.ends_with("lib/R/etc/Renviron.site")
        || path.ends_with("lib/R/etc/Rprofile.site");
    keep.then_some(Keep::Whole)
}

/// The files [`recorded_files`] reads: `LIBRARY/PKG/MD5`.
pub fn record_wanted(path: &str, size: u64) -> Option<Keep> {
    (path.ends_with("/MD5") && size <= 4 << 20).then_some(Keep::Whole)
}

/// The files R recorded for an installed package with their MD5 (the `MD5` file
/// `R CMD INSTALL` writes into the package's directory, which `tools::checkMD5sums`
/// checks), or `None` when it has none.
pub fn recorded_files(
    rootfs: &RootFs,
    package: &RPackage,
) -> Result<Option<Vec<Recorded>>, ImageError> {
    let dir = format!("{}/{}", package.library, package.name);
    let Some(bytes) = rootfs.read_file(&format!("{dir}/MD5"))? else {
        return Ok(None);
    };
    Ok(Some(parse_md5(&String::from_utf8_lossy(&bytes), &dir)))
}

/// `HEX32 *relative/path` lines, relative to the package directory `dir`.
fn parse_md5(text: &str, dir: &str) -> Vec<Recorded> {
    text.lines()
        .filter_map(|line| {
            let (hash, path) = line.split_once(' ')?;
            let digest = RecordedDigest::md5_hex(hash)?;
            let path = crate::base::recorded::join(dir, path.strip_prefix('*').unwrap_or(path))?;
            Some(Recorded { path, digest })
        })
        .collect()
}

/// Every R installation of the image (usually none or one).
pub fn inventory(
    rootfs: &RootFs,
    config: &ImageConfig,
    dpkg: &[DpkgPackage],
) -> Result<Vec<R>, ImageError> {
    let mut homes: Vec<String> = HOMES.iter().map(|h| h.to_string()).collect();
    for (version, _) in rootfs.list_dir("opt/R")? {
        homes.push(format!("opt/R/{version}/lib/R"));
    }
    let env = crate::base::env::image_env(config);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for home in homes {
        let resolved = rootfs.resolve(&home)?;
        if seen.contains(&resolved)
            || !(rootfs.exists(&format!("{resolved}/library/base/DESCRIPTION"))
                || rootfs.exists(&format!("{resolved}/etc/Renviron")))
        {
            continue;
        }
        seen.push(resolved.clone());
        out.push(one(rootfs, &resolved, &env, dpkg)?);
    }
    Ok(out)
}

fn one(
    rootfs: &RootFs,
    home: &str,
    env: &BTreeMap<String, String>,
    dpkg: &[DpkgPackage],
) -> Result<R, ImageError> {
    let read = |path: &str| -> Result<Option<String>, ImageError> {
        Ok(rootfs
            .read_file(path)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    };
    let version = match read(&format!("{home}/library/base/DESCRIPTION"))? {
        Some(text) => paragraphs(&text)
            .first()
            .and_then(|p| p.get("Version"))
            .map(str::to_string),
        None => None,
    }
    .or_else(|| {
        dpkg.iter().find(|p| p.name == "r-base-core").map(|p| {
            let upstream = p.version.split('-').next().unwrap_or(&p.version);
            upstream.split('.').take(3).collect::<Vec<_>>().join(".")
        })
    });

    // R_LIBS_SITE: the image's env, else Renviron.site / Renviron, else R's default.
    let mut vars = env.clone();
    for file in ["etc/Renviron", "etc/Renviron.site"] {
        if let Some(text) = read(&format!("{home}/{file}"))? {
            for (k, v) in parse_renviron(&text, env) {
                if !env.contains_key(&k) {
                    vars.insert(k, v);
                }
            }
        }
    }
    let short = version
        .as_deref()
        .map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."))
        .unwrap_or_default();
    let expand = |s: &str| {
        s.replace("%v", &short)
            .replace("%V", version.as_deref().unwrap_or(""))
    };
    let mut candidates: Vec<String> = Vec::new();
    for var in ["R_LIBS", "R_LIBS_SITE"] {
        let default = format!("/{home}/site-library");
        let value = match (var, vars.get(var)) {
            (_, Some(v)) => v.clone(),
            ("R_LIBS_SITE", None) => default,
            _ => String::new(),
        };
        candidates.extend(
            value
                .split(':')
                .map(|p| expand(p.trim()))
                .filter(|p| !p.is_empty()),
        );
    }
    candidates.push(format!("/{home}/library"));
    let mut library_paths: Vec<String> = Vec::new();
    for path in candidates {
        let path = format!("/{}", path.trim_matches('/'));
        if rootfs.is_dir(&path) && !library_paths.contains(&path) {
            library_paths.push(path);
        }
    }

    let rprofile_path = format!("{home}/etc/Rprofile.site");
    let rprofile = read(&rprofile_path)?;
    // `inspect` shows what it can read; `lock` refuses what it cannot (rprofile::repos).
    let repos = rprofile
        .as_deref()
        .and_then(|text| rprofile::repos(text).ok())
        .unwrap_or_default();

    let mut packages = Vec::new();
    for library in &library_paths {
        for (name, _) in rootfs.list_dir(library)? {
            // What `installed.packages()` lists: an installed package has its parsed
            // metadata (R's own `translations` directory has a DESCRIPTION, not this).
            if !rootfs.exists(&format!("{library}/{name}/Meta/package.rds")) {
                continue;
            }
            let Some(text) = read(&format!("{library}/{name}/DESCRIPTION"))? else {
                continue;
            };
            let Some(p) = paragraphs(&text).into_iter().next() else {
                continue;
            };
            if let (Some(package), Some(version)) = (p.get("Package"), p.get("Version")) {
                packages.push(RPackage {
                    name: package.to_string(),
                    version: version.to_string(),
                    priority: p.get("Priority").map(str::to_string),
                    library: library.clone(),
                });
            }
        }
    }
    Ok(R {
        home: format!("/{home}"),
        version,
        library_paths,
        repos,
        rprofile_site: rprofile.map(|_| format!("/{rprofile_path}")),
        packages,
    })
}

/// `NAME=value` lines of an Renviron file, with `${VAR-default}` / `${VAR:-default}`
/// taken from `env` or the default, quotes removed.
pub(crate) fn parse_renviron(text: &str, env: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        out.push((name.to_string(), expand_renviron(value.trim(), env)));
    }
    out
}

fn expand_renviron(value: &str, env: &BTreeMap<String, String>) -> String {
    let unquote = |s: &str| s.trim().trim_matches('\'').trim_matches('"').to_string();
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&unquote(&rest[..start]));
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            rest = "";
            break;
        };
        let inner = &after[..end];
        let (var, default) = match inner.split_once(":-").or_else(|| inner.split_once('-')) {
            Some((v, d)) => (v, unquote(d)),
            None => (inner, String::new()),
        };
        out.push_str(env.get(var).map(String::as_str).unwrap_or(&default));
        rest = &after[end + 1..];
    }
    out.push_str(&unquote(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_lines() {
        let files = parse_md5(
            "d41d8cd98f00b204e9800998ecf8427e *DESCRIPTION\nd41d8cd98f00b204e9800998ecf8427e *R/rlang.rdb\nxx *y\n",
            "/usr/local/lib/R/site-library/rlang",
        );
        assert_eq!(files.len(), 2);
        assert_eq!(
            files[1].path,
            "/usr/local/lib/R/site-library/rlang/R/rlang.rdb"
        );
    }

    #[test]
    fn renviron_defaults() {
        let env = BTreeMap::new();
        let vars = parse_renviron(
            "R_LIBS_USER=${R_LIBS_USER-'~/R/x86_64-pc-linux-gnu-library/4.2'}\nR_LIBS_SITE=${R_LIBS_SITE-'/usr/local/lib/R/site-library/:/usr/lib/R/site-library:/usr/lib/R/library'}\n# x=1\n",
            &env,
        );
        assert_eq!(
            vars[1],
            (
                "R_LIBS_SITE".to_string(),
                "/usr/local/lib/R/site-library/:/usr/lib/R/site-library:/usr/lib/R/library"
                    .to_string()
            )
        );
    }
}
