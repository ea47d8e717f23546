//! Python in an image: its interpreters, where `pip install` puts files, pip's
//! configuration, and the distributions already installed.
//!
//! # Which site-packages
//!
//! The directory rtlock reports as an interpreter's `purelib` is the one
//! `sysconfig.get_paths()["purelib"]` prints inside a container of the image, which is
//! where `pip install` run as root puts files, and so where rtlock's pip layer must put
//! them:
//!
//! - an interpreter built with prefix `/usr/local` (the `python:` images, most vendor
//!   images): `/usr/local/lib/python3.X/site-packages`;
//! - Debian's and Ubuntu's `/usr/bin/python3.X`: their patched `sysconfig` selects the
//!   `posix_local` scheme outside a virtual environment, so purelib is
//!   `/usr/local/lib/python3.X/dist-packages`. Debian's own `python3-*` packages live in
//!   `/usr/lib/python3/dist-packages` instead (reported as `dist_packages`), which pip
//!   treats as read-only system packages.
//!
//! `site_packages` lists every directory on the interpreter's `sys.path` that holds
//! distributions, in `sys.path` order; installed distributions are read from all of them.

pub mod base;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::base::dpkg::DpkgPackage;
use crate::base::recorded::{Recorded, RecordedDigest};
use crate::deb822::owned::headers;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, Kind, RootFs};
use crate::oci::types::ImageConfig;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Python {
    pub interpreters: Vec<Interpreter>,
    pub pip: PipConfig,
    /// Installed distributions, from every interpreter's site directories.
    pub distributions: Vec<Distribution>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interpreter {
    /// The real file (`/usr/bin/python3.11`).
    pub path: String,
    /// Other names of it on the usual PATH directories (`/usr/bin/python3`).
    pub aliases: Vec<String>,
    /// `3.11.2` when the image says (headers, dpkg, `PYTHON_VERSION`), else `3.11`.
    pub version: String,
    /// `3.11`.
    pub version_short: String,
    /// `sys.prefix` (`/usr`, `/usr/local`).
    pub prefix: String,
    /// Where `pip install` as root puts pure-Python files (see the module docs).
    pub purelib: String,
    /// Debian's system-package directory, for a Debian-patched interpreter.
    pub dist_packages: Option<String>,
    pub site_packages: Vec<String>,
}

/// pip's configuration files and `PIP_*` environment of the image, and what they add up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipConfig {
    /// In the order pip reads them (later ones override earlier ones).
    pub files: Vec<PipConfigFile>,
    /// `PIP_*` variables of the image config's `Env`.
    pub env: BTreeMap<String, String>,
    /// The index `pip install` would use; `None` means pip's built-in default.
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PipConfigFile {
    pub path: String,
    /// `section.key` → value (`global.index-url`), keys with `-` as pip normalizes them.
    pub settings: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Distribution {
    pub name: String,
    pub version: String,
    /// The site directory it is in.
    pub location: String,
    /// The `INSTALLER` file (`pip`, `debian`, `uv`), when there is one.
    pub installer: Option<String>,
    /// Its metadata directory (`…/site-packages/idna-3.7.dist-info`), or `.egg-info`
    /// file or directory, absolute.
    #[serde(skip)]
    pub metadata_path: String,
}

/// Where interpreters are looked for: the directories of a default PATH.
const BIN_DIRS: [&str; 4] = ["usr/local/bin", "usr/bin", "bin", "opt/conda/bin"];

/// pip's global then user configuration files (as root), in pip's reading order.
const PIP_CONF: [&str; 4] = [
    "etc/xdg/pip/pip.conf",
    "etc/pip.conf",
    "root/.pip/pip.conf",
    "root/.config/pip/pip.conf",
];

pub fn wanted(path: &str, _size: u64) -> Option<Keep> {
    if PIP_CONF.contains(&path)
        || path.ends_with(".dist-info/INSTALLER")
        || (path.contains("/include/python3") && path.ends_with("/patchlevel.h"))
    {
        return Some(Keep::Whole);
    }
    if path.ends_with(".dist-info/METADATA")
        || path.ends_with(".egg-info/PKG-INFO")
        || (path.ends_with(".egg-info") && path.contains("-packages/"))
    {
        return Some(Keep::Headers);
    }
    None
}

pub fn inventory(
    rootfs: &RootFs,
    config: &ImageConfig,
    dpkg: &[DpkgPackage],
) -> Result<Python, ImageError> {
    let env = crate::base::env::image_env(config);
    let interpreters = interpreters(rootfs, &env, dpkg)?;
    let mut dirs: Vec<&str> = Vec::new();
    for interpreter in &interpreters {
        for dir in &interpreter.site_packages {
            if !dirs.contains(&dir.as_str()) {
                dirs.push(dir);
            }
        }
    }
    let mut distributions = Vec::new();
    for dir in dirs {
        distributions.extend(distributions_in(rootfs, dir)?);
    }
    distributions
        .sort_by(|a, b| (normalize(&a.name), &a.location).cmp(&(normalize(&b.name), &b.location)));
    Ok(Python {
        interpreters,
        pip: pip_config(rootfs, &env)?,
        distributions,
    })
}

fn interpreters(
    rootfs: &RootFs,
    env: &BTreeMap<String, String>,
    dpkg: &[DpkgPackage],
) -> Result<Vec<Interpreter>, ImageError> {
    // Real file → the names that lead to it, in PATH order.
    let mut found: Vec<(String, Vec<String>)> = Vec::new();
    let mut dirs_seen: Vec<String> = Vec::new();
    for dir in BIN_DIRS {
        // `/bin` is `/usr/bin` on a merged-/usr system: list each directory once.
        let real_dir = rootfs.resolve(dir)?;
        if dirs_seen.contains(&real_dir) {
            continue;
        }
        dirs_seen.push(real_dir);
        for (name, _) in rootfs.list_dir(dir)? {
            if !is_python_name(&name) {
                continue;
            }
            let path = format!("{dir}/{name}");
            let Some((resolved, node)) = rootfs.stat(&path)? else {
                continue;
            };
            if node.kind != Kind::File {
                continue;
            }
            let shown = format!("/{path}");
            match found.iter_mut().find(|(real, _)| *real == resolved) {
                Some((_, names)) => {
                    if !names.contains(&shown) {
                        names.push(shown);
                    }
                }
                None => found.push((resolved, vec![shown])),
            }
        }
    }
    let mut out = Vec::new();
    for (real, names) in found {
        let Some(prefix) = real
            .rsplit_once('/')
            .and_then(|(bin, _)| bin.rsplit_once('/'))
            .map(|(p, _)| p.to_string())
        else {
            continue;
        };
        let name = real.rsplit('/').next().unwrap_or("");
        let short = match name.strip_prefix("python") {
            Some(v) if v.contains('.') => Some(v.to_string()),
            _ => stdlib_versions(rootfs, &prefix)?.pop(),
        };
        let Some(short) = short else { continue };
        if !rootfs.exists(&format!("{prefix}/lib/python{short}/os.py")) {
            continue; // not an interpreter with its standard library: a wrapper script
        }
        let debian = prefix == "usr"
            && (rootfs.is_dir("usr/lib/python3/dist-packages")
                || dpkg
                    .iter()
                    .any(|p| p.name == format!("python{short}-minimal")));
        let (purelib, dist_packages, site_packages) = if debian {
            let purelib = format!("/usr/local/lib/python{short}/dist-packages");
            let system = "/usr/lib/python3/dist-packages".to_string();
            let site = vec![
                purelib.clone(),
                system.clone(),
                format!("/usr/lib/python{short}/dist-packages"),
            ];
            (purelib, Some(system), site)
        } else {
            let purelib = format!("/{prefix}/lib/python{short}/site-packages");
            (purelib.clone(), None, vec![purelib])
        };
        let path = format!("/{real}");
        out.push(Interpreter {
            version: full_version(rootfs, &prefix, &short, env, dpkg)?,
            aliases: names.into_iter().filter(|n| *n != path).collect(),
            path,
            version_short: short,
            prefix: format!("/{prefix}"),
            purelib,
            dist_packages,
            site_packages,
        });
    }
    Ok(out)
}

/// `python3` or `python3.11`, not `python3-config` or `python3.11m-foo`.
fn is_python_name(name: &str) -> bool {
    match name.strip_prefix("python3") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('.')
            .is_some_and(|minor| !minor.is_empty() && minor.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// The `3.X` of every `PREFIX/lib/python3.X` holding a standard library, ascending.
fn stdlib_versions(rootfs: &RootFs, prefix: &str) -> Result<Vec<String>, ImageError> {
    let mut versions: Vec<(u32, String)> = rootfs
        .list_dir(&format!("{prefix}/lib"))?
        .into_iter()
        .filter_map(|(name, _)| {
            let short = name.strip_prefix("python")?.to_string();
            let minor: u32 = short.strip_prefix("3.")?.parse().ok()?;
            rootfs
                .exists(&format!("{prefix}/lib/{name}/os.py"))
                .then_some((minor, short))
        })
        .collect();
    versions.sort();
    Ok(versions.into_iter().map(|(_, s)| s).collect())
}

/// `3.11.2`: from `patchlevel.h` (installed with the headers), else the Debian package
/// `python3.11-minimal`, else the image's `PYTHON_VERSION` (set by the `python:`
/// images), else just `3.11`.
fn full_version(
    rootfs: &RootFs,
    prefix: &str,
    short: &str,
    env: &BTreeMap<String, String>,
    dpkg: &[DpkgPackage],
) -> Result<String, ImageError> {
    let header = format!("{prefix}/include/python{short}/patchlevel.h");
    if let Some(bytes) = rootfs.read_file(&header)? {
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("#define PY_VERSION")
                && let Some(v) = rest
                    .trim()
                    .strip_prefix('"')
                    .and_then(|r| r.split('"').next())
            {
                return Ok(v.trim_end_matches('+').to_string());
            }
        }
    }
    if prefix == "usr"
        && let Some(p) = dpkg
            .iter()
            .find(|p| p.name == format!("python{short}-minimal"))
    {
        let upstream = p
            .version
            .split_once(':')
            .map_or(p.version.as_str(), |(_, v)| v);
        let upstream = upstream.split('-').next().unwrap_or(upstream);
        let numeric: String = upstream
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if numeric.starts_with(&format!("{short}.")) {
            return Ok(numeric.trim_end_matches('.').to_string());
        }
    }
    if let Some(v) = env.get("PYTHON_VERSION")
        && v.starts_with(&format!("{short}."))
    {
        return Ok(v.clone());
    }
    Ok(short.to_string())
}

/// Distributions in one site directory: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`
/// and single-file `*.egg-info`.
fn distributions_in(rootfs: &RootFs, dir: &str) -> Result<Vec<Distribution>, ImageError> {
    let mut out = Vec::new();
    for (name, _) in rootfs.list_dir(dir)? {
        let base = format!("{dir}/{name}");
        let metadata = if name.ends_with(".dist-info") {
            format!("{base}/METADATA")
        } else if name.ends_with(".egg-info") {
            if rootfs.is_dir(&base) {
                format!("{base}/PKG-INFO")
            } else {
                base.clone()
            }
        } else {
            continue;
        };
        let Some(bytes) = rootfs.read_head(&metadata)? else {
            continue;
        };
        let fields = headers(&String::from_utf8_lossy(&bytes));
        let (Some(dist), Some(version)) = (fields.get("Name"), fields.get("Version")) else {
            continue;
        };
        let installer = if name.ends_with(".dist-info") {
            rootfs
                .read_file(&format!("{base}/INSTALLER"))?
                .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        } else {
            None
        };
        out.push(Distribution {
            name: dist.to_string(),
            version: version.to_string(),
            location: dir.to_string(),
            installer,
            metadata_path: format!("{}/{name}", dir.trim_end_matches('/')),
        });
    }
    Ok(out)
}

/// The distributions in the users' own site directories (`~/.local/lib/python3.X/
/// site-packages` of root and of each home under `/home`), where `pip install --user`,
/// or a pip.conf with `user = true` (as Cloudera's runtimes have), puts what a session
/// installs. Python reads them before the system's.
pub fn user_distributions(
    rootfs: &RootFs,
    python: &Python,
) -> Result<Vec<Distribution>, ImageError> {
    let mut homes = vec!["root".to_string()];
    for (name, _) in rootfs.list_dir("home")? {
        homes.push(format!("home/{name}"));
    }
    let mut shorts: Vec<&str> = python
        .interpreters
        .iter()
        .map(|i| i.version_short.as_str())
        .collect();
    shorts.dedup();
    let mut out = Vec::new();
    for home in &homes {
        for short in &shorts {
            let dir = format!("/{home}/.local/lib/python{short}/site-packages");
            if rootfs.is_dir(&dir) {
                out.extend(distributions_in(rootfs, &dir)?);
            }
        }
    }
    Ok(out)
}

/// The files [`recorded_files`] reads.
pub fn record_wanted(path: &str, _size: u64) -> Option<Keep> {
    path.ends_with(".dist-info/RECORD").then_some(Keep::Whole)
}

/// The files the installer recorded for `dist` with their SHA-256 (its `RECORD`, as
/// the wheel spec defines it), or `None` when it has none (an `.egg-info`, a Debian
/// package's distribution). Entries without a hash (`RECORD` itself, bytecode written
/// later) are left out.
pub fn recorded_files(
    rootfs: &RootFs,
    dist: &Distribution,
) -> Result<Option<Vec<Recorded>>, ImageError> {
    if !dist.metadata_path.ends_with(".dist-info") {
        return Ok(None);
    }
    let Some(bytes) = rootfs.read_file(&format!("{}/RECORD", dist.metadata_path))? else {
        return Ok(None);
    };
    Ok(Some(parse_record(
        &String::from_utf8_lossy(&bytes),
        &dist.location,
    )))
}

/// The rows of a RECORD (CSV: path, `sha256=` urlsafe base64 without padding, size),
/// paths taken relative to the site directory `location`.
fn parse_record(text: &str, location: &str) -> Vec<Recorded> {
    use base64::Engine as _;
    text.lines()
        .filter_map(|line| {
            let fields = csv_fields(line);
            let (path, hash) = (fields.first()?, fields.get(1)?);
            let encoded = hash.strip_prefix("sha256=")?;
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .ok()?;
            let digest = RecordedDigest::Sha256(bytes.try_into().ok()?);
            let path = crate::base::recorded::join(location, path)?;
            Some(Recorded { path, digest })
        })
        .collect()
}

/// One CSV line's fields: `,` separates, `"…"` quotes, `""` is a quote inside quotes.
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let field = fields.last_mut().expect("never empty");
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => field.push(c),
        }
    }
    fields
}

