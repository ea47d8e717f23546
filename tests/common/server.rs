//! A static file server on 127.0.0.1 for tests: a directory served over real HTTP, with
//! controls to count requests and to make paths fail on purpose.
//!
//! ```ignore
//! let srv = StaticServer::start(dir.path());
//! let url = srv.url("pool/main/h/hello.deb");
//! srv.fail_times("/pool/main/h/hello.deb", 2);      // two 500s, then the file
//! assert_eq!(srv.requests("/pool/main/h/hello.deb"), 3);
//! ```
//!
//! tower-http's `ServeDir` does the serving: `Last-Modified`, `ETag`, conditional
//! requests (304) and byte ranges all behave as a real web server's would. The server
//! runs on its own thread with its own tokio runtime, so it serves tests that are
//! synchronous, async, or spawn rtlock as a child process alike. It stops when dropped.
//! [`StaticServer::start_tls`] serves the same over HTTPS with a certificate of the test's
//! choosing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::Notify;
use tower_http::services::ServeDir;
use url::Url;

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    /// The request path, as sent (percent-encoded), e.g. `/pool/x.deb`.
    pub path: String,
    pub status: u16,
    pub request_headers: HeaderMap,
}

/// A failure to inject instead of serving a path.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status (and an empty body).
    Status(StatusCode),
    /// Answer with this status and a `Retry-After: <seconds>` header.
    StatusRetryAfter(StatusCode, u64),
    /// Announce the whole file, send half of it, then break the connection.
    Truncate,
}

#[derive(Default)]
struct Controls {
    root: PathBuf,
    hits: Mutex<Vec<Hit>>,
    /// Path → (fault, how many more requests get it).
    faults: Mutex<HashMap<String, (Fault, usize)>>,
    no_etags: AtomicBool,
    gate: Gate,
}

/// Holds each response until a number of requests for the same path have arrived.
#[derive(Default)]
struct Gate {
    /// 0 = open.
    quorum: AtomicUsize,
    arrivals: Mutex<HashMap<String, usize>>,
    changed: Notify,
    timeouts: AtomicUsize,
}

/// How long a gated request waits for its quorum before it is served anyway (and counted
/// in [`StaticServer::gate_timeouts`]): long enough never to matter when the quorum
/// comes, short enough that a broken test fails instead of hanging.
const GATE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server. Dropping it shuts it down.
pub struct StaticServer {
    addr: SocketAddr,
    scheme: &'static str,
    controls: Arc<Controls>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StaticServer {
    /// Serves `dir` over HTTP on a free port of 127.0.0.1.
    pub fn start(dir: impl AsRef<Path>) -> StaticServer {
        StaticServer::launch(dir.as_ref(), None)
    }

    /// Serves `dir` over HTTPS with this certificate chain and key, e.g. a leaf for
    /// `127.0.0.1` signed by a test CA that only the client under test trusts.
    pub fn start_tls(
        dir: impl AsRef<Path>,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> StaticServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a valid test certificate and key");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        StaticServer::launch(dir.as_ref(), Some(Arc::new(config)))
    }

    fn launch(root: &Path, tls: Option<Arc<rustls::ServerConfig>>) -> StaticServer {
        let controls = Arc::new(Controls {
            root: root.to_path_buf(),
            ..Controls::default()
        });
        // Bound here, before the thread starts: connections made right after `start`
        // returns queue up instead of being refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();

        let app = Router::new()
            .fallback_service(ServeDir::new(root))
            .layer(middleware::from_fn_with_state(controls.clone(), control));
        let stopped = async {
            let _ = stopped.await;
        };
        let scheme = if tls.is_some() { "https" } else { "http" };

        std::thread::Builder::new()
            .name(format!("static-server-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the test server");
                runtime.block_on(async move {
                    let tcp = tokio::net::TcpListener::from_std(listener).unwrap();
                    match tls {
                        None => axum::serve(tcp, app)
                            .with_graceful_shutdown(stopped)
                            .await
                            .expect("the test server runs"),
                        Some(config) => {
                            let listener = TlsListener {
                                tcp,
                                acceptor: tokio_rustls::TlsAcceptor::from(config),
                            };
                            axum::serve(listener, app)
                                .with_graceful_shutdown(stopped)
                                .await
                                .expect("the test server runs")
                        }
                    }
                });
            })
            .expect("spawn the test server thread");

        StaticServer {
            addr,
            scheme,
            controls,
            shutdown: Some(shutdown),
        }
    }

