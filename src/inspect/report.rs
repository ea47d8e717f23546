//! The report of `rtlock inspect`: the image's facts and its inventory, and their
//! renderings (text, and JSON through serde).
//!
//! # `--format json` (stable; fields may be added, never renamed or removed)
//!
//! ```json
//! {
//!   "image": {"source": "oci:out:latest", "manifest_digest": "sha256:…" | null,
//!             "config_digest": "sha256:…", "created": "…" | null,
//!             "layers": [{"digest": "sha256:…" | null, "diff_id": "sha256:…" | null,
//!                         "size": 123 | null, "media_type": "…" | null}]},
//!   "os": {"id": "debian", "version_id": "12", "version_codename": "bookworm",
//!          "pretty_name": "…", "os_release": {"ID": "debian", …},
//!          "architecture": "amd64", "variant": null,
//!          "glibc": {"version": "2.36", "source": "/usr/lib/x86_64-linux-gnu/libc.so.6"} | null},
//!   "apt": {"sources": [{"file": "/etc/apt/sources.list", "format": "one-line" | "deb822",
//!                        "enabled": true, "types": ["deb"], "uris": ["http://…"],
//!                        "suites": ["bookworm"], "components": ["main"],
//!                        "signed_by": ["/usr/share/keyrings/…"], "options": ["arch=amd64"]}],
//!           "keyrings": ["/usr/share/keyrings/debian-archive-keyring.gpg"],
//!           "packages": [{"name": "libc6", "version": "2.36-9+deb12u4",
//!                         "architecture": "amd64", "status": "installed", "source": "glibc"}]},
//!   "python": {"interpreters": [{"path": "/usr/bin/python3.11", "aliases": ["/usr/bin/python3"],
//!                                "version": "3.11.2", "version_short": "3.11", "prefix": "/usr",
//!                                "purelib": "/usr/local/lib/python3.11/dist-packages",
//!                                "dist_packages": "/usr/lib/python3/dist-packages" | null,
//!                                "site_packages": ["…"]}],
//!              "pip": {"files": [{"path": "/etc/pip.conf", "settings": {"global.index-url": "…"}}],
//!                      "env": {"PIP_INDEX_URL": "…"}, "index_url": "…" | null,
//!                      "extra_index_urls": []},
//!              "distributions": [{"name": "pip", "version": "23.0.1",
//!                                 "location": "/usr/lib/python3/dist-packages",
//!                                 "installer": "debian" | null}]},
//!   "r": [{"home": "/usr/lib/R", "version": "4.2.2", "library_paths": ["…"],
//!          "repos": [{"name": "CRAN", "url": "…"}], "rprofile_site": "…" | null,
//!          "packages": [{"name": "MASS", "version": "7.3-58", "priority": "recommended",
//!                        "library": "/usr/lib/R/library"}]}]
//! }
//! ```
//!
//! Everything but `image` depends only on the image's content, so the same image read
//! from any transport gives the same JSON there (`image` differs: a docker archive has
//! no manifest, and its layers are stored uncompressed). dpkg packages and Python
//! distributions are sorted by name; sources, paths and R packages are in the order the
//! image's configuration gives them (R packages by library path, then name, since an
//! earlier library masks a later one). Paths are absolute paths inside the image.

use std::fmt::Write as _;

use serde::Serialize;

use super::inventory::Inventory;
use crate::image::{ImageSource, OpenedImage};
use crate::oci::Digest;

/// The JSON document of `inspect --format json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub image: ImageFacts,
    #[serde(flatten)]
    pub inventory: Inventory,
}

/// Where the image came from and what it is made of.
#[derive(Debug, Serialize)]
pub struct ImageFacts {
    pub source: String,
    pub manifest_digest: Option<Digest>,
    pub config_digest: Digest,
    pub created: Option<String>,
    pub layers: Vec<LayerFacts>,
}

#[derive(Debug, Serialize)]
pub struct LayerFacts {
    pub digest: Option<Digest>,
    pub diff_id: Option<Digest>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
}

/// Where `image` came from and what it is made of.
pub fn facts(source: &ImageSource, image: &OpenedImage) -> ImageFacts {
    ImageFacts {
        source: source.to_string(),
        manifest_digest: image.manifest_digest.clone(),
        config_digest: image.config_digest.clone(),
        created: image.config.created.clone(),
        layers: image
            .layers
            .iter()
            .map(|l| LayerFacts {
                digest: l.digest.clone(),
                diff_id: l.diff_id.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
            })
            .collect(),
    }
}

