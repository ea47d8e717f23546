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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
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
}

/// A running server. Dropping it shuts it down.
pub struct StaticServer {
    addr: SocketAddr,
    controls: Arc<Controls>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StaticServer {
    /// Serves `dir` on a free port of 127.0.0.1.
    pub fn start(dir: impl AsRef<Path>) -> StaticServer {
        let root = dir.as_ref().to_path_buf();
        let controls = Arc::new(Controls {
            root: root.clone(),
            ..Controls::default()
        });
        // Bound here, before the thread starts: connections made right after `start`
        // returns queue up instead of being refused.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();

        let app = Router::new()
            .fallback_service(ServeDir::new(&root))
            .layer(middleware::from_fn_with_state(controls.clone(), control));

        std::thread::Builder::new()
            .name(format!("static-server-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the test server");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await
                        .expect("the test server runs");
                });
            })
            .expect("spawn the test server thread");

        StaticServer {
            addr,
            controls,
            shutdown: Some(shutdown),
        }
    }

    /// `http://127.0.0.1:<port>/`
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).unwrap()
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
        None => next.run(request).await,
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