/// PEP 503 normalized name, for sorting.
fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

fn pip_config(rootfs: &RootFs, env: &BTreeMap<String, String>) -> Result<PipConfig, ImageError> {
    let mut paths: Vec<String> = PIP_CONF.iter().map(|p| p.to_string()).collect();
    if let Some(file) = env.get("PIP_CONFIG_FILE") {
        paths.push(file.trim_start_matches('/').to_string());
    }
    let mut files = Vec::new();
    let mut merged: BTreeMap<String, String> = BTreeMap::new();
    for path in paths {
        if let Some(bytes) = rootfs.read_file(&path)? {
            let settings = parse_ini(&String::from_utf8_lossy(&bytes));
            merged.extend(settings.clone());
            files.push(PipConfigFile {
                path: format!("/{path}"),
                settings,
            });
        }
    }
    let pip_env: BTreeMap<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("PIP_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let setting = |env_name: &str, key: &str| {
        pip_env
            .get(env_name)
            .or_else(|| merged.get(&format!("install.{key}")))
            .or_else(|| merged.get(&format!("global.{key}")))
            .cloned()
    };
    Ok(PipConfig {
        index_url: setting("PIP_INDEX_URL", "index-url"),
        extra_index_urls: setting("PIP_EXTRA_INDEX_URL", "extra-index-url")
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        files,
        env: pip_env,
    })
}

