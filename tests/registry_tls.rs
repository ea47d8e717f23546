//! The registry client against the test bed's HTTPS + htpasswd registry: trust through
//! `SSL_CERT_FILE`, credentials from a Docker config directory (given, or from
//! `DOCKER_CONFIG`) and from credential helpers found on `PATH`, with `skopeo` as the
//! oracle.
//!
//! The HTTP client reads `SSL_CERT_FILE` and helpers are looked up on `PATH`, both from
//! the process environment; so every test here first calls [`setup`], which sets them
//! once for this test binary (and only for it: each integration test file is its own
//! process).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::testbed::{TestBed, ok, skopeo, testbed};
use rtlock::fetch::{FetchSettings, Fetcher, error_chain};
use rtlock::oci::Digest;
use rtlock::oci::reference::Reference;
use rtlock::oci::registry::{PushedBlob, Registry, RegistryError, RegistryOptions};
use rtlock::oci::types::ImageManifest;

/// The name of the test's credential helper (`docker-credential-rtlock-test`).
const HELPER: &str = "rtlock-test";
/// A helper that always fails.
const BROKEN_HELPER: &str = "rtlock-broken";

struct Setup {
    bed: &'static TestBed,
    /// Where the helpers are; `asked` there holds what the helper last read on stdin.
    helpers: PathBuf,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let bed = testbed();
        let helpers =
            std::env::temp_dir().join(format!("rtlock-registry-tls-{}", std::process::id()));
        std::fs::create_dir_all(&helpers).unwrap();
        write_script(
            &helpers.join(format!("docker-credential-{HELPER}")),
            &format!(
                r#"#!/bin/sh
[ "$1" = get ] || exit 3
server=$(cat)
printf '%s' "$server" > "$(dirname "$0")/asked"
if [ "$server" = "{registry}" ]; then
    printf '{{"ServerURL":"%s","Username":"{user}","Secret":"{password}"}}' "$server"
else
    echo "credentials not found in native keychain"
    exit 1
fi
"#,
                registry = bed.registry_tls,
                user = bed.registry_user,
                password = bed.registry_password,
            ),
        );
        write_script(
            &helpers.join(format!("docker-credential-{BROKEN_HELPER}")),
            "#!/bin/sh\necho 'the keychain is locked' >&2\nexit 7\n",
        );
        let path = std::env::var("PATH").unwrap_or_default();
        // SAFETY: set once, before any client of this test binary exists, by the first
        // test to get here (the others wait on the OnceLock); std's own environment
        // lock orders these writes with every std::env read.
        unsafe {
            std::env::set_var("SSL_CERT_FILE", &bed.ca_bundle);
            std::env::set_var("PATH", format!("{}:{path}", helpers.display()));
            std::env::set_var("DOCKER_CONFIG", &bed.docker_config);
        }
        Setup { bed, helpers }
    })
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A client with its own cache; `config_dir` None means `$DOCKER_CONFIG`.
fn registry(cache: &Path, config_dir: Option<&Path>) -> Registry {
    let fetcher = Fetcher::new(FetchSettings::new(cache)).unwrap();
    Registry::new(
        &fetcher,
        RegistryOptions {
            insecure: Vec::new(),
            docker_config_dir: config_dir.map(Path::to_path_buf),
        },
    )
    .unwrap()
}

fn config_dir(json: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), json).unwrap();
    dir
}

/// The minimal image's reference on the TLS registry (same repository path).
fn tls_image(bed: &TestBed) -> Reference {
    let plain: Reference = bed.image_minimal.parse().unwrap();
    Reference {
        registry: bed.registry_tls.clone(),
        ..plain
    }
}

fn skopeo_tls_digest(bed: &TestBed, reference: &Reference) -> String {
    let out = ok(
        "skopeo inspect",
        skopeo(&[
            "inspect",
            "--no-tags",
            "--creds",
            &bed.creds(),
            "--cert-dir",
            bed.ca_cert_dir().to_str().unwrap(),
            &format!("docker://{reference}"),
        ]),
    );
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    json["Digest"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_tag_resolves_over_tls_with_credentials_from_a_docker_config_dir() {
    let Setup { bed, .. } = setup();
    let cache = tempfile::tempdir().unwrap();
    let registry = registry(cache.path(), Some(&bed.docker_config));
    let r = tls_image(bed);
    let head = registry.head_manifest(&r).await.unwrap();
    assert_eq!(head.digest.as_str(), skopeo_tls_digest(bed, &r));

    // The manifest and a blob through the same authentication (blobs go through the
    // fetch layer with the Authorization header).
    let fetched = registry.get_manifest(&r).await.unwrap();
    assert_eq!(fetched.digest, head.digest);
    let manifest: ImageManifest = serde_json::from_slice(&fetched.bytes).unwrap();
    let blob = registry
        .get_blob(&r, &manifest.config.digest, Some(manifest.config.size))
        .await
        .unwrap();
    assert_eq!(blob.sha256, manifest.config.digest.hex());
}

#[tokio::test]
async fn docker_config_env_is_the_default() {
    let Setup { bed, .. } = setup();
    let cache = tempfile::tempdir().unwrap();
    let registry = registry(cache.path(), None);
    let head = registry.head_manifest(&tls_image(bed)).await.unwrap();
    assert!(head.digest.as_str().starts_with("sha256:"));
}

#[tokio::test]
async fn a_wrong_password_is_a_clear_error_that_does_not_show_it() {
    let Setup { bed, .. } = setup();
    let wrong = "n0t-the-Passw0rd-4f1c";
    let auth = BASE64.encode(format!("{}:{wrong}", bed.registry_user));
    let config = config_dir(&format!(
        r#"{{"auths":{{"https://{}":{{"auth":"{auth}"}}}}}}"#,
        bed.registry_tls
    ));
    let cache = tempfile::tempdir().unwrap();
    let registry = registry(cache.path(), Some(config.path()));
    let error = registry.head_manifest(&tls_image(bed)).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::CredentialsRejected { .. }),
        "{error:?}"
    );
    let text = error_chain(&error);
    assert!(
        text.contains("rejected")
            && text.contains(&bed.registry_user)
            && text.contains("config.json"),
        "{text}"
    );
    for shown in [text, format!("{error:?}")] {
        assert!(!shown.contains(wrong) && !shown.contains(&auth), "{shown}");
        assert!(!shown.contains(&bed.registry_password), "{shown}");
    }
}

