//! The registry client against the test bed's plain registry (a real `docker-registry`
//! on 127.0.0.1), with `skopeo` as the oracle, and against small fake registries for
//! what a real one will not do on purpose (serve corrupt blobs, hand out bearer tokens).
//!
//! The TLS + htpasswd registry and credential helpers are in `registry_tls.rs`: they
//! need `SSL_CERT_FILE` and `PATH` set for the whole process.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::testbed::{ok, skopeo, testbed};
use rtlock::fetch::{FetchSettings, Fetcher, sha256_hex};
use rtlock::oci::Digest;
use rtlock::oci::media_type::{self, ManifestKind};
use rtlock::oci::reference::Reference;
use rtlock::oci::registry::{
    PushedBlob, Registry, RegistryError, RegistryOptions, select_platform,
};
use rtlock::oci::types::{ImageConfig, ImageIndex, ImageManifest};

/// A registry client with its own cache and an empty Docker config (no credentials
/// leak in from the machine's).
struct Client {
    registry: Registry,
    fetcher: Fetcher,
    cache: tempfile::TempDir,
    _docker_config: tempfile::TempDir,
}

fn client() -> Client {
    let cache = tempfile::tempdir().unwrap();
    client_with_cache(cache, false)
}

fn client_with_cache(cache: tempfile::TempDir, offline: bool) -> Client {
    let mut settings = FetchSettings::new(cache.path());
    settings.offline = offline;
    let fetcher = Fetcher::new(settings).unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let registry = Registry::new(
        &fetcher,
        RegistryOptions {
            insecure: Vec::new(),
            docker_config_dir: Some(docker_config.path().to_path_buf()),
        },
    )
    .unwrap();
    Client {
        registry,
        fetcher,
        cache,
        _docker_config: docker_config,
    }
}

fn reference(text: &str) -> Reference {
    text.parse()
        .unwrap_or_else(|e| panic!("{text} should parse: {e}"))
}

/// `skopeo inspect`'s `Digest` of a reference on the plain registry.
fn skopeo_digest(reference: &str) -> String {
    let inspected = ok(
        "skopeo inspect",
        skopeo(&[
            "inspect",
            "--tls-verify=false",
            "--no-tags",
            &format!("docker://{reference}"),
        ]),
    );
    let json: serde_json::Value = serde_json::from_str(&inspected).unwrap();
    json["Digest"].as_str().unwrap().to_string()
}

/// The image manifest of `r` (through the index for the bed's platform, if `r` names
/// one) and its digest.
async fn image_manifest(registry: &Registry, r: &Reference) -> (ImageManifest, Digest) {
    let fetched = registry.get_manifest(r).await.unwrap();
    match media_type::manifest_kind(&fetched.media_type) {
        Some(ManifestKind::Manifest) => (
            serde_json::from_slice(&fetched.bytes).unwrap(),
            fetched.digest,
        ),
        Some(ManifestKind::Index) => {
            let index: ImageIndex = serde_json::from_slice(&fetched.bytes).unwrap();
            let entry = select_platform(&index, "linux", "amd64", None).unwrap();
            let inner = registry
                .get_manifest(&r.with_digest(entry.digest.clone()))
                .await
                .unwrap();
            (serde_json::from_slice(&inner.bytes).unwrap(), inner.digest)
        }
        None => panic!("unexpected media type {}", fetched.media_type),
    }
}

#[tokio::test]
async fn a_tag_resolves_to_the_digest_skopeo_reports() {
    let bed = testbed();
    let c = client();
    let r = reference(&bed.image_minimal);
    let head = c.registry.head_manifest(&r).await.unwrap();
    assert_eq!(head.digest.as_str(), skopeo_digest(&bed.image_minimal));
    assert!(
        media_type::manifest_kind(&head.media_type).is_some(),
        "{head:?}"
    );

    let fetched = c.registry.get_manifest(&r).await.unwrap();
    assert_eq!(fetched.digest, head.digest);
    assert_eq!(fetched.media_type, head.media_type);
    assert_eq!(fetched.bytes.len() as u64, head.size);
    assert_eq!(Digest::of(&fetched.bytes), head.digest);
}

