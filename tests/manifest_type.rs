//! One answer to "is this document a manifest or an index?" wherever it is read: the
//! OCI layout reader, the registry client (and `docker://` sources through it) and base
//! resolution all take it from `oci::media_type::sniff_manifest` (issue 12; they used
//! to sniff each in its own way).
//!
//! The documents here carry no `mediaType` (the image-spec only says SHOULD), and what
//! is outside them says nothing either: the layout's descriptors and the registry's
//! `Content-Type` are `application/json`. Only their shape tells them apart, and every
//! reader must come to the same image.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rtlock::fetch::{FetchSettings, Fetcher};
use rtlock::image::{ImageSource, OpenOptions, OpenedImage};
use rtlock::manifest::BaseSpec;
use rtlock::oci::Digest;
use rtlock::oci::media_type::{self, sniff_manifest};
use rtlock::oci::registry::{Registry, RegistryOptions};
use rtlock::oci::types::Platform;

/// What both the layout's descriptors and the registry's answers call every document.
const GENERIC: &str = "application/json";

/// A one-platform image whose manifest and index have no `mediaType`.
struct Documents {
    config: Vec<u8>,
    manifest: Vec<u8>,
    index: Vec<u8>,
}

impl Documents {
    fn new() -> Documents {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": []},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": Digest::of(&config).to_string(), "size": config.len()},
            "layers": [],
        }))
        .unwrap();
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{"mediaType": GENERIC, "digest": Digest::of(&manifest).to_string(),
                           "size": manifest.len(),
                           "platform": {"os": "linux", "architecture": "amd64"}}],
        }))
        .unwrap();
        Documents {
            config,
            manifest,
            index,
        }
    }

    /// Tag → document: `manifest` names the manifest, `index` the index.
    fn tagged(&self) -> [(&'static str, &[u8]); 2] {
        [("manifest", &self.manifest), ("index", &self.index)]
    }

    /// An OCI layout holding the documents, each tag under a `GENERIC` descriptor.
    fn layout(&self, root: &Path) {
        let blobs = root.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        for bytes in [&self.config, &self.manifest, &self.index] {
            std::fs::write(blobs.join(Digest::of(bytes).hex()), bytes).unwrap();
        }
        let descriptors: Vec<_> = self
            .tagged()
            .iter()
            .map(|(tag, bytes)| {
                serde_json::json!({
                    "mediaType": GENERIC, "digest": Digest::of(bytes).to_string(),
                    "size": bytes.len(),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                })
            })
            .collect();
        let index = serde_json::json!({"schemaVersion": 2, "manifests": descriptors});
        std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
        std::fs::write(
            root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
    }
}

/// A registry serving the documents under `team/image`, every manifest as `GENERIC`.
#[derive(Clone)]
struct Fake {
    /// Tag or digest → document.
    manifests: Arc<HashMap<String, Vec<u8>>>,
    blobs: Arc<HashMap<String, Vec<u8>>>,
}

async fn start_registry(docs: &Documents) -> std::net::SocketAddr {
    let mut manifests = HashMap::new();
    for (tag, bytes) in docs.tagged() {
        manifests.insert(tag.to_string(), bytes.to_vec());
        manifests.insert(Digest::of(bytes).to_string(), bytes.to_vec());
    }
    let blobs = HashMap::from([(Digest::of(&docs.config).to_string(), docs.config.clone())]);
    let fake = Fake {
        manifests: Arc::new(manifests),
        blobs: Arc::new(blobs),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(serve).with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn serve(State(fake): State<Fake>, request: Request) -> Response {
    let path = request.uri().path();
    if path == "/v2/" {
        return StatusCode::OK.into_response();
    }
    let found = if let Some(name) = path.strip_prefix("/v2/team/image/manifests/") {
        fake.manifests.get(name)
    } else if let Some(digest) = path.strip_prefix("/v2/team/image/blobs/") {
        fake.blobs.get(digest)
    } else {
        None
    };
    match found {
        Some(bytes) => ([(header::CONTENT_TYPE, GENERIC)], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn open(source: &str, registry: &Registry) -> OpenedImage {
    let source: ImageSource = source.parse().unwrap();
    let options = OpenOptions {
        platform: Platform::new("linux", "amd64", None),
        registry: Some(registry.clone()),
    };
    rtlock::image::open(&source, &options)
        .await
        .unwrap_or_else(|e| panic!("{source}: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_without_a_media_type_is_the_same_kind_in_a_layout_and_in_a_registry() {
    let docs = Documents::new();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    docs.layout(&layout);
    let addr = start_registry(&docs).await;
    let cache = tempfile::tempdir().unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let registry = Registry::new(
        &Fetcher::new(FetchSettings::new(cache.path())).unwrap(),
        RegistryOptions {
            insecure: Vec::new(),
            docker_config_dir: Some(docker_config.path().to_path_buf()),
        },
    )
    .unwrap();
    let manifest_digest = Digest::of(&docs.manifest);
    let config_digest = Digest::of(&docs.config);

    for (tag, bytes, kind) in [
        ("manifest", &docs.manifest, media_type::OCI_MANIFEST),
        ("index", &docs.index, media_type::OCI_INDEX),
    ] {
        // The one sniff, told only the shape.
        assert_eq!(sniff_manifest(Some(GENERIC), bytes).as_deref(), Ok(kind));

        // The registry client types the document by it.
        let reference = format!("{addr}/team/image:{tag}");
        let fetched = registry
            .get_manifest(&reference.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(fetched.digest, Digest::of(bytes), "{tag}");
        assert_eq!(fetched.media_type, kind, "{tag}");

        // The layout reader and a `docker://` source come to the same image: a
        // document taken for the other kind would not parse, or not lead to it.
        for source in [
            format!("oci:{}:{tag}", layout.display()),
            format!("docker://{reference}"),
        ] {
            let image = open(&source, &registry).await;
            assert_eq!(
                image.manifest_digest.as_ref(),
                Some(&manifest_digest),
                "{source}"
            );
            assert_eq!(image.config_digest, config_digest, "{source}");
        }

        // Base resolution: the index to its platform's manifest, a manifest to itself.
        let resolved = rtlock::base::pin::resolve(
            &BaseSpec {
                image: reference.clone(),
                platform: Platform::new("linux", "amd64", None),
            },
            &registry,
        )
        .await
        .unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(resolved.digest, Digest::of(bytes), "{tag}");
        assert_eq!(resolved.manifest, manifest_digest, "{tag}");
    }
}
