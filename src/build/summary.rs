//! What `rtlock build --format json` prints: the image's digests and layers, and what
//! each ecosystem's layer left to know (SPEC.md's shape; fields may be added, never
//! renamed or removed).

use serde::Serialize;

use super::{BuildNotes, Built};

/// The JSON document of `build --format json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// What standard output's last line says: the manifest digest, or the image ID when
    /// the only destinations are Docker Engines (which store no manifest).
    pub digest: String,
    /// The manifest digest a registry or an image layout holds; `null` when only Docker
    /// Engines were written (their layers travel uncompressed: no such manifest exists).
    pub manifest: Option<String>,
    /// The config digest: the image ID `docker images` shows, the same for every
    /// destination.
    pub config: String,
    pub layers: Vec<LayerSummary>,
    /// Present when the image has an apt layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apt: Option<AptSummary>,
    /// Present when the image has a pip layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pip: Option<PipSummary>,
}

#[derive(Debug, Serialize)]
pub struct PipSummary {
    /// The wheels installed.
    pub packages: usize,
}

#[derive(Debug, Serialize)]
pub struct AptSummary {
    /// Packages whose maintainer scripts did not run.
    pub pending_configure: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LayerSummary {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    pub media_type: String,
}

/// The summary of `built`, with what the build left (`notes`) and how many wheels it
/// installed.
pub fn of(built: &Built, notes: &BuildNotes, pip_packages: usize, daemon_only: bool) -> Summary {
    let manifest = built.image.manifest_digest.to_string();
    let config = built.image.config_descriptor.digest.to_string();
    Summary {
        digest: if daemon_only {
            config.clone()
        } else {
            manifest.clone()
        },
        manifest: (!daemon_only).then_some(manifest),
        config,
        layers: built
            .image
            .layers
            .iter()
            .map(|l| LayerSummary {
                digest: l.descriptor.digest.to_string(),
                diff_id: l.diff_id.to_string(),
                size: l.descriptor.size,
                media_type: l.descriptor.media_type.clone(),
            })
            .collect(),
        apt: notes.apt_layer.then(|| AptSummary {
            pending_configure: notes.apt_pending_configure.clone(),
        }),
        pip: notes.pip_layer.then_some(PipSummary {
            packages: pip_packages,
        }),
    }
}