#[tokio::test]
async fn a_manifest_by_digest_is_verified_and_read_offline_afterwards() {
    let bed = testbed();
    let c = client();
    let r = reference(&bed.image_python);
    let head = c.registry.head_manifest(&r).await.unwrap();
    let pinned = r.with_digest(head.digest.clone());
    let fetched = c.registry.get_manifest(&pinned).await.unwrap();
    assert_eq!(Digest::of(&fetched.bytes), head.digest);

    // Offline, with the same cache: by digest from the cache, by tag a clear error.
    let offline = client_with_cache(c.cache, true);
    let again = offline.registry.get_manifest(&pinned).await.unwrap();
    assert_eq!(again, fetched);
    let head_again = offline.registry.head_manifest(&pinned).await.unwrap();
    assert_eq!(head_again.digest, head.digest);
    let error = offline.registry.get_manifest(&r).await.unwrap_err();
    assert!(matches!(error, RegistryError::Offline { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("--offline") && text.contains("@sha256"),
        "{text}"
    );

    // A digest nothing has is an error offline too, naming what is missing.
    let other = r.with_digest(Digest::of(b"not a manifest"));
    let error = offline.registry.get_manifest(&other).await.unwrap_err();
    assert!(error.to_string().contains("not in the cache"), "{error}");
}

#[tokio::test]
async fn the_config_blob_streams_into_the_cache_verified() {
    let bed = testbed();
    let c = client();
    let r = reference(&bed.image_minimal);
    let (manifest, _) = image_manifest(&c.registry, &r).await;
    let config = &manifest.config;
    let blob = c
        .registry
        .get_blob(&r, &config.digest, Some(config.size))
        .await
        .unwrap();
    assert_eq!(blob.sha256, config.digest.hex());
    assert_eq!(blob.size, config.size);
    assert!(blob.path.starts_with(c.cache.path()));
    let parsed: ImageConfig = serde_json::from_slice(&std::fs::read(&blob.path).unwrap()).unwrap();
    assert_eq!(parsed.os, "linux");
    assert_eq!(parsed.rootfs.diff_ids.len(), manifest.layers.len());

    // Offline, the cached blob is served; a blob never fetched is a clear error.
    let offline = client_with_cache(c.cache, true);
    let again = offline
        .registry
        .get_blob(&r, &config.digest, Some(config.size))
        .await
        .unwrap();
    assert_eq!(again, blob);
    let layer = &manifest.layers[0];
    let error = offline
        .registry
        .get_blob(&r, &layer.digest, Some(layer.size))
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::Offline { .. }), "{error:?}");
    assert!(c.fetcher.cache().root().exists());
}

#[tokio::test]
async fn a_reference_that_does_not_exist_is_a_clear_error() {
    let bed = testbed();
    let c = client();
    let base = reference(&bed.image_minimal);

    let missing_tag = base.with_tag("no-such-tag");
    let error = c.registry.get_manifest(&missing_tag).await.unwrap_err();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&missing_tag.to_string()) && text.contains("is not in the registry"),
        "{text}"
    );

    let error = c.registry.head_manifest(&missing_tag).await.unwrap_err();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");

    let missing_repo = base
        .with_repository("rtlock-test/no-such-repository")
        .with_tag("x");
    let error = c.registry.get_manifest(&missing_repo).await.unwrap_err();
    assert!(error.to_string().contains("no-such-repository"), "{error}");

    let missing_blob = Digest::of(b"no such blob");
    assert!(!c.registry.blob_exists(&base, &missing_blob).await.unwrap());
    let error = c
        .registry
        .get_blob(&base, &missing_blob, None)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error:?}");
    assert!(error.to_string().contains(missing_blob.as_str()), "{error}");
}

#[tokio::test]
async fn a_registry_that_is_down_is_a_clear_error() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client();
    let r = reference(&format!("127.0.0.1:{port}/rtlock-test/x:1"));
    let error = c.registry.get_manifest(&r).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Unreachable { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}")) && text.contains("could not reach"),
        "{text}"
    );
}

#[tokio::test]
async fn push_copies_an_image_by_mounting_its_blobs_and_skopeo_reads_it() {
    let bed = testbed();
    let c = client();
    let source = reference(&bed.image_minimal);
    let (manifest, digest) = image_manifest(&c.registry, &source).await;
    let fetched = c
        .registry
        .get_manifest(&source.with_digest(digest.clone()))
        .await
        .unwrap();
    let dest = reference(&format!("{}:copied", bed.fresh_repo("push-mount")));

    for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
        assert!(
            !c.registry
                .blob_exists(&dest, &descriptor.digest)
                .await
                .unwrap()
        );
        // The file is never read when the mount works; it is there in case it does not.
        let blob = c
            .registry
            .get_blob(&source, &descriptor.digest, Some(descriptor.size))
            .await
            .unwrap();
        let how = c
            .registry
            .push_blob_with(
                &dest,
                &descriptor.digest,
                descriptor.size,
                &blob.path,
                Some(&source),
            )
            .await
            .unwrap();
        assert_eq!(how, PushedBlob::Mounted, "{}", descriptor.digest);
        assert!(
            c.registry
                .blob_exists(&dest, &descriptor.digest)
                .await
                .unwrap()
        );
        // Pushing again is a no-op.
        let again = c
            .registry
            .push_blob_with(&dest, &descriptor.digest, descriptor.size, &blob.path, None)
            .await
            .unwrap();
        assert_eq!(again, PushedBlob::AlreadyPresent);
    }

    let pushed = c
        .registry
        .push_manifest(&dest, &fetched.media_type, &fetched.bytes)
        .await
        .unwrap();
    assert_eq!(pushed, digest);
    assert_eq!(skopeo_digest(&dest.to_string()), digest.as_str());
    let head = c.registry.head_manifest(&dest).await.unwrap();
    assert_eq!(head.digest, digest);
}