/// The human-readable report: one section per face, lists one item per line.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    let inv = &report.inventory;
    let image = &report.image;
    let _ = writeln!(s, "image      {}", image.source);
    if let Some(digest) = &image.manifest_digest {
        let _ = writeln!(s, "manifest   {digest}");
    }
    let _ = writeln!(s, "config     {}", image.config_digest);
    if let Some(created) = &image.created {
        let _ = writeln!(s, "created    {created}");
    }
    let _ = writeln!(s, "layers     {}", image.layers.len());

    let os = &inv.os;
    let _ = writeln!(s, "\nOS");
    let name = os
        .pretty_name
        .clone()
        .or_else(|| os.id.clone())
        .unwrap_or_else(|| "unknown (no os-release)".into());
    let _ = writeln!(s, "  {name}");
    let arch = match &os.variant {
        Some(v) => format!("{}/{v}", os.architecture),
        None => os.architecture.clone(),
    };
    let _ = writeln!(s, "  architecture  {arch}");
    match &os.glibc {
        Some(g) => {
            let _ = writeln!(s, "  glibc         {} (from {})", g.version, g.source);
        }
        None => {
            let _ = writeln!(s, "  glibc         none found");
        }
    }

    let apt = &inv.apt;
    let _ = writeln!(s, "\napt sources ({})", apt.sources.len());
    for src in &apt.sources {
        let mut line = format!(
            "  {} {} {} {}",
            src.types.join(","),
            src.uris.join(" "),
            src.suites.join(" "),
            src.components.join(" ")
        );
        if !src.signed_by.is_empty() {
            let _ = write!(line, "  signed-by {}", src.signed_by.join(","));
        }
        if !src.enabled {
            line.push_str("  (disabled)");
        }
        let _ = writeln!(s, "{}  [{}]", line.trim_end(), src.file);
    }
    let _ = writeln!(s, "\napt keyrings ({})", apt.keyrings.len());
    for k in &apt.keyrings {
        let _ = writeln!(s, "  {k}");
    }
    let _ = writeln!(s, "\ndpkg packages ({})", apt.packages.len());
    let width = apt.packages.iter().map(|p| p.name.len()).max().unwrap_or(0);
    for p in &apt.packages {
        let mut line = format!("  {:width$}  {}  {}", p.name, p.version, p.architecture);
        if p.status != "installed" {
            let _ = write!(line, "  ({})", p.status);
        }
        let _ = writeln!(s, "{line}");
    }

    let py = &inv.python;
    let _ = writeln!(s, "\nPython interpreters ({})", py.interpreters.len());
    for i in &py.interpreters {
        let aliases = if i.aliases.is_empty() {
            String::new()
        } else {
            format!(" (also {})", i.aliases.join(", "))
        };
        let _ = writeln!(s, "  {} {}{aliases}", i.path, i.version);
        let _ = writeln!(s, "    purelib        {}", i.purelib);
        if let Some(d) = &i.dist_packages {
            let _ = writeln!(s, "    dist-packages  {d}");
        }
        let _ = writeln!(s, "    site dirs      {}", i.site_packages.join(" "));
    }
    let pip = &py.pip;
    let _ = writeln!(s, "\npip configuration");
    let _ = writeln!(
        s,
        "  index-url        {}",
        pip.index_url.as_deref().unwrap_or("(pip's default)")
    );
    if !pip.extra_index_urls.is_empty() {
        let _ = writeln!(s, "  extra-index-url  {}", pip.extra_index_urls.join(" "));
    }
    for f in &pip.files {
        let _ = writeln!(s, "  {}", f.path);
        for (k, v) in &f.settings {
            let _ = writeln!(s, "    {k} = {}", v.replace('\n', " "));
        }
    }
    for (k, v) in &pip.env {
        let _ = writeln!(s, "  env {k}={v}");
    }
    let _ = writeln!(s, "\nPython distributions ({})", py.distributions.len());
    let width = py
        .distributions
        .iter()
        .map(|d| d.name.len())
        .max()
        .unwrap_or(0);
    for d in &py.distributions {
        let _ = writeln!(s, "  {:width$}  {}  {}", d.name, d.version, d.location);
    }

    if inv.r.is_empty() {
        let _ = writeln!(s, "\nR: not installed");
    }
    for r in &inv.r {
        let _ = writeln!(
            s,
            "\nR {} at {}",
            r.version.as_deref().unwrap_or("(unknown version)"),
            r.home
        );
        let _ = writeln!(s, "  library paths  {}", r.library_paths.join(" "));
        if r.repos.is_empty() {
            let _ = writeln!(s, "  repos          (none set in Rprofile.site)");
        }
        for repo in &r.repos {
            let _ = writeln!(s, "  repos          {}={}", repo.name, repo.url);
        }
        let _ = writeln!(s, "  packages ({})", r.packages.len());
        let width = r.packages.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &r.packages {
            let _ = writeln!(s, "    {:width$}  {}  {}", p.name, p.version, p.library);
        }
    }
    s
}