#[tokio::test]
async fn without_credentials_the_error_says_how_to_log_in() {
    let Setup { bed, .. } = setup();
    let config = config_dir("{}");
    let cache = tempfile::tempdir().unwrap();
    let registry = registry(cache.path(), Some(config.path()));
    let error = registry.get_manifest(&tls_image(bed)).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::NoCredentials { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.contains(&format!("docker login {}", bed.registry_tls)),
        "{text}"
    );
}

#[tokio::test]
async fn credential_helpers_supply_credentials() {
    let Setup { bed, helpers } = setup();
    let cache = tempfile::tempdir().unwrap();
    let r = tls_image(bed);
    let expected = skopeo_tls_digest(bed, &r);

    // credHelpers names a helper for this registry.
    let config = config_dir(&format!(
        r#"{{"credHelpers":{{"{}":"{HELPER}"}}}}"#,
        bed.registry_tls
    ));
    let head = registry(cache.path(), Some(config.path()))
        .head_manifest(&r)
        .await
        .unwrap();
    assert_eq!(head.digest.as_str(), expected);
    assert_eq!(
        std::fs::read_to_string(helpers.join("asked")).unwrap(),
        bed.registry_tls,
        "the helper is asked for the registry's host:port"
    );

    // credsStore: the helper for every registry.
    let config = config_dir(&format!(r#"{{"credsStore":"{HELPER}"}}"#));
    let head = registry(cache.path(), Some(config.path()))
        .head_manifest(&r)
        .await
        .unwrap();
    assert_eq!(head.digest.as_str(), expected);

    // A helper that has nothing for a registry is not an error: the anonymous plain
    // registry still works with credsStore set.
    let plain: Reference = bed.image_minimal.parse().unwrap();
    registry(cache.path(), Some(config.path()))
        .head_manifest(&plain)
        .await
        .unwrap();

    // A helper that fails is, naming the helper and what it said.
    let config = config_dir(&format!(r#"{{"credsStore":"{BROKEN_HELPER}"}}"#));
    let error = registry(cache.path(), Some(config.path()))
        .head_manifest(&r)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!("docker-credential-{BROKEN_HELPER}"))
            && text.contains("the keychain is locked"),
        "{text}"
    );

    // A helper that is not installed says so.
    let config = config_dir(r#"{"credsStore":"rtlock-not-installed"}"#);
    let error = registry(cache.path(), Some(config.path()))
        .head_manifest(&r)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("could not run it"), "{error}");
}

#[tokio::test]
async fn push_over_tls_with_basic_authentication() {
    let Setup { bed, .. } = setup();
    let cache = tempfile::tempdir().unwrap();
    let registry = registry(cache.path(), Some(&bed.docker_config));
    let dest: Reference = bed.fresh_repo_tls("push-tls").parse().unwrap();
    let file = cache.path().join("blob");
    let content = b"pushed over TLS with Basic auth";
    std::fs::write(&file, content).unwrap();
    let digest = Digest::of(content);
    let how = registry
        .push_blob_with(&dest, &digest, content.len() as u64, &file, None)
        .await
        .unwrap();
    assert_eq!(how, PushedBlob::Uploaded { chunks: 0 });
    assert!(registry.blob_exists(&dest, &digest).await.unwrap());

    // Mount from the test image's repository on the same registry.
    let source = tls_image(bed);
    let manifest: ImageManifest =
        serde_json::from_slice(&registry.get_manifest(&source).await.unwrap().bytes).unwrap();
    let config = &manifest.config;
    let blob = registry
        .get_blob(&source, &config.digest, Some(config.size))
        .await
        .unwrap();
    let how = registry
        .push_blob_with(
            &dest,
            &config.digest,
            config.size,
            &blob.path,
            Some(&source),
        )
        .await
        .unwrap();
    assert_eq!(how, PushedBlob::Mounted);
}
