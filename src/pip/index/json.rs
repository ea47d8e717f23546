//! PEP 691 JSON project pages (`application/vnd.pypi.simple.v1+json`), with PEP 700's
//! `upload-time` and PEP 714's `core-metadata` (and its older `dist-info-metadata` name).

use serde::Deserialize;
use url::Url;

use super::PageError;
use crate::pip::DistFile;

#[derive(Deserialize)]
struct Page {
    files: Vec<File>,
}

#[derive(Deserialize)]
struct File {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: Hashes,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    yanked: Option<Flag>,
    #[serde(default, rename = "upload-time")]
    upload_time: Option<String>,
    #[serde(default, rename = "core-metadata")]
    core_metadata: Option<Flag>,
    #[serde(default, rename = "dist-info-metadata")]
    dist_info_metadata: Option<Flag>,
}

/// `false`, `true`, a reason string (`yanked`) or a hash table (`core-metadata`).
///
/// Deserialized by hand: serde's untagged enums buffer every value before trying each
/// variant, which made them most of the parse time of a page with thousands of files.
enum Flag {
    Bool(bool),
    Text(String),
    Hashes(Hashes),
}

/// The one hash rtlock uses; other algorithms are skipped without being stored.
#[derive(Deserialize, Default)]
struct Hashes {
    #[serde(default)]
    sha256: Option<String>,
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean, a string or a table of hashes")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag::Bool(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Flag, E> {
                Ok(Flag::Text(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Flag, A::Error> {
                Hashes::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Flag::Hashes)
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// The files of a JSON page; relative URLs are resolved against `page_url`.
pub fn parse(body: &[u8], page_url: &Url) -> Result<Vec<DistFile>, PageError> {
    let page: Page = serde_json::from_slice(body)?;
    page.files
        .into_iter()
        .map(|f| {
            let url = page_url.join(&f.url).map_err(|source| PageError::Url {
                filename: f.filename.clone(),
                url: f.url.clone(),
                source,
            })?;
            let yanked = match f.yanked {
                None | Some(Flag::Bool(false)) => None,
                Some(Flag::Text(reason)) => Some(reason),
                Some(_) => Some(String::new()),
            };
            let core_metadata = match f.core_metadata.or(f.dist_info_metadata) {
                None | Some(Flag::Bool(false)) => None,
                Some(Flag::Hashes(h)) => Some(h.sha256.map(|s| s.to_ascii_lowercase())),
                Some(_) => Some(None),
            };
            Ok(DistFile {
                sha256: f.hashes.sha256.map(|s| s.to_ascii_lowercase()),
                size: f.size,
                requires_python: f.requires_python.filter(|r| !r.trim().is_empty()),
                yanked,
                // An unparsable time is no time: the file is then unavailable under
                // `as-of`, as uv treats it.
                upload_time: f.upload_time.and_then(|t| t.parse().ok()),
                core_metadata,
                filename: f.filename,
                url,
            })
        })
        .collect()
}