#[tokio::test]
async fn a_large_blob_is_uploaded_in_chunks_and_a_small_one_in_one_request() {
    let bed = testbed();
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    let registry = c.registry.clone().with_upload_chunk_size(1024 * 1024);
    let dest = reference(&bed.fresh_repo("push-chunked"));

    // 5.5 MiB of bytes that do not repeat: six chunks, the last a short one.
    let big = dir.path().join("big");
    let content: Vec<u8> = (0..(5 * 1024 * 1024 + 512 * 1024) as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&big, &content).unwrap();
    let digest = Digest::of(&content);
    let how = registry
        .push_blob_with(&dest, &digest, content.len() as u64, &big, None)
        .await
        .unwrap();
    assert_eq!(how, PushedBlob::Uploaded { chunks: 6 });
    assert!(registry.blob_exists(&dest, &digest).await.unwrap());

    // Read back through a fresh cache: the registry holds exactly these bytes.
    let reader = client();
    let blob = reader
        .registry
        .get_blob(&dest, &digest, Some(content.len() as u64))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), content);

    let small = dir.path().join("small");
    std::fs::write(&small, b"a small blob").unwrap();
    let small_digest = Digest::of(b"a small blob");
    let how = registry
        .push_blob_with(&dest, &small_digest, 12, &small, None)
        .await
        .unwrap();
    assert_eq!(how, PushedBlob::Uploaded { chunks: 0 });
    assert!(registry.blob_exists(&dest, &small_digest).await.unwrap());
}

#[tokio::test]
async fn pushing_bytes_that_do_not_match_their_digest_fails_clearly() {
    let bed = testbed();
    let c = client();
    let dir = tempfile::tempdir().unwrap();
    let dest = reference(&bed.fresh_repo("push-bad-digest"));
    let file = dir.path().join("blob");
    std::fs::write(&file, b"these bytes").unwrap();
    let claimed = Digest::of(b"other bytes");
    let error = c
        .registry
        .push_blob(&dest, &claimed, 11, &file, None)
        .await
        .unwrap_err();
    // rtlock hashes what it sends and breaks the upload off before its last bytes:
    // the registry never sees a complete blob under the wrong name.
    let chain = rtlock::fetch::error_chain(&error);
    assert!(chain.contains("does not hash to its name"), "{chain}");
    assert!(!c.registry.blob_exists(&dest, &claimed).await.unwrap());

    // In chunks: every chunk goes, then the upload is never closed.
    let big = dir.path().join("big");
    let content: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &content).unwrap();
    let claimed = Digest::of(b"not these bytes");
    let error = c
        .registry
        .clone()
        .with_upload_chunk_size(1024 * 1024)
        .push_blob(&dest, &claimed, content.len() as u64, &big, None)
        .await
        .unwrap_err();
    let chain = rtlock::fetch::error_chain(&error);
    assert!(chain.contains("does not hash to its name"), "{chain}");
    assert!(!c.registry.blob_exists(&dest, &claimed).await.unwrap());

    let error = c
        .registry
        .push_blob(&dest, &Digest::of(b"these bytes"), 99, &file, None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not the 99"), "{error}");
}

#[tokio::test]
async fn a_manifest_without_a_tag_is_pushed_by_digest() {
    let bed = testbed();
    let c = client();
    let source = reference(&bed.image_minimal);
    let (manifest, digest) = image_manifest(&c.registry, &source).await;
    let fetched = c
        .registry
        .get_manifest(&source.with_digest(digest.clone()))
        .await
        .unwrap();
    let dest = reference(&bed.fresh_repo("push-digest")).with_digest(digest.clone());
    let dest = Reference { tag: None, ..dest };
    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
        let blob = c
            .registry
            .get_blob(&source, &d.digest, Some(d.size))
            .await
            .unwrap();
        c.registry
            .push_blob(&dest, &d.digest, d.size, &blob.path, Some(&source))
            .await
            .unwrap();
    }
    let pushed = c
        .registry
        .push_manifest(&dest, &fetched.media_type, &fetched.bytes)
        .await
        .unwrap();
    assert_eq!(pushed, digest);
    assert_eq!(
        c.registry.get_manifest(&dest).await.unwrap().bytes,
        fetched.bytes
    );
}

