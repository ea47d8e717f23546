//! The operating system of an image: os-release, architecture, glibc.

use std::collections::BTreeMap;

use serde::Serialize;

use super::dpkg::DpkgPackage;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, Kind, RootFs};
use crate::oci::types::ImageConfig;

/// What the image says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Os {
    /// `ID` of os-release (`debian`, `ubuntu`, …).
    pub id: Option<String>,
    pub version_id: Option<String>,
    pub version_codename: Option<String>,
    pub pretty_name: Option<String>,
    /// Every os-release field, as written.
    pub os_release: BTreeMap<String, String>,
    /// From the image config (`amd64`, `arm64`, …).
    pub architecture: String,
    pub variant: Option<String>,
    pub glibc: Option<Glibc>,
}

/// The C library's version, and how rtlock learned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Glibc {
    /// `2.36`: what `ldd --version` ends with, and what manylinux tags compare with.
    pub version: String,
    /// `/usr/lib/x86_64-linux-gnu/libc.so.6` or `dpkg libc6 2.36-9+deb12u4`.
    pub source: String,
}

/// os-release: `/etc/os-release`, else `/usr/lib/os-release`, as systemd reads them.
const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// The largest libc read to find its version banner (glibc's is about 2 MB).
const MAX_LIBC: u64 = 16 << 20;

pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    if OS_RELEASE.contains(&path) {
        return Some(Keep::Whole);
    }
    if is_libc_path(path) && size <= MAX_LIBC {
        return Some(Keep::Whole);
    }
    None
}

fn is_libc_path(path: &str) -> bool {
    (path.starts_with("lib") || path.starts_with("usr/lib"))
        && (path.ends_with("/libc.so.6") || path == "lib/libc.so.6")
        && path.matches('/').count() <= 3
}

pub fn inventory(
    rootfs: &RootFs,
    config: &ImageConfig,
    dpkg: &[DpkgPackage],
) -> Result<Os, ImageError> {
    let mut os_release = BTreeMap::new();
    for path in OS_RELEASE {
        if let Some(bytes) = rootfs.read_file(path)? {
            os_release = parse_os_release(&String::from_utf8_lossy(&bytes));
            break;
        }
    }
    let field = |k: &str| os_release.get(k).cloned();
    Ok(Os {
        id: field("ID"),
        version_id: field("VERSION_ID"),
        version_codename: field("VERSION_CODENAME"),
        pretty_name: field("PRETTY_NAME"),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
        glibc: glibc(rootfs, dpkg)?,
        os_release,
    })
}

/// `KEY=value` lines; values may be quoted with `"` or `'` and use `\` escapes.
pub(crate) fn parse_os_release(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let unquoted = match value.as_bytes().first() {
            Some(q @ (b'"' | b'\'')) if value.len() >= 2 && value.ends_with(*q as char) => {
                &value[1..value.len() - 1]
            }
            _ => value,
        };
        let mut text = String::new();
        let mut chars = unquoted.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                text.extend(chars.next());
            } else {
                text.push(c);
            }
        }
        out.insert(key.trim().to_string(), text);
    }
    out
}

/// glibc's version: from a `libc-2.31.so` file name (glibc before 2.34 installed
/// `libc.so.6` as a link to it), else from the banner inside `libc.so.6` ("… release
/// version 2.36."), else from dpkg's `libc6` package. Musl images have none.
fn glibc(rootfs: &RootFs, dpkg: &[DpkgPackage]) -> Result<Option<Glibc>, ImageError> {
    let candidates: Vec<String> = rootfs
        .paths()
        .filter(|(path, _)| is_libc_path(path))
        .map(|(path, _)| path.to_string())
        .collect();
    for path in candidates {
        if let Some((resolved, node)) = rootfs.stat(&path)?
            && node.kind == Kind::File
        {
            let name = resolved.rsplit('/').next().unwrap_or("");
            if let Some(version) = name
                .strip_prefix("libc-")
                .and_then(|v| v.strip_suffix(".so"))
            {
                return Ok(Some(Glibc {
                    version: version.to_string(),
                    source: format!("/{resolved}"),
                }));
            }
            if let Some(bytes) = rootfs.read_file(&resolved)?
                && let Some(version) = banner_version(&bytes)
            {
                return Ok(Some(Glibc {
                    version,
                    source: format!("/{resolved}"),
                }));
            }
        }
    }
    Ok(dpkg
        .iter()
        .find(|p| p.name == "libc6" || p.name == "libc6.1")
        .map(|p| Glibc {
            version: upstream_major_minor(&p.version),
            source: format!("dpkg {} {}", p.name, p.version),
        }))
}

/// `2.36` from glibc's banner `… stable release version 2.36.`
fn banner_version(bytes: &[u8]) -> Option<String> {
    const MARK: &[u8] = b"release version ";
    let at = bytes.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let version: String = bytes[at..]
        .iter()
        .take(16)
        .map(|&b| b as char)
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let version = version.trim_end_matches('.');
    (!version.is_empty()).then(|| version.to_string())
}

/// `2.36` from the Debian version `2.36-9+deb12u4` (epoch and revision dropped).
fn upstream_major_minor(version: &str) -> String {
    let upstream = version.split_once(':').map_or(version, |(_, v)| v);
    let upstream = upstream.rsplit_once('-').map_or(upstream, |(u, _)| u);
    upstream.split('.').take(2).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_and_versions() {
        let f = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n# x\nVERSION_ID='12'\nNAME=\"a \\\"b\\\"\"\n",
        );
        assert_eq!(f["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(f["ID"], "debian");
        assert_eq!(f["VERSION_ID"], "12");
        assert_eq!(f["NAME"], "a \"b\"");
        assert_eq!(upstream_major_minor("2.36-9+deb12u4"), "2.36");
        assert_eq!(
            banner_version(
                b"xx GNU C Library (Debian GLIBC 2.36-9) stable release version 2.36.\n"
            ),
            Some("2.36".into())
        );
        assert!(is_libc_path("usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(is_libc_path("lib/x86_64-linux-gnu/libc.so.6"));
        assert!(!is_libc_path("usr/lib/python3/x/y/libc.so.6"));
    }
}
