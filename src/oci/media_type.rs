//! Media types of OCI and Docker v2 schema 2 images.

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// What a manifest-like document is, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// An OCI index or a Docker manifest list: one manifest per platform.
    Index,
    /// An image manifest: a config and layers.
    Manifest,
}

pub fn manifest_kind(media_type: &str) -> Option<ManifestKind> {
    match media_type {
        OCI_INDEX | DOCKER_MANIFEST_LIST => Some(ManifestKind::Index),
        OCI_MANIFEST | DOCKER_MANIFEST => Some(ManifestKind::Manifest),
        _ => None,
    }
}

/// The `Accept` header for fetching manifests: every kind rtlock reads.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

pub fn layer_compression(media_type: &str) -> Option<LayerCompression> {
    match media_type {
        OCI_LAYER_TAR | "application/vnd.docker.image.rootfs.diff.tar" => {
            Some(LayerCompression::None)
        }
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN_GZIP => {
            Some(LayerCompression::Gzip)
        }
        OCI_LAYER_ZSTD | "application/vnd.docker.image.rootfs.diff.tar.zstd" => {
            Some(LayerCompression::Zstd)
        }
        _ => None,
    }
}

/// Why a document could not be taken for a manifest or an index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SniffError {
    #[error("it is not JSON")]
    NotJson,
    #[error(
        "it is a Docker schema 1 manifest, which rtlock does not read; push the image again \
         with a current Docker or skopeo"
    )]
    SchemaV1,
    #[error("it is neither an image manifest nor an index")]
    Neither,
}

/// The media type of a manifest-like document, the one answer for every place rtlock
/// reads one (a registry, the cache, an OCI layout), so that the same bytes always mean
/// the same thing.
///
/// `outside` is the type given next to the bytes: a registry's `Content-Type`, or the
/// descriptor that points at them. The order:
/// 1. The document's own `mediaType`. It is inside the bytes the digest pins, so it is
///    the same wherever they are read from; the image-spec says that, when present, it
///    MUST be the document's type, and the distribution-spec that a client SHOULD
///    reject a `Content-Type` that differs from it, i.e. the document is the authority.
/// 2. `outside`, when it names a manifest or an index. The image-spec lets a document
///    leave `mediaType` out (it is only SHOULD), and registries and file servers also
///    answer with generic types such as `application/json`, which say nothing.
/// 3. The shape: an index must have `manifests`, a manifest `config` and `layers`
///    (their required fields in the image-spec); such a document is read as OCI.
pub fn sniff_manifest(outside: Option<&str>, bytes: &[u8]) -> Result<String, SniffError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        schema_version: Option<serde_json::Value>,
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    let shape: Shape = serde_json::from_slice(bytes).map_err(|_| SniffError::NotJson)?;
    // Schema 1 documents carry no `mediaType`; their shape would be mistaken for neither.
    if shape.schema_version == Some(serde_json::Value::from(1)) {
        return Err(SniffError::SchemaV1);
    }
    if let Some(declared) = shape.media_type {
        return Ok(declared);
    }
    if let Some(outside) = outside.filter(|t| manifest_kind(t).is_some()) {
        return Ok(outside.to_string());
    }
    match (shape.manifests, shape.config, shape.layers) {
        (Some(_), _, _) => Ok(OCI_INDEX.to_string()),
        (None, Some(_), Some(_)) => Ok(OCI_MANIFEST.to_string()),
        _ => Err(SniffError::Neither),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every source of the type, every shape, and the disagreements that the three
    /// former sniffers (registry pull, base resolution, OCI layout) answered
    /// differently, each now with the one answer.
    #[test]
    fn sniff_manifest_table() {
        const GENERIC: &str = "application/json";
        let oci_manifest = r#"{"schemaVersion":2,"config":{},"layers":[]}"#;
        let oci_index = r#"{"schemaVersion":2,"manifests":[]}"#;
        let docker_in_doc = r#"{"schemaVersion":2,
            "mediaType":"application/vnd.docker.distribution.manifest.v2+json",
            "config":{},"layers":[]}"#;
        let list_in_doc = r#"{"schemaVersion":2,
            "mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[]}"#;
        let config_in_doc = r#"{"mediaType":"application/vnd.oci.image.config.v1+json"}"#;
        // (case, the type outside the document, the document, the answer)
        type Row = (
            &'static str,
            Option<&'static str>,
            &'static str,
            Result<&'static str, SniffError>,
        );
        let rows: &[Row] = &[
            // The document's own field, whatever is outside.
            ("field alone", None, docker_in_doc, Ok(DOCKER_MANIFEST)),
            (
                "field, generic outside",
                Some(GENERIC),
                list_in_doc,
                Ok(DOCKER_MANIFEST_LIST),
            ),
            // Pull used to prefer Content-Type here; layout and base the same. Now the
            // bytes decide, so a cached copy (no header) reads as the fetched one.
            (
                "field beats outside",
                Some(OCI_MANIFEST),
                docker_in_doc,
                Ok(DOCKER_MANIFEST),
            ),
            // A field that is no manifest type is kept, for the caller to refuse by
            // name (base resolution used to look past it at the shape).
            (
                "foreign field",
                Some(OCI_MANIFEST),
                config_in_doc,
                Ok(OCI_CONFIG),
            ),
            // No field: the outside type, when it names a manifest or an index.
            (
                "outside",
                Some(DOCKER_MANIFEST),
                oci_manifest,
                Ok(DOCKER_MANIFEST),
            ),
            (
                "outside index",
                Some(DOCKER_MANIFEST_LIST),
                oci_index,
                Ok(DOCKER_MANIFEST_LIST),
            ),
            // No field, nothing useful outside: the shape.
            ("index shape", None, oci_index, Ok(OCI_INDEX)),
            (
                "index shape, generic",
                Some(GENERIC),
                oci_index,
                Ok(OCI_INDEX),
            ),
            ("manifest shape", None, oci_manifest, Ok(OCI_MANIFEST)),
            (
                "both shapes",
                None,
                r#"{"manifests":[],"config":{},"layers":[]}"#,
                Ok(OCI_INDEX),
            ),
            // Pull and layout used to take `config` alone for a manifest, layout even
            // `{}`; base resolution refused both. A manifest needs both fields.
            (
                "config without layers",
                None,
                r#"{"schemaVersion":2,"config":{}}"#,
                Err(SniffError::Neither),
            ),
            (
                "empty object",
                Some(GENERIC),
                "{}",
                Err(SniffError::Neither),
            ),
            // Layout used to pass an unreadable document on under its descriptor's type.
            (
                "not JSON",
                Some(OCI_MANIFEST),
                "<html>",
                Err(SniffError::NotJson),
            ),
            (
                "schema 1",
                Some(DOCKER_MANIFEST),
                r#"{"schemaVersion":1,"fsLayers":[]}"#,
                Err(SniffError::SchemaV1),
            ),
        ];
        for (name, outside, body, expected) in rows {
            let got = sniff_manifest(*outside, body.as_bytes());
            assert_eq!(got.as_deref().map_err(Clone::clone), *expected, "{name}");
        }
    }
}
