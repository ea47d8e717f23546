//! `build --check`: where two builds of the same lock differ, said precisely: the first
//! differing layer and the first differing file in it, or the config field.

use std::fmt;
use std::io::Read;
use std::path::Path;

use super::Built;
use crate::oci::media_type::{self, LayerCompression};

/// The first difference between two builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    LayerCount {
        first: usize,
        second: usize,
    },
    /// Layer `index` (0 = bottom) differs; `file` is the first entry that differs.
    Layer {
        index: usize,
        first_digest: String,
        second_digest: String,
        /// `None` when the tars are equal (the compression differs) or unreadable.
        file: Option<String>,
        detail: String,
    },
    Config {
        key: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::LayerCount { first, second } => {
                write!(f, "the builds have {first} and {second} layers")
            }
            Difference::Layer {
                index,
                first_digest,
                second_digest,
                file,
                detail,
            } => {
                write!(
                    f,
                    "layer {index} differs ({first_digest} vs {second_digest})"
                )?;
                match file {
                    Some(file) => write!(f, ": first differing file `{file}` ({detail})"),
                    None => write!(f, ": {detail}"),
                }
            }
            Difference::Config { key } => write!(f, "the image configs differ at `{key}`"),
        }
    }
}

/// The first difference between `a` and `b`, or `None` when their manifests agree.
pub fn compare(a: &Built, b: &Built) -> Option<Difference> {
    if a.image.manifest_digest == b.image.manifest_digest {
        return None;
    }
    if a.image.layers.len() != b.image.layers.len() {
        return Some(Difference::LayerCount {
            first: a.image.layers.len(),
            second: b.image.layers.len(),
        });
    }
    for (index, (la, lb)) in a.image.layers.iter().zip(&b.image.layers).enumerate() {
        if la.descriptor.digest == lb.descriptor.digest {
            continue;
        }
        let (file, detail) = if la.diff_id == lb.diff_id {
            (None, "same tar, compressed differently".to_string())
        } else {
            match first_differing_entry(
                &la.path,
                &la.descriptor.media_type,
                &lb.path,
                &lb.descriptor.media_type,
            ) {
                Ok(Some((path, detail))) => (Some(path), detail),
                Ok(None) => (None, "the tars differ outside their entries".to_string()),
                Err(e) => (None, format!("cannot read the layers: {e}")),
            }
        };
        return Some(Difference::Layer {
            index,
            first_digest: la.descriptor.digest.to_string(),
            second_digest: lb.descriptor.digest.to_string(),
            file,
            detail,
        });
    }
    Some(Difference::Config {
        key: first_differing_key(&a.image.config, &b.image.config),
    })
}

fn open_tar(path: &Path, media: &str) -> std::io::Result<Box<dyn Read>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    Ok(match media_type::layer_compression(media) {
        Some(LayerCompression::Gzip) => Box::new(flate2::read::GzDecoder::new(file)),
        Some(LayerCompression::Zstd) => Box::new(zstd::stream::read::Decoder::new(file)?),
        _ => Box::new(file),
    })
}

/// Walks both tars in order and returns the first entry whose header or content
/// differs (or that only one has), with what differs.
pub(crate) fn first_differing_entry(
    a: &Path,
    a_media: &str,
    b: &Path,
    b_media: &str,
) -> std::io::Result<Option<(String, String)>> {
    let mut ta = tar::Archive::new(open_tar(a, a_media)?);
    let mut tb = tar::Archive::new(open_tar(b, b_media)?);
    let mut ea = ta.entries()?;
    let mut eb = tb.entries()?;
    loop {
        match (ea.next().transpose()?, eb.next().transpose()?) {
            (None, None) => return Ok(None),
            (Some(x), None) => return Ok(Some((name(&x), "only in the first build".into()))),
            (None, Some(y)) => return Ok(Some((name(&y), "only in the second build".into()))),
            (Some(mut x), Some(mut y)) => {
                let (nx, ny) = (name(&x), name(&y));
                if nx != ny {
                    return Ok(Some((
                        nx.min(ny),
                        "present in only one build at this point".into(),
                    )));
                }
                if let Some(field) = header_difference(x.header(), y.header()) {
                    return Ok(Some((nx, format!("{field} differs"))));
                }
                if !same_content(&mut x, &mut y)? {
                    return Ok(Some((nx, "content differs".into())));
                }
            }
        }
    }
}

fn name<R: Read>(entry: &tar::Entry<'_, R>) -> String {
    String::from_utf8_lossy(&entry.path_bytes()).into_owned()
}

fn header_difference(a: &tar::Header, b: &tar::Header) -> Option<&'static str> {
    if a.entry_type() != b.entry_type() {
        Some("type")
    } else if a.mode().ok() != b.mode().ok() {
        Some("mode")
    } else if (a.uid().ok(), a.gid().ok()) != (b.uid().ok(), b.gid().ok()) {
        Some("owner")
    } else if a.mtime().ok() != b.mtime().ok() {
        Some("mtime")
    } else if a.size().ok() != b.size().ok() {
        Some("size")
    } else if a.link_name_bytes() != b.link_name_bytes() {
        Some("link target")
    } else if a.as_bytes() != b.as_bytes() {
        Some("header")
    } else {
        None
    }
}

