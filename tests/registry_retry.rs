//! How the registry client rides out a registry that fails on purpose: transient answers
//! (429, 5xx) to the `/v2/` probe, to the token service and to a manifest request are
//! tried again by the fetcher's [`RetryPolicy`], `Retry-After` is honoured up to the
//! policy's cap, the attempts run out where the policy says, and a 401 gets one more
//! try with a fresh token and no more.
//!
//! A small fake registry on 127.0.0.1 (plain HTTP, which loopback allows) is scripted
//! per request kind; every request it sees is counted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rtlock::fetch::{FetchSettings, Fetcher, RetryPolicy};
use rtlock::oci::media_type;
use rtlock::oci::reference::Reference;
use rtlock::oci::registry::{Registry, RegistryError, RegistryOptions};

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;

/// The requests a fake registry tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Probe,
    Token,
    Manifest,
}

impl Kind {
    fn of(path: &str) -> Option<Kind> {
        if path == "/v2/" {
            Some(Kind::Probe)
        } else if path == "/token" {
            Some(Kind::Token)
        } else if path.contains("/manifests/") {
            Some(Kind::Manifest)
        } else {
            None
        }
    }
}

/// An answer given instead of the normal one.
#[derive(Debug, Clone, Copy)]
enum Fault {
    Status(u16),
    /// The status with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// A bearer challenge, whatever the request carried (a registry that refuses every
    /// token for this repository).
    Challenge,
}

/// Each request a fake saw: its kind and its `Authorization` header.
type Seen = Arc<Mutex<Vec<(Option<Kind>, Option<String>)>>>;

#[derive(Clone)]
struct Fake {
    addr: SocketAddr,
    /// Whether the registry wants bearer tokens (anonymous ones from `/token`).
    bearer: bool,
    /// Kind → (fault, how many more requests of that kind get it).
    faults: Arc<Mutex<HashMap<Kind, (Fault, usize)>>>,
    seen: Seen,
    /// Tokens handed out so far; token N is `token-N`.
    issued: Arc<AtomicUsize>,
    /// Tokens the registry no longer takes (as if they had expired early).
    revoked: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    async fn start(bearer: bool) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Fake {
            addr: listener.local_addr().unwrap(),
            bearer,
            faults: Arc::default(),
            seen: Arc::default(),
            issued: Arc::default(),
            revoked: Arc::default(),
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    fn fail(&self, kind: Kind, fault: Fault, times: usize) {
        self.faults.lock().unwrap().insert(kind, (fault, times));
    }

    fn count(&self, kind: Kind) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|(k, _)| *k == Some(kind)).count()
    }

    /// The `Authorization` headers of the manifest requests, in order.
    fn manifest_authorizations(&self) -> Vec<Option<String>> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(k, _)| *k == Some(Kind::Manifest))
            .map(|(_, a)| a.clone())
            .collect()
    }

    fn reference(&self) -> Reference {
        format!("{}/team/image:1", self.addr).parse().unwrap()
    }
}

