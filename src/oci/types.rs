//! The documents of an image: index, manifest, config, and the descriptors that link
//! them. Plain serde types with ordered maps; fields rtlock does not model are kept in
//! `extra` so that reading and re-writing a base image's config loses nothing.
//!
//! Write them with [`super::canonical_json`], never with `serde_json::to_vec` directly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Digest;

type Extra = BTreeMap<String, Value>;

/// A pointer to a blob: what it is, its digest and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: None,
            urls: None,
            extra: Extra::new(),
        }
    }
}

/// `os/architecture[/variant]` as in an index entry or a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
}

impl Platform {
    /// `os/architecture[/variant]`, with none of the fields only Windows images use.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant: variant.map(str::to_string),
            os_version: None,
            os_features: None,
        }
    }

    /// The entry of a multi-platform index for this platform.
    pub fn select<'a>(&self, index: &'a ImageIndex) -> Option<&'a Descriptor> {
        select_platform(index, &self.os, &self.architecture, self.variant.as_deref())
    }

    /// Does this index entry serve `os/architecture[/variant]`? A missing variant on
    /// either side matches (arm64 images rarely say v8).
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && match (self.variant.as_deref(), variant) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Any `os/architecture[/variant]`, as `--platform` and `[base] platform` write it;
/// which of them rtlock builds for is the manifest's rule, checked where it is read.
impl std::str::FromStr for Platform {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "`{s}` is not a platform: expected OS/ARCH[/VARIANT], e.g. linux/amd64"
            ));
        }
        Ok(Platform::new(parts[0], parts[1], parts.get(2).copied()))
    }
}

/// linux/amd64, the platform a manifest without `[base] platform` builds for.
impl Default for Platform {
    fn default() -> Self {
        Platform::new("linux", "amd64", None)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// An OCI image index or a Docker manifest list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An image manifest: one config and the layers, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The image config (OCI image-spec `config.json`, compatible with Docker's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The runtime defaults of a container of the image.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The platforms an index offers, for an error message.
pub fn platform_list(index: &ImageIndex) -> String {
    let list: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| p.to_string())
        .collect();
    if list.is_empty() {
        "no platforms".into()
    } else {
        list.join(", ")
    }
}

/// The manifest of `index` for `os/arch[/variant]`, as `docker pull --platform` picks it.
///
/// An entry whose variant equals the one asked for wins over one without a variant
/// (a missing variant on either side matches, since arm64 images rarely say `v8`);
/// attestation manifests (build provenance, SBOMs) are never picked. Common aliases of
/// architecture names (`x86_64`, `aarch64`) are understood.
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    os: &str,
    arch: &str,
    variant: Option<&str>,
) -> Option<&'a Descriptor> {
    let arch = match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let mut fallback = None;
    for descriptor in &index.manifests {
        let Some(platform) = &descriptor.platform else {
            continue;
        };
        if is_attestation(descriptor) || !platform.matches(os, arch, variant) {
            continue;
        }
        if platform.variant.as_deref() == variant {
            return Some(descriptor);
        }
        fallback.get_or_insert(descriptor);
    }
    fallback
}

/// BuildKit's attestation manifests sit in the index next to the images.
fn is_attestation(descriptor: &Descriptor) -> bool {
    descriptor
        .annotations
        .as_ref()
        .and_then(|a| a.get("vnd.docker.reference.type"))
        .is_some_and(|t| t == "attestation-manifest")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        let mut d = Descriptor::new(crate::oci::media_type::OCI_MANIFEST, Digest::of(&[n]), 1);
        d.platform = Some(Platform::new(os, arch, variant));
        d
    }

    #[test]
    fn platforms() {
        let mut attestation = entry(0, "linux", "amd64", None);
        attestation.annotations = Some(
            [(
                "vnd.docker.reference.type".to_string(),
                "attestation-manifest".to_string(),
            )]
            .into(),
        );
        let index = ImageIndex {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                attestation,
                entry(1, "linux", "arm", Some("v6")),
                entry(2, "linux", "arm", Some("v7")),
                entry(3, "linux", "amd64", None),
                entry(4, "linux", "arm64", None),
                entry(5, "linux", "arm64", Some("v8")),
                entry(6, "windows", "amd64", None),
            ],
            annotations: None,
            extra: Default::default(),
        };
        let pick = |os, arch, variant| {
            select_platform(&index, os, arch, variant).map(|d| d.digest.clone())
        };
        assert_eq!(pick("linux", "amd64", None), Some(Digest::of(&[3])));
        assert_eq!(pick("linux", "x86_64", None), Some(Digest::of(&[3])));
        assert_eq!(pick("linux", "arm", Some("v7")), Some(Digest::of(&[2])));
        assert_eq!(pick("linux", "arm64", Some("v8")), Some(Digest::of(&[5])));
        assert_eq!(pick("linux", "arm64", None), Some(Digest::of(&[4])));
        assert_eq!(pick("windows", "amd64", None), Some(Digest::of(&[6])));
        assert_eq!(pick("linux", "s390x", None), None);
    }

    #[test]
    fn a_config_round_trips_with_fields_rtlock_does_not_model() {
        let text = r#"{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z",
            "config":{"Env":["PATH=/usr/bin"],"ExposedPorts":{"8080/tcp":{}},"StopSignal":"SIGTERM"},
            "rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},
            "history":[{"created_by":"debootstrap"}],"docker_version":"20.10"}"#;
        let config: ImageConfig = serde_json::from_str(text).unwrap();
        let again: ImageConfig =
            serde_json::from_slice(&crate::oci::canonical_json::to_vec(&config)).unwrap();
        assert_eq!(again, config);
        assert!(
            config
                .config
                .as_ref()
                .unwrap()
                .extra
                .contains_key("ExposedPorts")
        );
        assert!(config.extra.contains_key("docker_version"));
    }
}
