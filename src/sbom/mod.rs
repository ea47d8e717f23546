//! SBOMs: of what an image holds (`audit IMAGE --format spdx|cyclonedx`) and of what a
//! lock promises (`export spdx|cyclonedx`), as SPDX 2.3 JSON ([`spdx`]) and CycloneDX
//! 1.5 JSON ([`cyclonedx`]), from one plain model ([`Sbom`]).
//!
//! # The same bytes for the same input
//!
//! Nothing random and no wall clock: the document's name, SPDX namespace, CycloneDX
//! serial number and timestamp derive from the subject's digest (the image's config
//! digest, or the lock's manifest hash) and the lock's `source-date-epoch`; components
//! are sorted by ecosystem, name, version and architecture; relationships by their ends.
//!
//! Above the ecosystems' inventories and the lockfile, beside `audit`.

pub mod cyclonedx;
pub mod license;
pub mod spdx;

use std::collections::{BTreeMap, BTreeSet};

use crate::inspect::inventory::Inventory;
use crate::lockfile::Lockfile;

/// What an SBOM describes, whatever its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sbom {
    /// The image (or the lock's image to be) the document is about.
    pub subject: Subject,
    /// Seconds since the epoch: the document's creation time (`source-date-epoch`).
    pub created: i64,
    /// Sorted; each [`Component::id`] unique.
    pub components: Vec<Component>,
    /// `(depending, depended on)` by [`Component::id`], sorted.
    pub depends_on: BTreeSet<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The reference as written (`oci:out:latest`, the lock's base reference).
    pub name: String,
    /// `sha256:…`: the image's config digest, or the lock's manifest hash.
    pub digest: String,
    /// What the digest is of, for people: `image` or `lock`.
    pub kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Component {
    /// `apt`, `pip` or `r`.
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
    /// A dpkg architecture (`amd64`, `all`); `None` elsewhere.
    pub arch: Option<String>,
    /// The package URL: `pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64`.
    pub purl: String,
    /// The sha256 of the artifact the lock pins (a .deb, a wheel, a tarball).
    pub sha256: Option<String>,
    /// Where that artifact is downloaded from.
    pub url: Option<String>,
    /// What the package states of its license (Debian's machine-readable copyright,
    /// core metadata, DESCRIPTION), as written.
    pub license: Option<String>,
    /// Unique in the document: `apt:bash:amd64`, `pip:idna`.
    pub id: String,
}

/// The SBOM of what `lock` promises: its packages (not the base's, which it does not
/// name), their artifacts' digests and the lock's graph. `distro` is the purl
/// namespace of Debian packages (the base's os-release `ID`).
pub fn of_lock(lock: &Lockfile, distro: &str) -> Sbom {
    let mut components = Vec::new();
    for p in &lock.apt {
        components.push(Component {
            ecosystem: "apt",
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: Some(p.arch.clone()),
            purl: purl_deb(distro, &p.name, p.version.as_str(), &p.arch),
            sha256: Some(p.sha256.clone()),
            url: Some(p.url.clone()),
            license: None,
            id: String::new(),
        });
    }
    for p in &lock.pip {
        components.push(Component {
            ecosystem: "pip",
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: None,
            purl: purl_pypi(&p.name, p.version.as_str()),
            sha256: Some(p.sha256.clone()),
            url: Some(p.url.clone()),
            license: None,
            id: String::new(),
        });
    }
    for p in &lock.r {
        components.push(Component {
            ecosystem: "r",
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: None,
            purl: purl_cran(&p.name, p.version.as_str()),
            sha256: Some(p.sha256.clone()),
            url: Some(p.url.clone()),
            license: None,
            id: String::new(),
        });
    }
    let subject = Subject {
        name: lock.base.reference.clone(),
        digest: lock.manifest.clone(),
        kind: "lock",
    };
    finish(subject, lock, components)
}

/// The SBOM of what an image holds (`inventory`, with `licenses` read from its files
/// by [`license::of_image`]): every installed dpkg package, Python distribution and R
/// package; the digest and download URL of those the lock pins at the version found,
/// and the lock's graph between them.
pub fn of_image(
    name: String,
    config_digest: String,
    inventory: &Inventory,
    user_distributions: &[crate::pip::inventory::Distribution],
    licenses: &license::Licenses,
    lock: &Lockfile,
) -> Sbom {
    let distro = inventory.os.id.as_deref().unwrap_or("debian");
    let apt_locked: BTreeMap<(&str, &str), _> = lock
        .apt
        .iter()
        .map(|p| ((p.name.as_str(), p.version.as_str()), p))
        .collect();
    let pip_locked: BTreeMap<(String, &str), _> = lock
        .pip
        .iter()
        .map(|p| ((crate::pip::normalize_name(&p.name), p.version.as_str()), p))
        .collect();
    let r_locked: BTreeMap<(&str, &str), _> = lock
        .r
        .iter()
        .map(|p| ((p.name.as_str(), p.version.as_str()), p))
        .collect();
    let mut components = Vec::new();
    for p in &inventory.apt.packages {
        if !crate::base::dpkg::counts_as_installed(&p.status) {
            continue;
        }
        let locked = apt_locked.get(&(p.name.as_str(), p.version.as_str()));
        components.push(Component {
            ecosystem: "apt",
            name: p.name.clone(),
            version: p.version.clone(),
            arch: Some(p.architecture.clone()),
            purl: purl_deb(distro, &p.name, &p.version, &p.architecture),
            sha256: locked.map(|l| l.sha256.clone()),
            url: locked.map(|l| l.url.clone()),
            license: licenses.apt.get(&p.name).cloned(),
            id: String::new(),
        });
    }
    for d in inventory
        .python
        .distributions
        .iter()
        .chain(user_distributions)
    {
        let locked = pip_locked.get(&(crate::pip::normalize_name(&d.name), d.version.as_str()));
        components.push(Component {
            ecosystem: "pip",
            name: d.name.clone(),
            version: d.version.clone(),
            arch: None,
            purl: purl_pypi(&d.name, &d.version),
            sha256: locked.map(|l| l.sha256.clone()),
            url: locked.map(|l| l.url.clone()),
            license: licenses.pip.get(&d.metadata_path).cloned(),
            id: String::new(),
        });
    }
    for r in &inventory.r {
        for p in &r.packages {
            let locked = r_locked.get(&(p.name.as_str(), p.version.as_str()));
            components.push(Component {
                ecosystem: "r",
                name: p.name.clone(),
                version: p.version.clone(),
                arch: None,
                purl: purl_cran(&p.name, &p.version),
                sha256: locked.map(|l| l.sha256.clone()),
                url: locked.map(|l| l.url.clone()),
                license: licenses
                    .r
                    .get(&format!("{}/{}", p.library, p.name))
                    .cloned(),
                id: String::new(),
            });
        }
    }
    let subject = Subject {
        name,
        digest: config_digest,
        kind: "image",
    };
    finish(subject, lock, components)
}

/// Sorts, gives each component its unique id, and adds the lock's `requires` edges
/// between components present.
fn finish(subject: Subject, lock: &Lockfile, mut components: Vec<Component>) -> Sbom {
    components.sort();
    components.dedup();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    // (ecosystem, key name) → id of the first component of that name.
    let mut by_name: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    for c in &mut components {
        let mut id = format!("{}:{}", c.ecosystem, c.name);
        if let Some(arch) = &c.arch {
            id = format!("{id}:{arch}");
        }
        let n = seen.entry(id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            id = format!("{id}:{}", c.version);
        }
        c.id = id;
        by_name
            .entry((c.ecosystem, name_key(c.ecosystem, &c.name)))
            .or_insert_with(|| c.id.clone());
    }
    let mut depends_on = BTreeSet::new();
    let edges = lock
        .apt
        .iter()
        .map(|p| ("apt", &p.name, &p.requires))
        .chain(lock.pip.iter().map(|p| ("pip", &p.name, &p.requires)))
        .chain(lock.r.iter().map(|p| ("r", &p.name, &p.requires)));
    for (ecosystem, name, requires) in edges {
        let Some(from) = by_name.get(&(ecosystem, name_key(ecosystem, name))) else {
            continue;
        };
        for required in requires {
            // `requires` names a package of the same ecosystem, or `ECOSYSTEM:NAME`.
            let (eco, target) = match required.split_once(':') {
                Some((e @ ("apt" | "pip" | "r"), n)) => (e, n),
                _ => (ecosystem, required.as_str()),
            };
            let eco: &'static str = match eco {
                "apt" => "apt",
                "pip" => "pip",
                _ => "r",
            };
            if let Some(to) = by_name.get(&(eco, name_key(eco, target))) {
                depends_on.insert((from.clone(), to.clone()));
            }
        }
    }
    for p in &lock.apt {
        // An apt library that packages of other ecosystems need (`needed-by`).
        let Some(to) = by_name.get(&("apt", p.name.clone())) else {
            continue;
        };
        for needer in &p.needed_by {
            if let Some((eco @ ("pip" | "r"), n)) = needer.split_once(':') {
                let eco: &'static str = if eco == "pip" { "pip" } else { "r" };
                if let Some(from) = by_name.get(&(eco, name_key(eco, n))) {
                    depends_on.insert((from.clone(), to.clone()));
                }
            }
        }
    }
    Sbom {
        subject,
        created: lock.source_date_epoch,
        components,
        depends_on,
    }
}