async fn handle(State(fake): State<Fake>, request: Request) -> Response {
    let kind = Kind::of(request.uri().path());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    fake.seen
        .lock()
        .unwrap()
        .push((kind, authorization.clone()));
    let challenge = || {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::WWW_AUTHENTICATE,
            format!(
                r#"Bearer realm="http://{}/token",service="fake""#,
                fake.addr
            )
            .parse()
            .unwrap(),
        );
        (StatusCode::UNAUTHORIZED, headers).into_response()
    };
    let token_valid = || {
        let token = authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "));
        token.is_some_and(|t| {
            t.starts_with("token-") && !fake.revoked.lock().unwrap().iter().any(|r| r == t)
        })
    };
    // Like a real registry, a manifest request without a valid token is refused before
    // anything else can go wrong with it.
    if fake.bearer && kind == Some(Kind::Manifest) && !token_valid() {
        return challenge();
    }

    let fault = kind.and_then(|kind| {
        let mut faults = fake.faults.lock().unwrap();
        let (fault, left) = faults.get_mut(&kind)?;
        if *left == 0 {
            return None;
        }
        *left = left.saturating_sub(1);
        Some(*fault)
    });
    match fault {
        Some(Fault::Status(code)) => return StatusCode::from_u16(code).unwrap().into_response(),
        Some(Fault::RetryAfter(code, seconds)) => {
            return (
                StatusCode::from_u16(code).unwrap(),
                [(header::RETRY_AFTER, seconds.to_string())],
            )
                .into_response();
        }
        Some(Fault::Challenge) => return challenge(),
        None => {}
    }

    match kind {
        Some(Kind::Token) => {
            let n = fake.issued.fetch_add(1, Ordering::SeqCst) + 1;
            (
                [(header::CONTENT_TYPE, "application/json")],
                format!(r#"{{"token":"token-{n}","expires_in":300}}"#),
            )
                .into_response()
        }
        Some(Kind::Probe) if fake.bearer && !token_valid() => challenge(),
        Some(Kind::Probe) => StatusCode::OK.into_response(),
        Some(Kind::Manifest) => (
            [(header::CONTENT_TYPE, media_type::OCI_MANIFEST)],
            MANIFEST.to_vec(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A client with 4 attempts, short backoff (so that a wait of a second can only be a
/// `Retry-After`) and a 3 s cap, its own cache and no credentials.
struct Client {
    registry: Registry,
    _cache: tempfile::TempDir,
    _docker_config: tempfile::TempDir,
}

const ATTEMPTS: u32 = 4;

fn client() -> Client {
    let cache = tempfile::tempdir().unwrap();
    let docker_config = tempfile::tempdir().unwrap();
    let mut settings = FetchSettings::new(cache.path());
    settings.retry = RetryPolicy {
        attempts: ATTEMPTS,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(3),
    };
    let fetcher = Fetcher::new(settings).unwrap();
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
        _cache: cache,
        _docker_config: docker_config,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_manifest_answers_are_retried_until_one_succeeds() {
    let fake = Fake::start(false).await;
    fake.fail(Kind::Manifest, Fault::Status(503), 2);
    fake.fail(Kind::Probe, Fault::Status(502), 1);
    let c = client();
    let fetched = c.registry.get_manifest(&fake.reference()).await.unwrap();
    assert_eq!(fetched.bytes, MANIFEST);
    assert_eq!(fake.count(Kind::Manifest), 3);
    assert_eq!(fake.count(Kind::Probe), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_keeps_failing_is_given_up_after_the_policy_s_attempts() {
    let fake = Fake::start(false).await;
    fake.fail(Kind::Manifest, Fault::Status(503), usize::MAX);
    let c = client();
    let error = c
        .registry
        .get_manifest(&fake.reference())
        .await
        .unwrap_err();
    assert_eq!(fake.count(Kind::Manifest), ATTEMPTS as usize);
    assert!(
        matches!(error, RegistryError::Status { status, .. } if status == 503),
        "{error:?}"
    );
    insta::assert_snapshot!(
        "manifest_503",
        error.to_string().replace(&fake.addr.to_string(), "HOST")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_probe_that_keeps_failing_is_given_up_after_the_policy_s_attempts() {
    let fake = Fake::start(false).await;
    fake.fail(Kind::Probe, Fault::Status(503), usize::MAX);
    let c = client();
    let error = c
        .registry
        .get_manifest(&fake.reference())
        .await
        .unwrap_err();
    assert_eq!(fake.count(Kind::Probe), ATTEMPTS as usize);
    assert_eq!(fake.count(Kind::Manifest), 0);
    assert!(
        matches!(error, RegistryError::Unreachable { .. }),
        "{error:?}"
    );
    insta::assert_snapshot!(
        "probe_503",
        error.to_string().replace(&fake.addr.to_string(), "HOST")
    );
}

/// A registry that answers `GET /v2/` and drops the connection of any other request
/// without a word; returns its address and how many manifest requests it dropped.
async fn start_dropping_registry() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&dropped);
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                // The request head, or whatever a TLS client sends first.
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if !head.starts_with(b"GET ") && !head.starts_with(b"HEAD ") {
                        return;
                    }
                }
                if head.starts_with(b"GET /v2/ ") {
                    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                    let _ = stream.write_all(ok.as_bytes()).await;
                } else if head.windows(11).any(|w| w == b"/manifests/") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (addr, dropped)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_keeps_breaking_is_given_up_after_the_policy_s_attempts() {
    let (addr, dropped) = start_dropping_registry().await;
    let c = client();
    let r: Reference = format!("{addr}/team/image:1").parse().unwrap();
    let error = c.registry.get_manifest(&r).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::Network { attempts, .. } if attempts == ATTEMPTS),
        "{error:?}"
    );
    assert_eq!(dropped.load(Ordering::SeqCst), ATTEMPTS as usize);
    insta::assert_snapshot!(
        "manifest_dropped",
        error.to_string().replace(&addr.to_string(), "HOST")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_s_retry_after_is_waited_for() {
    let fake = Fake::start(false).await;
    fake.fail(Kind::Manifest, Fault::RetryAfter(429, 1), 1);
    let c = client();
    let started = Instant::now();
    c.registry.get_manifest(&fake.reference()).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(fake.count(Kind::Manifest), 2);
    // The backoff alone would be 10 ms.
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_longer_than_the_policy_s_cap_is_cut_to_it() {
    let fake = Fake::start(false).await;
    fake.fail(Kind::Manifest, Fault::RetryAfter(503, 3600), 1);
    let c = client();
    let started = Instant::now();
    c.registry.get_manifest(&fake.reference()).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(fake.count(Kind::Manifest), 2);
    // The cap is 3 s.
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(60),
        "{waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_service_is_retried_and_its_retry_after_honoured() {
    let fake = Fake::start(true).await;
    fake.fail(Kind::Token, Fault::RetryAfter(503, 1), 1);
    let c = client();
    let started = Instant::now();
    c.registry.get_manifest(&fake.reference()).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(fake.count(Kind::Token), 2);
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    // Token 1 was never handed out; the 503 came instead.
    assert_eq!(
        fake.manifest_authorizations().last().unwrap().as_deref(),
        Some("Bearer token-1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_service_that_keeps_failing_is_given_up_after_the_policy_s_attempts() {
    let fake = Fake::start(true).await;
    fake.fail(Kind::Token, Fault::Status(500), usize::MAX);
    let c = client();
    let error = c
        .registry
        .get_manifest(&fake.reference())
        .await
        .unwrap_err();
    assert_eq!(fake.count(Kind::Token), ATTEMPTS as usize);
    assert!(
        matches!(error, RegistryError::TokenService { .. }),
        "{error:?}"
    );
    insta::assert_snapshot!(
        "token_500",
        error.to_string().replace(&fake.addr.to_string(), "HOST")
    );
}

/// A client whose token for the fake registry is cached, and which the registry then
/// stops taking (as if it had expired early).
async fn with_a_revoked_token(fake: &Fake) -> Client {
    let c = client();
    c.registry.get_manifest(&fake.reference()).await.unwrap();
    assert_eq!(fake.issued.load(Ordering::SeqCst), 1);
    fake.revoked.lock().unwrap().push("token-1".into());
    fake.seen.lock().unwrap().clear();
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_is_replaced_once() {
    let fake = Fake::start(true).await;
    let c = with_a_revoked_token(&fake).await;
    let fetched = c.registry.get_manifest(&fake.reference()).await.unwrap();
    assert_eq!(fetched.bytes, MANIFEST);
    assert_eq!(
        fake.manifest_authorizations(),
        [Some("Bearer token-1".into()), Some("Bearer token-2".into())]
    );
    assert_eq!(fake.count(Kind::Token), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_refresh_does_not_spend_an_attempt() {
    let fake = Fake::start(true).await;
    let c = with_a_revoked_token(&fake).await;
    // The 401 to token 1, then as many 503s as the policy rides out.
    fake.fail(Kind::Manifest, Fault::Status(503), ATTEMPTS as usize - 1);
    let fetched = c.registry.get_manifest(&fake.reference()).await.unwrap();
    assert_eq!(fetched.bytes, MANIFEST);
    assert_eq!(fake.count(Kind::Manifest), 1 + ATTEMPTS as usize);
    // Once renewed, authentication is renewed for every attempt that follows (as the
    // hand-written loop did): a token for each of the 4 attempts.
    assert_eq!(fake.count(Kind::Token), ATTEMPTS as usize);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_refresh_then_failures_to_the_last_attempt_is_an_error() {
    let fake = Fake::start(true).await;
    let c = with_a_revoked_token(&fake).await;
    fake.fail(Kind::Manifest, Fault::Status(503), usize::MAX);
    let error = c
        .registry
        .get_manifest(&fake.reference())
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Status { status, .. } if status == 503),
        "{error:?}"
    );
    assert_eq!(fake.count(Kind::Manifest), 1 + ATTEMPTS as usize);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_401_to_a_fresh_token_is_final() {
    let fake = Fake::start(true).await;
    let c = client();
    let r = fake.reference();
    c.registry.get_manifest(&r).await.unwrap();
    fake.seen.lock().unwrap().clear();
    fake.fail(Kind::Manifest, Fault::Challenge, usize::MAX);
    let error = c.registry.get_manifest(&r).await.unwrap_err();
    assert!(
        matches!(error, RegistryError::NoCredentials { .. }),
        "{error:?}"
    );
    // The cached token, then one fresh one; a refusal is not retried.
    assert_eq!(fake.count(Kind::Manifest), 2);
    assert_eq!(fake.count(Kind::Token), 1);
}