#[tokio::test]
async fn docker_schema_2_manifests_oci_indexes_and_manifest_lists_round_trip() {
    let bed = testbed();
    let c = client();
    let source = reference(&bed.image_minimal);
    let (manifest, oci_digest) = image_manifest(&c.registry, &source).await;
    let oci = c
        .registry
        .get_manifest(&source.with_digest(oci_digest.clone()))
        .await
        .unwrap();
    let repo = reference(&bed.fresh_repo("media-types"));
    for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
        let blob = c
            .registry
            .get_blob(&source, &d.digest, Some(d.size))
            .await
            .unwrap();
        c.registry
            .push_blob(&repo, &d.digest, d.size, &blob.path, Some(&source))
            .await
            .unwrap();
    }
    c.registry
        .push_manifest(&repo.with_tag("oci"), &oci.media_type, &oci.bytes)
        .await
        .unwrap();

    // The same image as Docker v2 schema 2.
    let descriptor = |media_type: &str, d: &rtlock::oci::types::Descriptor| serde_json::json!({"mediaType": media_type, "digest": d.digest, "size": d.size});
    let docker = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::DOCKER_MANIFEST,
        "config": descriptor(media_type::DOCKER_CONFIG, &manifest.config),
        "layers": manifest.layers.iter()
            .map(|l| descriptor(media_type::DOCKER_LAYER_GZIP, l))
            .collect::<Vec<_>>(),
    }))
    .unwrap();
    let docker_ref = repo.with_tag("docker");
    let docker_digest = c
        .registry
        .push_manifest(&docker_ref, media_type::DOCKER_MANIFEST, &docker)
        .await
        .unwrap();
    let fetched = c.registry.get_manifest(&docker_ref).await.unwrap();
    assert_eq!(fetched.media_type, media_type::DOCKER_MANIFEST);
    assert_eq!(fetched.bytes, docker);
    assert_eq!(fetched.digest, docker_digest);
    let head = c.registry.head_manifest(&docker_ref).await.unwrap();
    assert_eq!(
        (head.digest, head.media_type.as_str()),
        (docker_digest.clone(), media_type::DOCKER_MANIFEST)
    );
    assert_eq!(
        skopeo_digest(&docker_ref.to_string()),
        docker_digest.as_str()
    );

    // An index of both, in each family's index type: amd64 is the OCI manifest, arm64
    // the Docker one.
    for (index_type, tag) in [
        (media_type::OCI_INDEX, "oci-index"),
        (media_type::DOCKER_MANIFEST_LIST, "manifest-list"),
    ] {
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": index_type,
            "manifests": [
                {"mediaType": oci.media_type, "digest": oci_digest, "size": oci.bytes.len(),
                 "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": media_type::DOCKER_MANIFEST, "digest": docker_digest,
                 "size": docker.len(), "platform": {"os": "linux", "architecture": "arm64"}},
            ],
        }))
        .unwrap();
        let index_ref = repo.with_tag(tag);
        let index_digest = c
            .registry
            .push_manifest(&index_ref, index_type, &index)
            .await
            .unwrap();
        let fetched = c.registry.get_manifest(&index_ref).await.unwrap();
        assert_eq!(fetched.media_type, index_type);
        assert_eq!(fetched.digest, index_digest);
        assert_eq!(
            c.registry.head_manifest(&index_ref).await.unwrap().digest,
            index_digest
        );
        assert_eq!(skopeo_digest(&index_ref.to_string()), index_digest.as_str());
        let parsed: ImageIndex = serde_json::from_slice(&fetched.bytes).unwrap();
        for (arch, expected, expected_type) in [
            ("amd64", &oci_digest, oci.media_type.as_str()),
            ("arm64", &docker_digest, media_type::DOCKER_MANIFEST),
        ] {
            let entry = select_platform(&parsed, "linux", arch, None).unwrap();
            assert_eq!(&entry.digest, expected);
            let platform_manifest = c
                .registry
                .get_manifest(&index_ref.with_digest(entry.digest.clone()))
                .await
                .unwrap();
            assert_eq!(platform_manifest.media_type, expected_type);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_first_requests_share_one_probe_and_one_token() {
    let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let fake = start_fake(Some("robot:pw"), b"", manifest).await;
    let registry_host = fake.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    docker_config_with(config.path(), &registry_host, "robot", "pw");
    let registry = registry_with_config(cache.path(), config.path());
    let r = reference(&format!("{registry_host}/team/image:1"));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (registry, r) = (registry.clone(), r.clone());
            tokio::spawn(async move { registry.get_manifest(&r).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let seen = fake.seen.lock().unwrap().clone();
    let count = |prefix: &str| {
        seen.iter()
            .filter(|(_, p, _)| p.starts_with(prefix))
            .count()
    };
    // One probe of /v2/ (the HTTPS attempt before it never reaches the plain-HTTP fake)
    // and one token for the one scope.
    assert_eq!(
        seen.iter().filter(|(_, p, _)| p == "/v2/").count(),
        1,
        "{seen:#?}"
    );
    assert_eq!(count("/token"), 1, "{seen:#?}");
    assert_eq!(count("/v2/team/image/manifests/"), 8, "{seen:#?}");
}

// --- fake registries -------------------------------------------------------------------

/// What a fake registry saw: method, path with query, Authorization header.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

#[derive(Clone)]
struct Fake {
    addr: SocketAddr,
    seen: Seen,
    /// Bearer mode: `user:password` the token service accepts.
    bearer_login: Option<String>,
    /// Blob bytes served for any blob request.
    blob: Arc<Vec<u8>>,
    manifest: Arc<Vec<u8>>,
    /// Announce this `Content-Length` for blobs, send `blob`, then break the connection.
    truncate_at: Option<u64>,
    /// Answer blob requests with a redirect here (blob storage on another origin).
    redirect_blobs: Option<String>,
}

const FAKE_TOKEN: &str = "fake-token-1";

async fn start_fake(bearer_login: Option<&str>, blob: &[u8], manifest: &[u8]) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = Fake {
        addr: listener.local_addr().unwrap(),
        seen: Arc::default(),
        bearer_login: bearer_login.map(str::to_string),
        blob: Arc::new(blob.to_vec()),
        manifest: Arc::new(manifest.to_vec()),
        truncate_at: None,
        redirect_blobs: None,
    };
    serve_fake(listener, fake)
}

/// Serves `fake` on `listener` (its `addr` is set from the listener).
fn serve_fake(listener: tokio::net::TcpListener, mut fake: Fake) -> Fake {
    fake.addr = listener.local_addr().unwrap();
    let app = Router::new()
        .fallback(fake_handler)
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

/// A fake registry whose blobs announce `full` bytes and break off after `sent`.
async fn start_truncating_fake(sent: &[u8], full: u64) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = Fake {
        addr: listener.local_addr().unwrap(),
        seen: Arc::default(),
        bearer_login: None,
        blob: Arc::new(sent.to_vec()),
        manifest: Arc::new(Vec::new()),
        truncate_at: Some(full),
        redirect_blobs: None,
    };
    serve_fake(listener, fake)
}

async fn fake_handler(State(fake): State<Fake>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    fake.seen.lock().unwrap().push((
        request.method().to_string(),
        match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        },
        authorization.clone(),
    ));
    let challenge = || {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::WWW_AUTHENTICATE,
            format!(
                r#"Bearer realm="http://{}/token",service="fake-registry""#,
                fake.addr
            )
            .parse()
            .unwrap(),
        );
        (StatusCode::UNAUTHORIZED, headers, "").into_response()
    };

    if path == "/token" {
        let expected = fake.bearer_login.as_deref().map(|login| {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(login)
            )
        });
        if authorization != expected {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        return (
            [(header::CONTENT_TYPE, "application/json")],
            format!(r#"{{"token":"{FAKE_TOKEN}","expires_in":300}}"#),
        )
            .into_response();
    }
    let authorized = fake.bearer_login.is_none()
        || authorization.as_deref() == Some(&format!("Bearer {FAKE_TOKEN}"));
    if !authorized {
        return challenge();
    }
    if request.method() == axum::http::Method::PUT {
        // Pull only: the token does not cover pushing.
        let mut headers = HeaderMap::new();
        headers.insert(
            header::WWW_AUTHENTICATE,
            format!(
                r#"Bearer realm="http://{}/token",service="fake-registry",error="insufficient_scope""#,
                fake.addr
            )
            .parse()
            .unwrap(),
        );
        return (StatusCode::UNAUTHORIZED, headers, "").into_response();
    }
    if path == "/v2/" {
        return StatusCode::OK.into_response();
    }
    if path.contains("/blobs/") {
        if let Some(location) = &fake.redirect_blobs {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location.clone())],
            )
                .into_response();
        }
        if let Some(full) = fake.truncate_at {
            let sent = fake.blob.as_ref().clone();
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                vec![Ok(sent), Err(std::io::Error::other("the connection broke"))];
            let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, full.into());
            return response;
        }
        return Response::new(Body::from(fake.blob.as_ref().clone()));
    }
    if path.contains("/manifests/") {
        return (
            [(header::CONTENT_TYPE, media_type::OCI_MANIFEST)],
            fake.manifest.as_ref().clone(),
        )
            .into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

fn docker_config_with(dir: &Path, registry: &str, user: &str, password: &str) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::write(
        dir.join("config.json"),
        format!(r#"{{"auths":{{"{registry}":{{"auth":"{auth}"}}}}}}"#),
    )
    .unwrap();
}

fn registry_with_config(cache: &Path, config_dir: &Path) -> Registry {
    let fetcher = Fetcher::new(FetchSettings::new(cache)).unwrap();
    Registry::new(
        &fetcher,
        RegistryOptions {
            insecure: Vec::new(),
            docker_config_dir: Some(config_dir.to_path_buf()),
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blob_whose_digest_does_not_match_is_refused_and_nothing_is_cached() {
    let fake = start_fake(None, b"not what was asked for", b"{}").await;
    let c = client();
    let r = reference(&format!("{}/team/image:1", fake.addr));
    let expected = Digest::of(b"the real content");
    let error = c.registry.get_blob(&r, &expected, None).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(expected.as_str()) && text.contains("nothing was cached"),
        "{text}"
    );
    assert!(!c.fetcher.cache().blob_path(expected.hex()).exists());
    let wrong = sha256_hex(b"not what was asked for");
    assert!(!c.fetcher.cache().blob_path(&wrong).exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_blob_is_an_error_and_nothing_is_cached() {
    let content = vec![7u8; 64 * 1024];
    let fake = start_truncating_fake(&content[..1000], content.len() as u64).await;
    let c = client();
    let r = reference(&format!("{}/team/image:1", fake.addr));
    let digest = Digest::of(&content);
    let error = c
        .registry
        .get_blob(&r, &digest, Some(content.len() as u64))
        .await
        .unwrap_err();
    let text = rtlock::fetch::error_chain(&error);
    assert!(text.contains(digest.as_str()), "{text}");
    assert!(!c.fetcher.cache().blob_path(digest.hex()).exists());
    let tmp = c.fetcher.cache().tmp_dir();
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "partial downloads are removed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_whose_digest_does_not_match_is_refused() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let fake = start_fake(None, b"", manifest).await;
    let c = client();
    let r = reference(&format!("{}/team/image:1", fake.addr));
    // By tag: accepted, the digest is the bytes'.
    let fetched = c.registry.get_manifest(&r).await.unwrap();
    assert_eq!(fetched.digest, Digest::of(manifest));
    // By another digest: refused, and not cached under it.
    let other = Digest::of(b"x");
    let error = c
        .registry
        .get_manifest(&r.with_digest(other.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error:?}"
    );
    assert!(!c.fetcher.cache().blob_path(other.hex()).exists());
}

/// A registry whose `Content-Type` disagrees with the manifest's own `mediaType`: the
/// document decides, so the fetch by tag and the later offline read of the cached bytes
/// (which have no header) give the same type (the fetch used to believe the header).
#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_is_typed_by_its_own_media_type_online_and_from_the_cache() {
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    // The fake answers every manifest with an OCI manifest `Content-Type`.
    let fake = start_fake(None, b"", manifest).await;
    let online = client();
    let r = reference(&format!("{}/team/image:1", fake.addr));
    let fetched = online.registry.get_manifest(&r).await.unwrap();
    let offline = client_with_cache(online.cache, true);
    let cached = offline
        .registry
        .get_manifest(&r.with_digest(fetched.digest.clone()))
        .await
        .unwrap();
    assert_eq!(fetched.media_type, media_type::DOCKER_MANIFEST);
    assert_eq!(cached.media_type, fetched.media_type);
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_tokens_are_fetched_with_docker_config_credentials_and_reused() {
    let login = "robot:tok3n-pass";
    let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
    let fake = start_fake(Some(login), b"", manifest).await;
    let registry_host = fake.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    docker_config_with(config.path(), &registry_host, "robot", "tok3n-pass");
    let registry = registry_with_config(cache.path(), config.path());
    let r = reference(&format!("{registry_host}/team/image:1"));

    let fetched = registry.get_manifest(&r).await.unwrap();
    assert_eq!(fetched.bytes, manifest);
    registry.head_manifest(&r).await.unwrap();

    let seen = fake.seen.lock().unwrap().clone();
    let tokens: Vec<_> = seen
        .iter()
        .filter(|(_, p, _)| p.starts_with("/token"))
        .collect();
    assert_eq!(tokens.len(), 1, "one token for one scope: {seen:#?}");
    let query = &tokens[0].1;
    assert!(query.contains("service=fake-registry"), "{query}");
    assert!(
        query.contains("scope=repository%3Ateam%2Fimage%3Apull"),
        "{query}"
    );
    assert!(
        seen.iter()
            .filter(|(_, p, _)| p.contains("/manifests/"))
            .all(|(_, _, auth)| auth.as_deref() == Some("Bearer fake-token-1")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_follow_redirects_to_storage_without_the_registry_credentials() {
    let storage_dir = tempfile::tempdir().unwrap();
    let content = b"layer bytes kept in object storage";
    std::fs::write(storage_dir.path().join("blob"), content).unwrap();
    let storage = common::server::StaticServer::start(storage_dir.path());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = serve_fake(
        listener,
        Fake {
            addr: "127.0.0.1:0".parse().unwrap(), // set by serve_fake
            seen: Arc::default(),
            bearer_login: Some("robot:pw".into()),
            blob: Arc::new(Vec::new()),
            manifest: Arc::new(Vec::new()),
            truncate_at: None,
            redirect_blobs: Some(storage.url("blob").to_string()),
        },
    );
    let registry_host = fake.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    docker_config_with(config.path(), &registry_host, "robot", "pw");
    let registry = registry_with_config(cache.path(), config.path());
    let r = reference(&format!("{registry_host}/team/image:1"));

    let digest = Digest::of(content);
    let blob = registry
        .get_blob(&r, &digest, Some(content.len() as u64))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), content);
    let hits = storage.hits();
    assert_eq!(hits.len(), 1, "{hits:#?}");
    assert!(
        !hits[0].request_headers.contains_key(header::AUTHORIZATION),
        "the registry's token went to the storage: {hits:#?}"
    );
    let seen = fake.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(_, p, auth)| p.contains("/blobs/")
                && auth.as_deref() == Some("Bearer fake-token-1")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_password_is_a_clear_error_that_does_not_show_it() {
    let fake = start_fake(Some("robot:right-password"), b"", b"{}").await;
    let registry_host = fake.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let wrong = "Wr0ng-Passw0rd-never-to-be-printed";
    docker_config_with(config.path(), &registry_host, "robot", wrong);
    let registry = registry_with_config(cache.path(), config.path());
    let r = reference(&format!("{registry_host}/team/image:1"));
    let error = registry.get_manifest(&r).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::CredentialsRejected { .. }),
        "{error:?}"
    );
    let text = rtlock::fetch::error_chain(&error);
    let debug = format!("{error:?}");
    assert!(
        text.contains("robot") && text.contains("rejected"),
        "{text}"
    );
    assert!(text.contains("config.json"), "{text}");
    for shown in [&text, &debug] {
        assert!(!shown.contains(wrong), "{shown}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pushing_without_permission_is_denied_not_a_bad_password() {
    let fake = start_fake(Some("reader:pw"), b"", b"{}").await;
    let registry_host = fake.addr.to_string();
    let cache = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    docker_config_with(config.path(), &registry_host, "reader", "pw");
    let registry = registry_with_config(cache.path(), config.path());
    let r = reference(&format!("{registry_host}/team/image:1"));
    let error = registry
        .push_manifest(&r, media_type::OCI_MANIFEST, b"{}")
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::Denied { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("user `reader` may push to"), "{text}");
    let seen = fake.seen.lock().unwrap().clone();
    let token_requests: Vec<_> = seen
        .iter()
        .filter(|(_, p, _)| p.starts_with("/token"))
        .collect();
    assert!(
        token_requests
            .iter()
            .all(|(_, p, _)| p.contains("team%2Fimage%3Apull%2Cpush")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_credentials_a_private_registry_says_how_to_log_in() {
    // The token service refuses anonymous tokens.
    let fake = start_fake(Some("robot:pw"), b"", b"{}").await;
    let c = client();
    let r = reference(&format!("{}/team/image:1", fake.addr));
    let error = c.registry.get_manifest(&r).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("docker login"), "{text}");
}

/// A registry that implements just the chunked upload protocol, and breaks the
/// `break_patch`-th PATCH after keeping its first 1000 bytes (as a registry does when a
/// connection dies mid-chunk).
#[derive(Clone, Default)]
struct UploadFake {
    received: Arc<Mutex<Vec<u8>>>,
    patches: Arc<std::sync::atomic::AtomicUsize>,
    status_queries: Arc<std::sync::atomic::AtomicUsize>,
    committed: Arc<Mutex<Option<String>>>,
    break_patch: usize,
    /// The query of each upload-starting POST.
    posts: Arc<Mutex<Vec<String>>>,
}

const UPLOAD_LOCATION: &str = "/v2/team/image/blobs/uploads/session-1?_state=x";

async fn upload_handler(State(fake): State<UploadFake>, request: Request) -> Response {
    use axum::http::Method;
    use std::sync::atomic::Ordering;
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let start: Option<usize> = request
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.parse().ok());
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap();
    let with_range = |status: StatusCode, received: usize| {
        (
            status,
            [
                (header::LOCATION, UPLOAD_LOCATION.to_string()),
                (header::RANGE, format!("0-{}", received.saturating_sub(1))),
            ],
        )
            .into_response()
    };
    let mut received = fake.received.lock().unwrap();
    match (method, path.as_str()) {
        (Method::GET, "/v2/") => StatusCode::OK.into_response(),
        (Method::HEAD, p) if p.contains("/blobs/sha256:") => {
            let digest = p.rsplit('/').next().unwrap().to_string();
            if fake.committed.lock().unwrap().as_deref() == Some(digest.as_str()) {
                StatusCode::OK.into_response()
            } else {
                StatusCode::NOT_FOUND.into_response()
            }
        }
        (Method::POST, "/v2/team/image/blobs/uploads/") => {
            // Mount requests are declined (as registries do without pull access to
            // the source): 202 starts a normal upload instead.
            fake.posts.lock().unwrap().push(query);
            with_range(StatusCode::ACCEPTED, received.len())
        }
        (Method::PATCH, "/v2/team/image/blobs/uploads/session-1") => {
            let n = fake.patches.fetch_add(1, Ordering::SeqCst) + 1;
            if start != Some(received.len()) {
                return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            }
            if n == fake.break_patch {
                received.extend_from_slice(&body[..1000]);
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            received.extend_from_slice(&body);
            with_range(StatusCode::ACCEPTED, received.len())
        }
        (Method::GET, "/v2/team/image/blobs/uploads/session-1") => {
            fake.status_queries.fetch_add(1, Ordering::SeqCst);
            with_range(StatusCode::NO_CONTENT, received.len())
        }
        (Method::PUT, "/v2/team/image/blobs/uploads/session-1") => {
            let digest = url::form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "digest")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            // A monolithic upload's bytes come with the PUT; a chunked one's PUT is empty.
            received.extend_from_slice(&body);
            if digest != format!("sha256:{}", sha256_hex(&received)) {
                return StatusCode::BAD_REQUEST.into_response();
            }
            *fake.committed.lock().unwrap() = Some(digest);
            StatusCode::CREATED.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunk_that_breaks_part_way_is_resumed_where_the_registry_stands() {
    use std::sync::atomic::Ordering;
    let fake = UploadFake {
        break_patch: 2,
        ..UploadFake::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .fallback(upload_handler)
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    let file = dir.path().join("blob");
    std::fs::write(&file, &content).unwrap();
    let digest = Digest::of(&content);
    let c = client();
    let registry = c.registry.clone().with_upload_chunk_size(64 * 1024);
    let r = reference(&format!("{addr}/team/image:1"));
    let how = registry
        .push_blob_with(&r, &digest, content.len() as u64, &file, None)
        .await
        .unwrap();
    assert!(matches!(how, PushedBlob::Uploaded { .. }), "{how:?}");
    assert_eq!(fake.status_queries.load(Ordering::SeqCst), 1);
    assert_eq!(*fake.received.lock().unwrap(), content);
    assert_eq!(
        fake.committed.lock().unwrap().as_deref(),
        Some(digest.as_str())
    );
    assert!(registry.blob_exists(&r, &digest).await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_mount_falls_back_to_uploading() {
    let fake = UploadFake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .fallback(upload_handler)
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    std::fs::write(&file, b"mount me if you can").unwrap();
    let digest = Digest::of(b"mount me if you can");
    let c = client();
    let r = reference(&format!("{addr}/team/image:1"));
    let from = reference(&format!("{addr}/other/source:1"));
    let how = c
        .registry
        .push_blob_with(&r, &digest, 19, &file, Some(&from))
        .await
        .unwrap();
    assert_eq!(how, PushedBlob::Uploaded { chunks: 0 });
    let posts = fake.posts.lock().unwrap().clone();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].contains(&format!("mount={}", digest.as_str().replace(':', "%3A")))
            && posts[0].contains("from=other%2Fsource"),
        "{posts:?}"
    );
    assert_eq!(*fake.received.lock().unwrap(), b"mount me if you can");
}