fn same_content(a: &mut impl Read, b: &mut impl Read) -> std::io::Result<bool> {
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let na = read_full(a, &mut ba)?;
        let nb = read_full(b, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The dotted path of the first differing value of two JSON documents.
pub(crate) fn first_differing_key(a: &[u8], b: &[u8]) -> String {
    let (Ok(a), Ok(b)) = (
        serde_json::from_slice::<serde_json::Value>(a),
        serde_json::from_slice::<serde_json::Value>(b),
    ) else {
        return "(unparsable)".into();
    };
    fn walk(a: &serde_json::Value, b: &serde_json::Value, at: String) -> Option<String> {
        use serde_json::Value::*;
        match (a, b) {
            (Object(x), Object(y)) => {
                let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => walk(p, q, format!("{at}.{k}")),
                    _ => Some(format!("{at}.{k}")),
                })
            }
            (Array(x), Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| walk(p, q, format!("{at}[{i}]"))),
            _ if a == b => None,
            _ => Some(at),
        }
    }
    walk(&a, &b, String::new())
        .map(|k| k.trim_start_matches('.').to_string())
        .unwrap_or_else(|| "(formatting only)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layer::{Compression, Content, Entry, LayerCache, write_layer};

    #[test]
    fn the_first_differing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path());
        let make = |motd: &[u8], mtime: i64| {
            write_layer(
                vec![
                    Entry::file("a", 0o644, Content::Bytes(b"same".to_vec())),
                    Entry::file("etc/motd", 0o644, Content::Bytes(motd.to_vec())).mtime(mtime),
                    Entry::file("z", 0o644, Content::Bytes(b"other".to_vec())),
                ],
                1000,
                Compression::Gzip,
                &cache,
                None,
            )
            .unwrap()
        };
        let a = make(b"one", 10);
        let b = make(b"two", 10);
        let c = make(b"one", 20);
        let gz = crate::oci::media_type::OCI_LAYER_GZIP;
        let diff = first_differing_entry(&a.path, gz, &b.path, gz).unwrap();
        assert_eq!(diff, Some(("etc/motd".into(), "content differs".into())));
        let diff = first_differing_entry(&a.path, gz, &c.path, gz).unwrap();
        assert_eq!(diff, Some(("etc/motd".into(), "mtime differs".into())));
        assert_eq!(
            first_differing_entry(&a.path, gz, &a.path, gz).unwrap(),
            None
        );
    }

    fn built(layer: &crate::oci::layer::Layer, config: &[u8]) -> Built {
        use crate::oci::Digest;
        use crate::oci::output::{Image, ImageLayer};
        use crate::oci::types::Descriptor;
        let base = ImageLayer {
            descriptor: Descriptor::new(media_type::OCI_LAYER_GZIP, Digest::of(b"base"), 4),
            diff_id: Digest::of(b"base-tar"),
            path: "/nonexistent".into(),
        };
        let top = ImageLayer {
            descriptor: Descriptor::new(&layer.media_type, layer.digest.clone(), layer.size),
            diff_id: layer.diff_id.clone(),
            path: layer.path.clone(),
        };
        let manifest = format!("{}{}", layer.digest, String::from_utf8_lossy(config)).into_bytes();
        Built {
            image: Image {
                manifest_digest: Digest::of(&manifest),
                manifest,
                manifest_media_type: media_type::OCI_MANIFEST.into(),
                config: config.to_vec(),
                config_descriptor: Descriptor::new(media_type::OCI_CONFIG, Digest::of(config), 1),
                layers: vec![base, top],
                epoch: 0,
            },
            base: "127.0.0.1:5000/base@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse()
                .unwrap(),
            base_layers: 1,
        }
    }

    #[test]
    fn compare_names_the_layer_and_file_or_the_config_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = LayerCache::new(dir.path());
        let layer = |content: &[u8]| {
            write_layer(
                vec![Entry::file(
                    "usr/lib/x.so",
                    0o644,
                    Content::Bytes(content.to_vec()),
                )],
                0,
                Compression::Gzip,
                &cache,
                None,
            )
            .unwrap()
        };
        let (one, two) = (layer(b"1"), layer(b"2"));
        let a = built(&one, br#"{"a":1}"#);
        assert_eq!(compare(&a, &built(&one, br#"{"a":1}"#)), None);
        let difference = compare(&a, &built(&two, br#"{"a":1}"#)).unwrap();
        let text = difference.to_string();
        assert!(text.starts_with("layer 1 differs"), "{text}");
        assert!(text.contains("`usr/lib/x.so` (content differs)"), "{text}");
        assert_eq!(
            compare(&a, &built(&one, br#"{"a":2}"#)),
            Some(Difference::Config { key: "a".into() })
        );
    }

    #[test]
    fn the_first_differing_config_key_is_named() {
        let a = br#"{"config":{"Env":["A=1"],"User":"1"},"created":"x"}"#;
        let b = br#"{"config":{"Env":["A=2"],"User":"1"},"created":"x"}"#;
        assert_eq!(first_differing_key(a, b), "config.Env[0]");
    }
}
