//! apt and dpkg in an image: the sources apt would use (one-line `.list` and deb822
//! `.sources` files), the keyrings present, and the packages dpkg has installed.

use serde::Serialize;

use super::control::{Paragraph, paragraphs};
use crate::image::ImageError;
use crate::image::rootfs::{Keep, Kind, RootFs};

/// apt's configuration and dpkg's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Apt {
    pub sources: Vec<Source>,
    /// Keyring files in the places apt and the sources use (`/etc/apt/trusted.gpg`,
    /// `/etc/apt/trusted.gpg.d`, `/etc/apt/keyrings`, `/usr/share/keyrings`).
    pub keyrings: Vec<String>,
    pub packages: Vec<DpkgPackage>,
}

/// One source entry (a line of a `.list` file, or a paragraph of a `.sources` file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Source {
    /// The file it is in (`/etc/apt/sources.list`).
    pub file: String,
    /// `one-line` or `deb822`.
    pub format: &'static str,
    /// `false` for a deb822 paragraph with `Enabled: no`.
    pub enabled: bool,
    /// `deb`, `deb-src`.
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// Keyring paths from `signed-by` / `Signed-By`; `inline` for an embedded key.
    pub signed_by: Vec<String>,
    /// Other options (`arch=amd64`, `trusted=yes`, …), `name=value`.
    pub options: Vec<String>,
}

/// A package in dpkg's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DpkgPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// dpkg's state (`installed`, `config-files`, `half-configured`, …).
    pub status: String,
    /// The source package, when it differs from the name (`glibc` for `libc6`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

const SOURCES_LIST: &str = "etc/apt/sources.list";
const SOURCES_DIR: &str = "etc/apt/sources.list.d";
const DPKG_STATUS: &str = "var/lib/dpkg/status";
/// Distroless images keep one status file per package here instead.
const DPKG_STATUS_DIR: &str = "var/lib/dpkg/status.d";
const KEYRING_DIRS: [&str; 3] = [
    "etc/apt/trusted.gpg.d",
    "etc/apt/keyrings",
    "usr/share/keyrings",
];

pub fn wanted(path: &str, _size: u64) -> Option<Keep> {
    let keep = path == SOURCES_LIST
        || path == DPKG_STATUS
        || path.starts_with("etc/apt/sources.list.d/")
        || path.starts_with("var/lib/dpkg/status.d/");
    keep.then_some(Keep::Whole)
}

pub fn inventory(rootfs: &RootFs) -> Result<Apt, ImageError> {
    Ok(Apt {
        sources: sources(rootfs)?,
        keyrings: keyrings(rootfs)?,
        packages: dpkg_packages(rootfs)?,
    })
}

fn sources(rootfs: &RootFs) -> Result<Vec<Source>, ImageError> {
    let mut out = Vec::new();
    if let Some(bytes) = rootfs.read_file(SOURCES_LIST)? {
        out.extend(one_line_sources(
            &String::from_utf8_lossy(&bytes),
            "/etc/apt/sources.list",
        ));
    }
    for (name, _) in rootfs.list_dir(SOURCES_DIR)? {
        let path = format!("{SOURCES_DIR}/{name}");
        let shown = format!("/{path}");
        if name.ends_with(".list") {
            if let Some(bytes) = rootfs.read_file(&path)? {
                out.extend(one_line_sources(&String::from_utf8_lossy(&bytes), &shown));
            }
        } else if name.ends_with(".sources")
            && let Some(bytes) = rootfs.read_file(&path)?
        {
            out.extend(deb822_sources(&String::from_utf8_lossy(&bytes), &shown));
        }
    }
    Ok(out)
}

