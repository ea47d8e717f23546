//! Cache keys of layers: one plain struct of everything that decides a layer's bytes,
//! hashed as canonical JSON.
//!
//! A key that leaves out an input lets a cache hand one lock's layer to another lock,
//! and the digest then depends on what the cache happened to hold. So every installer
//! fills the same struct, and the hash covers all of it: the packages' pins and every
//! entry field the installer reads (a pure location, such as a URL, is left out: the
//! sha256 decides the bytes, not where they came from), the source-date-epoch, the base
//! manifest, the layers below, the step that made it, and rtlock's layer format. The
//! compression (algorithm and level) is added when the cache files a layer
//! ([`LayerKey::with_compression`]), since one key is written compressed and plain.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::Compression;
use crate::oci::Digest;
use crate::oci::canonical_json;

/// Everything a cached layer is made from.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInputs {
    /// What kind of layer: `apt`, `apt-scripts`, `pip`.
    pub kind: String,
    /// rtlock's format of this kind of layer (bumped when the same inputs would give
    /// other entries).
    pub format: String,
    /// The base image's manifest digest: its files, dpkg database, interpreter.
    pub base_manifest: Digest,
    /// The lock's source-date-epoch: every mtime of the tar.
    pub source_date_epoch: i64,
    /// The diff_ids of rtlock's layers this one is made on, bottom first.
    pub below: Vec<Digest>,
    /// How the layer's program step ran (the apt scripts' configure kind), if any.
    pub step: Option<String>,
    /// The packages, sorted (lock order does not decide the layer).
    pub packages: Vec<PackageInput>,
}

/// What an installer reads of one lock entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PackageInput {
    pub name: String,
    pub version: String,
    /// apt: the architecture; pip: absent.
    pub arch: Option<String>,
    /// pip: the wheel's file name (its tags name the `WHEEL` it installs); apt: absent.
    pub file: Option<String>,
    pub sha256: String,
    /// pip: whether a `REQUESTED` file is written; apt: absent.
    pub requested: Option<bool>,
}

/// The hash of a [`LayerInputs`]: what the layer cache files a layer under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerKey(String);

impl LayerInputs {
    pub fn key(&self) -> LayerKey {
        let mut inputs = self.clone();
        inputs.packages.sort();
        let bytes = canonical_json::to_vec(&inputs);
        LayerKey(format!(
            "{}-{}",
            self.kind,
            hex::encode(Sha256::digest(&bytes))
        ))
    }
}

impl LayerKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name a layer of this key compressed with `compression` is filed under: the
    /// algorithm and its level decide the blob, so they are hashed with the key.
    pub fn with_compression(&self, compression: Compression) -> String {
        let named = format!("{}\ncompression {}", self.0, compression.cache_id());
        hex::encode(Sha256::digest(named.as_bytes()))
    }
}

impl std::fmt::Display for LayerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> LayerInputs {
        LayerInputs {
            kind: "pip".into(),
            format: "f/1".into(),
            base_manifest: Digest::of(b"base"),
            source_date_epoch: 1,
            below: Vec::new(),
            step: None,
            packages: vec![
                PackageInput {
                    name: "a".into(),
                    version: "1".into(),
                    arch: None,
                    file: Some("a-1.whl".into()),
                    sha256: "aa".into(),
                    requested: Some(true),
                },
                PackageInput {
                    name: "b".into(),
                    version: "2".into(),
                    arch: None,
                    file: Some("b-2.whl".into()),
                    sha256: "bb".into(),
                    requested: Some(false),
                },
            ],
        }
    }

    #[test]
    fn package_order_does_not_change_the_key_and_every_field_does() {
        let base = inputs();
        let mut reversed = base.clone();
        reversed.packages.reverse();
        assert_eq!(base.key(), reversed.key());
        let changes: Vec<fn(&mut LayerInputs)> = vec![
            |i| i.kind = "apt".into(),
            |i| i.format = "f/2".into(),
            |i| i.base_manifest = Digest::of(b"another base"),
            |i| i.source_date_epoch = 2,
            |i| i.below.push(Digest::of(b"x")),
            |i| i.step = Some("s".into()),
            |i| i.packages[0].name = "c".into(),
            |i| i.packages[0].version = "3".into(),
            |i| i.packages[0].arch = Some("amd64".into()),
            |i| i.packages[0].file = Some("a-1-x.whl".into()),
            |i| i.packages[0].sha256 = "cc".into(),
            |i| i.packages[0].requested = Some(false),
            |i| {
                i.packages.pop();
            },
        ];
        for (n, change) in changes.into_iter().enumerate() {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(base.key(), changed.key(), "change {n}");
        }
    }
}