    /// `http://127.0.0.1:<port>/` (`https://` for [`start_tls`](Self::start_tls)).
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("{}://{}/", self.scheme, self.addr)).unwrap()
    }

    /// The URL of a path below the served directory (`"a/b.whl"` or `"/a/b.whl"`).
    pub fn url(&self, path: &str) -> Url {
        self.base_url().join(path.trim_start_matches('/')).unwrap()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The served directory.
    pub fn root(&self) -> &Path {
        &self.controls.root
    }

    /// Every request answered so far, in order.
    pub fn hits(&self) -> Vec<Hit> {
        self.controls.hits.lock().unwrap().clone()
    }

    /// How many requests were made for `path` (e.g. `"/x.whl"`; a missing leading `/`
    /// is added).
    pub fn requests(&self, path: &str) -> usize {
        let path = normalize(path);
        self.hits().iter().filter(|h| h.path == path).count()
    }

    /// How many requests for `path` were answered with `status`.
    pub fn responses(&self, path: &str, status: u16) -> usize {
        let path = normalize(path);
        self.hits()
            .iter()
            .filter(|h| h.path == path && h.status == status)
            .count()
    }

    /// All requests, whatever the path.
    pub fn total_requests(&self) -> usize {
        self.controls.hits.lock().unwrap().len()
    }

    /// Forgets the requests seen so far.
    pub fn clear_hits(&self) {
        self.controls.hits.lock().unwrap().clear();
    }

    /// The next `times` requests for `path` get a 500.
    pub fn fail_times(&self, path: &str, times: usize) {
        self.inject(
            path,
            Fault::Status(StatusCode::INTERNAL_SERVER_ERROR),
            times,
        );
    }

    /// Every request for `path` gets a 500 from now on.
    pub fn fail_always(&self, path: &str) {
        self.fail_times(path, usize::MAX);
    }

    /// The next `times` requests for `path` get `fault`.
    pub fn inject(&self, path: &str, fault: Fault, times: usize) {
        self.controls
            .faults
            .lock()
            .unwrap()
            .insert(normalize(path), (fault, times));
    }

    /// Serves without `ETag`s (and ignores `If-None-Match`), so that only
    /// `Last-Modified` / `If-Modified-Since` can revalidate — as on many mirrors.
    pub fn set_etags(&self, enabled: bool) {
        self.controls.no_etags.store(!enabled, Ordering::SeqCst);
    }

    /// Holds every response until `quorum` requests for its path have arrived (0 turns
    /// the gate off). With `quorum` = the number of clients, each file is in flight to
    /// all of them at once: concurrency made certain rather than left to timing.
    pub fn gate(&self, quorum: usize) {
        self.controls.gate.quorum.store(quorum, Ordering::SeqCst);
        self.controls.gate.changed.notify_waiters();
    }

    /// Gated requests that gave up waiting for their quorum.
    pub fn gate_timeouts(&self) -> usize {
        self.controls.gate.timeouts.load(Ordering::SeqCst)
    }
}

impl Gate {
    async fn pass(&self, path: &str) {
        if self.quorum.load(Ordering::SeqCst) == 0 {
            return;
        }
        *self
            .arrivals
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default() += 1;
        self.changed.notify_waiters();
        let deadline = tokio::time::Instant::now() + GATE_TIMEOUT;
        loop {
            // Registered before the check, so a notification between the check and the
            // wait is not lost.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let quorum = self.quorum.load(Ordering::SeqCst);
            if quorum == 0 || self.arrivals.lock().unwrap()[path] >= quorum {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                self.timeouts.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn normalize(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Accepts TCP connections and completes their TLS handshakes. A client that rejects
/// the certificate only fails its own handshake; the server goes on accepting.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The middleware in front of `ServeDir`: injects faults, applies the ETag switch and
/// records every answer.
async fn control(
    State(controls): State<Arc<Controls>>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let request_headers = request.headers().clone();

    let fault = {
        let mut faults = controls.faults.lock().unwrap();
        match faults.get_mut(&path) {
            Some((fault, remaining)) if *remaining > 0 => {
                *remaining = remaining.saturating_sub(1);
                Some(fault.clone())
            }
            _ => None,
        }
    };

    let no_etags = controls.no_etags.load(Ordering::SeqCst);
    if no_etags {
        request.headers_mut().remove(header::IF_NONE_MATCH);
    }

    let mut response = match fault {
        Some(Fault::Status(status)) => status.into_response(),
        Some(Fault::StatusRetryAfter(status, seconds)) => {
            let mut response = status.into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Some(Fault::Truncate) => truncated(&controls.root, &path),
        None => {
            controls.gate.pass(&path).await;
            next.run(request).await
        }
    };
    if no_etags {
        response.headers_mut().remove(header::ETAG);
    }

    controls.hits.lock().unwrap().push(Hit {
        method,
        path,
        status: response.status().as_u16(),
        request_headers,
    });
    response
}

/// A response that promises the whole file and breaks off halfway.
fn truncated(root: &Path, path: &str) -> Response {
    let Ok(content) = std::fs::read(root.join(path.trim_start_matches('/'))) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let half = Bytes::copy_from_slice(&content[..content.len() / 2]);
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::other("connection broken on purpose")),
    ];
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(chunks)));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(content.len()));
    response
}