/// pip's INI files: `[section]`, `key = value` or `key: value`, indented continuation
/// lines (multi-value options), `#`/`;` comments. Keys with `_` become `-`, as pip does.
pub(crate) fn parse_ini(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(key) = &last
                && let Some(value) = out.get_mut(key)
            {
                let value: &mut String = value;
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = name.trim().to_string();
            last = None;
            continue;
        }
        let split = trimmed
            .find(['=', ':'])
            .map(|i| (&trimmed[..i], &trimmed[i + 1..]));
        if let Some((key, value)) = split {
            let key = format!("{section}.{}", key.trim().replace('_', "-"));
            out.insert(key.clone(), value.trim().to_string());
            last = Some(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_rows() {
        let files = parse_record(
            "idna/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n\"a,\"\"b\"\".py\",sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\nidna-3.7.dist-info/RECORD,,\n../../../bin/x,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\nbad,sha256=!!,1\n",
            "/usr/local/lib/python3.11/site-packages",
        );
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/usr/local/lib/python3.11/site-packages/idna/__init__.py",
                "/usr/local/lib/python3.11/site-packages/a,\"b\".py",
                "/usr/local/bin/x"
            ]
        );
        let empty = crate::image::rootfs::FileDigests::of(b"");
        assert!(files[0].digest.matches(&empty));
    }

    #[test]
    fn names_and_ini() {
        assert!(is_python_name("python3"));
        assert!(is_python_name("python3.11"));
        assert!(!is_python_name("python3-config"));
        assert!(!is_python_name("python3.11-config"));
        assert!(!is_python_name("python2.7"));
        let ini = parse_ini(
            "[global]\nindex-url = http://127.0.0.1/simple\nextra_index_url =\n    http://127.0.0.1/a\n    http://127.0.0.1/b\nuser = true\n[install]\ntrusted-host: 127.0.0.1\n",
        );
        assert_eq!(ini["global.index-url"], "http://127.0.0.1/simple");
        assert_eq!(
            ini["global.extra-index-url"],
            "http://127.0.0.1/a\nhttp://127.0.0.1/b"
        );
        assert_eq!(ini["install.trusted-host"], "127.0.0.1");
    }
}