fn name_key(ecosystem: &str, name: &str) -> String {
    match ecosystem {
        "pip" => crate::pip::normalize_name(name),
        _ => name.to_string(),
    }
}

/// A purl component, percent-encoded as the purl spec asks (everything but
/// `A-Za-z0-9.-_~`).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn purl_deb(distro: &str, name: &str, version: &str, arch: &str) -> String {
    format!(
        "pkg:deb/{}/{}@{}?arch={}",
        encode(&distro.to_ascii_lowercase()),
        encode(name),
        encode(version),
        encode(arch)
    )
}

/// PyPI names in purls are lower case with `_` as `-` (the purl spec's pypi rule).
pub fn purl_pypi(name: &str, version: &str) -> String {
    format!(
        "pkg:pypi/{}@{}",
        encode(&name.to_ascii_lowercase().replace('_', "-")),
        encode(version)
    )
}

pub fn purl_cran(name: &str, version: &str) -> String {
    format!("pkg:cran/{}@{}", encode(name), encode(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_urls() {
        assert_eq!(
            purl_deb("debian", "libc6", "2.36-9+deb12u4", "amd64"),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64"
        );
        assert_eq!(
            purl_deb("debian", "bash", "1:5.2", "amd64"),
            "pkg:deb/debian/bash@1%3A5.2?arch=amd64"
        );
        assert_eq!(
            purl_pypi("Charset_Normalizer", "3.3.2"),
            "pkg:pypi/charset-normalizer@3.3.2"
        );
        assert_eq!(purl_cran("R6", "2.5.1"), "pkg:cran/R6@2.5.1");
    }
}

#[cfg(test)]
mod documents {
    use super::*;

    const LOCK: &str = r#"version = 1
manifest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
source-date-epoch = 1748736000

[base]
reference = "registry.example.com/ml/python:3.11"
digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
manifest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
platform = "linux/amd64"

[[apt]]
name = "libgdal32"
version = "3.6.2+dfsg-1+b2"
arch = "amd64"
url = "http://mirror.example.com/debian/pool/main/g/gdal/libgdal32_3.6.2+dfsg-1+b2_amd64.deb"
filename = "pool/main/g/gdal/libgdal32_3.6.2+dfsg-1+b2_amd64.deb"
sha256 = "3333333333333333333333333333333333333333333333333333333333333333"
size = 100
requires = ["libc6"]
needed-by = ["r:sf"]

[[pip]]
name = "idna"
version = "3.7"
file = "idna-3.7-py3-none-any.whl"
url = "http://127.0.0.1:8080/files/idna-3.7-py3-none-any.whl"
sha256 = "4444444444444444444444444444444444444444444444444444444444444444"
size = 200

[[pip]]
name = "requests"
version = "2.32.3"
file = "requests-2.32.3-py3-none-any.whl"
url = "http://127.0.0.1:8080/files/requests-2.32.3-py3-none-any.whl"
sha256 = "5555555555555555555555555555555555555555555555555555555555555555"
size = 300
requested = true
requires = ["idna"]

[[r]]
name = "sf"
version = "1.0-14"
kind = "source"
url = "http://127.0.0.1:8081/src/contrib/sf_1.0-14.tar.gz"
sha256 = "6666666666666666666666666666666666666666666666666666666666666666"
size = 400
requested = true
"#;

    fn lock() -> Lockfile {
        crate::lockfile::parse(LOCK, std::path::Path::new("runtime.lock")).unwrap()
    }

    #[test]
    fn a_lock_as_spdx_and_cyclonedx() {
        let sbom = of_lock(&lock(), "debian");
        assert_eq!(
            sbom.depends_on,
            BTreeSet::from([
                ("pip:requests".to_string(), "pip:idna".to_string()),
                ("r:sf".to_string(), "apt:libgdal32:amd64".to_string()),
            ])
        );
        let spdx = spdx::document(&sbom);
        let cyclonedx = cyclonedx::document(&sbom);
        assert_eq!(
            spdx::document(&of_lock(&lock(), "debian")),
            spdx,
            "the same bytes"
        );
        insta::assert_snapshot!("lock_spdx", spdx);
        insta::assert_snapshot!("lock_cyclonedx", cyclonedx);
    }
}