/// `deb [opt=val …] URI SUITE [COMPONENT…]` lines.
pub fn one_line_sources(text: &str, file: &str) -> Vec<Source> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((kind, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if kind != "deb" && kind != "deb-src" {
            continue;
        }
        let mut rest = rest.trim_start();
        let mut options = Vec::new();
        if let Some(after) = rest.strip_prefix('[') {
            let Some((inside, tail)) = after.split_once(']') else {
                continue;
            };
            options = inside.split_whitespace().map(str::to_string).collect();
            rest = tail;
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        let mut signed_by = Vec::new();
        let mut other = Vec::new();
        for option in options {
            match option.split_once('=') {
                Some(("signed-by", value)) => {
                    signed_by.extend(value.split(',').map(str::to_string));
                }
                _ => other.push(option),
            }
        }
        out.push(Source {
            file: file.to_string(),
            format: "one-line",
            enabled: true,
            types: vec![kind.to_string()],
            uris: vec![uri.to_string()],
            suites: vec![suite.to_string()],
            components: words.map(str::to_string).collect(),
            signed_by,
            options: other,
        });
    }
    out
}

/// deb822 paragraphs (`Types:`, `URIs:`, `Suites:`, `Components:`, `Signed-By:`).
pub fn deb822_sources(text: &str, file: &str) -> Vec<Source> {
    let known = [
        "types",
        "uris",
        "suites",
        "components",
        "signed-by",
        "enabled",
    ];
    paragraphs(text)
        .into_iter()
        .filter(|p| p.get("Types").is_some() && p.get("URIs").is_some())
        .map(|p: Paragraph| {
            let words = |name: &str| -> Vec<String> {
                p.get(name)
                    .map(|v| v.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default()
            };
            let signed_by = match p.get("Signed-By") {
                Some(v) if v.contains("BEGIN PGP") => vec!["inline".to_string()],
                Some(v) => v.split_whitespace().map(str::to_string).collect(),
                None => Vec::new(),
            };
            Source {
                file: file.to_string(),
                format: "deb822",
                enabled: !p
                    .get("Enabled")
                    .is_some_and(|v| v.eq_ignore_ascii_case("no")),
                types: words("Types"),
                uris: words("URIs"),
                suites: words("Suites"),
                components: words("Components"),
                signed_by,
                options: p
                    .fields
                    .iter()
                    .filter(|(k, _)| !known.contains(&k.to_ascii_lowercase().as_str()))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            }
        })
        .collect()
}

fn keyrings(rootfs: &RootFs) -> Result<Vec<String>, ImageError> {
    let mut out = Vec::new();
    if rootfs
        .stat("etc/apt/trusted.gpg")?
        .is_some_and(|(_, n)| n.kind == Kind::File)
    {
        out.push("/etc/apt/trusted.gpg".to_string());
    }
    for dir in KEYRING_DIRS {
        for (name, _) in rootfs.list_dir(dir)? {
            let path = format!("{dir}/{name}");
            if rootfs
                .stat(&path)?
                .is_some_and(|(_, n)| n.kind == Kind::File)
            {
                out.push(format!("/{path}"));
            }
        }
    }
    Ok(out)
}

fn dpkg_packages(rootfs: &RootFs) -> Result<Vec<DpkgPackage>, ImageError> {
    let mut text = String::new();
    if let Some(bytes) = rootfs.read_file(DPKG_STATUS)? {
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    for (name, _) in rootfs.list_dir(DPKG_STATUS_DIR)? {
        if let Some(bytes) = rootfs.read_file(&format!("{DPKG_STATUS_DIR}/{name}"))? {
            text.push_str("\n\n");
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    let mut packages = parse_status(&text);
    packages.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    Ok(packages)
}

/// The packages of a dpkg status file that dpkg knows as present in some state (those
/// `dpkg-query -W` lists); `not-installed` entries are left out.
pub fn parse_status(text: &str) -> Vec<DpkgPackage> {
    paragraphs(text)
        .into_iter()
        .filter_map(|p| {
            let name = p.get("Package")?.to_string();
            // A distroless status.d file has no Status: it is installed by construction.
            let status = p
                .get("Status")
                .and_then(|s| s.split_whitespace().nth(2))
                .unwrap_or("installed")
                .to_string();
            if status == "not-installed" {
                return None;
            }
            let source = p
                .get("Source")
                .map(|s| s.split_whitespace().next().unwrap_or(s).to_string())
                .filter(|s| *s != name);
            Some(DpkgPackage {
                version: p.get("Version").unwrap_or("").to_string(),
                architecture: p.get("Architecture").unwrap_or("").to_string(),
                status,
                source,
                name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_and_deb822_sources() {
        let list = one_line_sources(
            "# comment\ndeb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://127.0.0.1/debian bookworm main contrib\ndeb-src http://127.0.0.1/d bookworm\nnonsense\n",
            "/etc/apt/sources.list",
        );
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].signed_by, ["/usr/share/keyrings/x.gpg"]);
        assert_eq!(list[0].options, ["arch=amd64"]);
        assert_eq!(list[0].components, ["main", "contrib"]);
        assert_eq!(list[1].types, ["deb-src"]);

        let deb822 = deb822_sources(
            "Types: deb deb-src\nURIs: http://127.0.0.1/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://127.0.0.1/x\nSuites: ./\nEnabled: no\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n",
            "/etc/apt/sources.list.d/debian.sources",
        );
        assert_eq!(deb822.len(), 2);
        assert_eq!(deb822[0].suites, ["bookworm", "bookworm-updates"]);
        assert!(!deb822[1].enabled);
        assert_eq!(deb822[1].signed_by, ["inline"]);
    }

    #[test]
    fn dpkg_status() {
        let p = parse_status(
            "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9\n\nPackage: gone\nStatus: purge ok not-installed\n\nPackage: old\nStatus: deinstall ok config-files\nVersion: 1\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].source.as_deref(), Some("glibc"));
        assert_eq!(p[1].status, "config-files");
    }
}
