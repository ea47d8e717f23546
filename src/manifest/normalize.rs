//! The normalized manifest and its hash. The lock records this hash so that `lock --check`
//! can tell whether the manifest changed in meaning, not merely in formatting.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Manifest;

/// Bumped when the normalized form changes on purpose (it would make every lock stale).
const FORMAT: &str = "rtlock-manifest/1";

/// The manifest as plain, ordered data: struct fields in declaration order, maps sorted,
/// requirements in their canonical spelling. List order is kept, since the order of
/// requests can matter to resolution.
#[derive(Serialize)]
struct Normalized<'a> {
    format: &'static str,
    base_image: &'a str,
    base_platform: String,
    apt_packages: Vec<String>,
    apt_install_recommends: bool,
    apt_sources: Option<&'a [String]>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    apt_exclude_sources: &'a [String],
    pip_packages: Vec<String>,
    pip_index_url: Option<&'a str>,
    pip_extra_index_urls: Vec<&'a str>,
    pip_allow_upgrade: &'a [String],
    r_packages: Vec<String>,
    r_repos: Option<Vec<&'a str>>,
    r_suggests: bool,
    // Skipped at their defaults, so manifests written before these keys existed keep
    // their hash (and their locks stay up to date).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    r_allow_upgrade: &'a [String],
    #[serde(skip_serializing_if = "is_true")]
    r_system_requirements: bool,
    image_env: &'a BTreeMap<String, String>,
    image_labels: &'a BTreeMap<String, String>,
    image_user: Option<&'a str>,
    image_workdir: Option<&'a str>,
    image_entrypoint: Option<&'a [String]>,
    image_cmd: Option<&'a [String]>,
    image_compression: &'static str,
    runtime: Option<Vec<(String, String, String)>>,
    lock_as_of: Option<String>,
}

pub(super) fn hash(manifest: &Manifest) -> String {
    let m = manifest;
    let normalized = Normalized {
        format: FORMAT,
        base_image: &m.base.image,
        base_platform: m.base.platform.to_string(),
        apt_packages: m.apt.packages.iter().map(ToString::to_string).collect(),
        apt_install_recommends: m.apt.install_recommends,
        apt_sources: m.apt.sources.as_deref(),
        apt_exclude_sources: &m.apt.exclude_sources,
        pip_packages: m.pip.packages.iter().map(ToString::to_string).collect(),
        pip_index_url: m.pip.index_url.as_ref().map(url::Url::as_str),
        pip_extra_index_urls: m
            .pip
            .extra_index_urls
            .iter()
            .map(url::Url::as_str)
            .collect(),
        pip_allow_upgrade: &m.pip.allow_upgrade,
        r_packages: m.r.packages.iter().map(ToString::to_string).collect(),
        r_repos: m
            .r
            .repos
            .as_ref()
            .map(|repos| repos.iter().map(url::Url::as_str).collect()),
        r_suggests: m.r.suggests,
        r_allow_upgrade: &m.r.allow_upgrade,
        r_system_requirements: m.r.system_requirements,
        image_env: &m.image.env,
        image_labels: &m.image.labels,
        image_user: m.image.user.as_deref(),
        image_workdir: m.image.workdir.as_deref(),
        image_entrypoint: m.image.entrypoint.as_deref(),
        image_cmd: m.image.cmd.as_deref(),
        image_compression: m.image.compression.as_str(),
        runtime: m.runtime.as_ref().map(|r| r.entries()),
        lock_as_of: m.lock.as_of.map(|t| t.to_string()),
    };
    // serde_json writes struct fields in declaration order and BTreeMaps sorted, so the
    // bytes depend only on the values.
    let bytes = serde_json::to_vec(&normalized).expect("the normalized manifest serializes");
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

fn is_true(value: &bool) -> bool {
    *value
}
