//! A real Python package index for tests: a PEP 503 + PEP 691 simple index of REAL wheels
//! and their core metadata, taken at test time from the machine's configured Python index
//! (pip's own default, asked from pip at run time) and served on 127.0.0.1.
//!
//! ```ignore
//! let index = PipIndex::start(&[exact("six", &["1.16.0"]), newest("idna", 3, "2024-06-01T00:00:00Z")]);
//! let url = index.url();                 // http://127.0.0.1:PORT/simple/
//! index.set_no_metadata(true);           // hide the .metadata files and their attributes
//! index.ensure_bodies(&["six-1.16.0-py2.py3-none-any.whl"]);
//! ```
//!
//! What is kept of each project: the wheels usable by CPython 3.11 on x86_64 glibc 2.36
//! (the test bed's Debian bookworm), with their hashes, sizes, `requires-python`, yanked
//! state and `upload-time` copied from the real page. Core metadata is the real index's
//! PEP 658 file when it has one, else extracted from the wheel. Wheel bodies are fetched
//! lazily (on first request, or by [`PipIndex::ensure_bodies`]): resolution only needs
//! metadata. Everything downloaded goes through rtlock's fetch layer into
//! `/var/cache/rtlock-testbed/pip` (by sha256, verified), so only the first run pays.
//!
//! The server negotiates like a real index: an `Accept` naming
//! `application/vnd.pypi.simple.v1+json` gets JSON, anything else HTML; files are served
//! with byte ranges (206). Switches make it misbehave for bad-input tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use rtlock::fetch::{FetchSettings, Fetcher, header as fetch_header, sha256_hex};
use serde_json::{Value, json};
use tempfile::TempDir;
use url::Url;

/// The PEP 691 JSON content type.
pub const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";

/// Where wheels, metadata files and upstream pages are cached across test runs.
pub const CACHE_DIR: &str = "/var/cache/rtlock-testbed/pip";

/// Which versions of a project to carry.
#[derive(Debug, Clone)]
pub enum Versions {
    /// These exact versions (as the wheel filenames spell them).
    Exact(Vec<String>),
    /// The `n` highest versions that have a compatible wheel uploaded before `before`.
    NewestBefore { n: usize, before: jiff::Timestamp },
}

/// One project of the index and its versions.
#[derive(Debug, Clone)]
pub struct Want {
    pub project: String,
    pub versions: Versions,
}

/// `project` at exactly `versions`.
pub fn exact(project: &str, versions: &[&str]) -> Want {
    Want {
        project: project.to_string(),
        versions: Versions::Exact(versions.iter().map(|v| v.to_string()).collect()),
    }
}

/// The `n` newest versions of `project` uploaded before `before` (RFC 3339).
pub fn newest(project: &str, n: usize, before: &str) -> Want {
    Want {
        project: project.to_string(),
        versions: Versions::NewestBefore {
            n,
            before: before.parse().expect("an RFC 3339 timestamp"),
        },
    }
}

/// A hand-made file to add to a project (a corrupt wheel, a yanked one, ...).
#[derive(Debug, Clone, Default)]
pub struct HandMade {
    pub filename: String,
    pub body: Vec<u8>,
    /// The `.metadata` file to publish beside it (PEP 658), if any.
    pub metadata: Option<Vec<u8>>,
    pub requires_python: Option<String>,
    /// `Some(reason)` to mark it yanked.
    pub yanked: Option<String>,
    /// RFC 3339, as an index writes it; `None` leaves `upload-time` out.
    pub upload_time: Option<String>,
}

/// One file of the served index, as its pages describe it.
#[derive(Debug, Clone)]
pub struct IndexFile {
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    pub requires_python: Option<String>,
    pub yanked: Option<String>,
    pub upload_time: Option<String>,
    /// sha256 of the `.metadata` file, when there is one.
    pub metadata_sha256: Option<String>,
    /// Where the real index has the wheel (`None` for hand-made files).
    pub upstream: Option<Url>,
}

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub status: u16,
    pub request_headers: HeaderMap,
}

#[derive(Default)]
struct Switches {
    html_only: AtomicBool,
    no_metadata: AtomicBool,
    no_ranges: AtomicBool,
    fail_first: AtomicUsize,
    page_delay_ms: AtomicUsize,
    metadata_files_missing: AtomicBool,
}

struct Shared {
    root: PathBuf,
    fetcher: Fetcher,
    /// Normalized project name → its files, in page order.
    projects: Mutex<BTreeMap<String, Vec<IndexFile>>>,
    switches: Switches,
    hits: Mutex<Vec<Hit>>,
    /// Serializes lazy body downloads (one at a time is plenty for tests).
    body_lock: tokio::sync::Mutex<()>,
}

/// A running index. Dropping it stops the server and removes its tree.
pub struct PipIndex {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

pub use super::uv::normalize;

/// The machine's configured Python index (pip's own default), with a trailing slash.
pub fn upstream_index() -> Url {
    let raw = super::uv::configured_index();
    let with_slash = if raw.ends_with('/') {
        raw
    } else {
        format!("{raw}/")
    };
    Url::parse(&with_slash).expect("pip's index URL parses")
}

/// The fetcher of the shared cache.
pub fn cache_fetcher() -> Fetcher {
    Fetcher::new(FetchSettings::new(CACHE_DIR)).expect("a fetcher over the test bed's pip cache")
}

/// Whether a wheel filename is installable on CPython 3.11, x86_64, glibc 2.36.
pub fn compatible(filename: &str) -> bool {
    let Some(stem) = filename.strip_suffix(".whl") else {
        return false;
    };
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return false;
    }
    let n = parts.len();
    let (pys, abis, plats) = (parts[n - 3], parts[n - 2], parts[n - 1]);
    let platform_ok = plats.split('.').any(platform_compatible);
    let tag_ok = pys.split('.').any(|py| {
        abis.split('.').any(|abi| match abi {
            "none" => matches!(py, "py3" | "py311" | "cp311"),
            "cp311" => py == "cp311",
            "abi3" => py
                .strip_prefix("cp3")
                .and_then(|minor| minor.parse::<u32>().ok())
                .is_some_and(|minor| minor <= 11),
            _ => false,
        })
    });
    platform_ok && tag_ok
}

fn platform_compatible(platform: &str) -> bool {
    if matches!(
        platform,
        "any" | "manylinux1_x86_64" | "manylinux2010_x86_64" | "manylinux2014_x86_64"
    ) {
        return true;
    }
    platform
        .strip_prefix("manylinux_2_")
        .and_then(|rest| rest.strip_suffix("_x86_64"))
        .and_then(|minor| minor.parse::<u32>().ok())
        .is_some_and(|minor| (5..=36).contains(&minor))
}

/// The version field of a wheel filename.
fn wheel_version(filename: &str) -> &str {
    filename.split('-').nth(1).unwrap_or("")
}

impl PipIndex {
    /// Builds the index of `wants` (reading the real index, downloading metadata into the
    /// shared cache) and serves it. Blocking; callable from sync and async tests alike.
    pub fn start(wants: &[Want]) -> PipIndex {
        let dir = TempDir::new().expect("a temporary directory for the index");
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("files")).unwrap();
        std::fs::create_dir_all(root.join("simple")).unwrap();
        let wants = wants.to_vec();
        let fetcher = cache_fetcher();
        let built_root = root.clone();
        let built_fetcher = fetcher.clone();
        let projects = on_own_runtime(collect(built_fetcher, built_root, wants));

        let shared = Arc::new(Shared {
            root,
            fetcher,
            projects: Mutex::new(projects),
            switches: Switches::default(),
            hits: Mutex::new(Vec::new()),
            body_lock: tokio::sync::Mutex::new(()),
        });
        shared.write_tree();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(serve).with_state(shared.clone());
        std::thread::Builder::new()
            .name(format!("pip-index-{}", addr.port()))
            .spawn(move || {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the test index")
                    .block_on(async move {
                        let tcp = tokio::net::TcpListener::from_std(listener).unwrap();
                        axum::serve(tcp, app)
                            .with_graceful_shutdown(async {
                                let _ = stopped.await;
                            })
                            .await
                            .expect("the test index runs");
                    });
            })
            .expect("spawn the test index thread");
        PipIndex {
            addr,
            shared,
            shutdown: Some(shutdown),
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT/simple/`: what `--index-url` takes.
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/simple/", self.addr)).unwrap()
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> Url {
        Url::parse(&format!("http://{}/", self.addr)).unwrap()
    }

    /// The tree: `files/`, `simple/` (also usable as a `file://` index).
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// Serve HTML only, whatever the `Accept` header asks.
    pub fn set_html_only(&self, on: bool) {
        self.shared.switches.html_only.store(on, Ordering::SeqCst);
    }

    /// Hide the `.metadata` files (404) and the page attributes that announce them.
    pub fn set_no_metadata(&self, on: bool) {
        self.shared.switches.no_metadata.store(on, Ordering::SeqCst);
    }

    /// Answer 404 for the `.metadata` files while the pages still announce them (as a
    /// mirror that copied the pages but not the files would).
    pub fn set_metadata_files_missing(&self, on: bool) {
        self.shared
            .switches
            .metadata_files_missing
            .store(on, Ordering::SeqCst);
    }

    /// Ignore `Range` headers: files are always sent whole (200), without `Accept-Ranges`.
    pub fn set_no_ranges(&self, on: bool) {
        self.shared.switches.no_ranges.store(on, Ordering::SeqCst);
    }

    /// The next `n` requests, whatever they ask for, answer 500.
    pub fn fail_first(&self, n: usize) {
        self.shared.switches.fail_first.store(n, Ordering::SeqCst);
    }

    /// Project pages answer after `delay`: concurrent clients then overlap for sure
    /// (for in-flight de-duplication tests; nothing measures the time).
    pub fn set_page_delay(&self, delay: std::time::Duration) {
        self.shared
            .switches
            .page_delay_ms
            .store(delay.as_millis() as usize, Ordering::SeqCst);
    }

    /// The files of a project as its pages list them.
    pub fn files(&self, project: &str) -> Vec<IndexFile> {
        self.shared
            .projects
            .lock()
            .unwrap()
            .get(&normalize(project))
            .cloned()
            .unwrap_or_default()
    }

    /// Normalized names of every project.
    pub fn projects(&self) -> Vec<String> {
        self.shared
            .projects
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    /// Adds a hand-made file to `project` (created if new) and rewrites its pages.
    pub fn add_file(&self, project: &str, file: HandMade) {
        let files = self.shared.root.join("files");
        std::fs::write(files.join(&file.filename), &file.body).unwrap();
        let metadata_sha256 = file.metadata.as_ref().map(|m| {
            std::fs::write(files.join(format!("{}.metadata", file.filename)), m).unwrap();
            sha256_hex(m)
        });
        let entry = IndexFile {
            sha256: sha256_hex(&file.body),
            size: file.body.len() as u64,
            filename: file.filename,
            requires_python: file.requires_python,
            yanked: file.yanked,
            upload_time: file.upload_time,
            metadata_sha256,
            upstream: None,
        };
        self.shared
            .projects
            .lock()
            .unwrap()
            .entry(normalize(project))
            .or_default()
            .push(entry);
        self.shared.write_tree();
    }

    /// Makes sure these wheels' bodies are in `files/` (from the shared cache, else
    /// downloaded and verified). Panics naming a filename the index does not carry.
    pub fn ensure_bodies(&self, filenames: &[&str]) {
        let wanted: Vec<IndexFile> = {
            let projects = self.shared.projects.lock().unwrap();
            filenames
                .iter()
                .map(|name| {
                    projects
                        .values()
                        .flatten()
                        .find(|f| f.filename == *name)
                        .cloned()
                        .unwrap_or_else(|| panic!("the test index carries no file {name}"))
                })
                .collect()
        };
        self.download_bodies(wanted);
    }

    /// Every wheel body of the index (install tests of a whole set).
    pub fn ensure_all_bodies(&self) {
        let all: Vec<IndexFile> = self
            .shared
            .projects
            .lock()
            .unwrap()
            .values()
            .flatten()
            .cloned()
            .collect();
        self.download_bodies(all);
    }

    fn download_bodies(&self, files: Vec<IndexFile>) {
        let shared = self.shared.clone();
        on_own_runtime(async move {
            futures_util::stream::iter(files)
                .map(|f| {
                    let shared = shared.clone();
                    async move { shared.body(&f).await }
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<_>, String>>()
        })
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Every request answered so far, in order.
    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// How many requests were made for `path` (e.g. `/simple/six/`).
    pub fn requests(&self, path: &str) -> usize {
        self.hits().iter().filter(|h| h.path == path).count()
    }

    /// How many requests for `path` were answered with `status`.
    pub fn responses_to(&self, path: &str, status: u16) -> usize {
        self.hits()
            .iter()
            .filter(|h| h.path == path && h.status == status)
            .count()
    }

    /// Requests whose path ends with `suffix` (e.g. `.whl`, `.metadata`).
    pub fn requests_ending(&self, suffix: &str) -> usize {
        self.hits()
            .iter()
            .filter(|h| h.path.ends_with(suffix))
            .count()
    }

    pub fn clear_hits(&self) {
        self.shared.hits.lock().unwrap().clear();
    }
}

impl Drop for PipIndex {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Runs `work` to completion on a runtime of its own, in a thread of its own: the
/// caller may be a plain test or already inside a runtime.
fn on_own_runtime<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime for the test index")
            .block_on(work)
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// Reads the real project pages and gathers the kept files and their metadata.
async fn collect(
    fetcher: Fetcher,
    root: PathBuf,
    wants: Vec<Want>,
) -> BTreeMap<String, Vec<IndexFile>> {
    // Owned per task: the futures must be `Send` for any borrow of the inputs.
    let pages = futures_util::stream::iter(wants.clone())
        .map(|want| {
            let fetcher = fetcher.clone();
            async move {
                let page = upstream_page(&fetcher, &want.project).await;
                (want, page)
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let mut chosen = Vec::new();
    for (want, page) in pages {
        for file in choose(&want, &page) {
            chosen.push((normalize(&want.project), file));
        }
    }
    let with_metadata = futures_util::stream::iter(chosen)
        .map(|(project, file)| {
            let (fetcher, root) = (fetcher.clone(), root.clone());
            async move { (project, metadata(&fetcher, &root, file).await) }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let mut projects: BTreeMap<String, Vec<IndexFile>> = BTreeMap::new();
    for want in &wants {
        projects.entry(normalize(&want.project)).or_default();
    }
    for (project, file) in with_metadata {
        projects.entry(project).or_default().push(file);
    }
    for files in projects.values_mut() {
        files.sort_by(|a, b| a.filename.cmp(&b.filename));
    }
    projects
}

/// A file of the real page, with what the real index says of its metadata file.
struct Upstream {
    file: IndexFile,
    upstream_metadata_sha256: Option<String>,
    has_metadata: bool,
}

async fn upstream_page(fetcher: &Fetcher, project: &str) -> Vec<Upstream> {
    let base = upstream_index();
    let url = base.join(&format!("{}/", normalize(project))).unwrap();
    let mut headers = fetch_header::HeaderMap::new();
    headers.insert(
        fetch_header::ACCEPT,
        fetch_header::HeaderValue::from_static(JSON_TYPE),
    );
    let blob = fetcher
        .fetch_index_with(&url, &headers)
        .await
        .unwrap_or_else(|e| panic!("the configured Python index has no page for {project}: {e}"));
    let page: Value = serde_json::from_slice(&std::fs::read(&blob.path).unwrap())
        .unwrap_or_else(|e| panic!("the index page of {project} is not PEP 691 JSON: {e}"));
    let files = page["files"].as_array().cloned().unwrap_or_default();
    files
        .into_iter()
        .filter_map(|f| {
            let filename = f["filename"].as_str()?.to_string();
            if !compatible(&filename) {
                return None;
            }
            let sha256 = f["hashes"]["sha256"].as_str()?.to_string();
            let upstream = url.join(f["url"].as_str()?).ok()?;
            let meta = f
                .get("core-metadata")
                .or_else(|| f.get("dist-info-metadata"));
            let (has_metadata, upstream_metadata_sha256) = match meta {
                Some(Value::Bool(b)) => (*b, None),
                Some(Value::Object(o)) => (
                    true,
                    o.get("sha256").and_then(Value::as_str).map(str::to_string),
                ),
                _ => (false, None),
            };
            let yanked = match &f["yanked"] {
                Value::Bool(true) => Some(String::new()),
                Value::String(reason) => Some(reason.clone()),
                _ => None,
            };
            Some(Upstream {
                file: IndexFile {
                    filename,
                    sha256,
                    size: f["size"].as_u64().unwrap_or(0),
                    requires_python: f["requires-python"].as_str().map(str::to_string),
                    yanked,
                    upload_time: f["upload-time"].as_str().map(str::to_string),
                    metadata_sha256: None,
                    upstream: Some(upstream),
                },
                upstream_metadata_sha256,
                has_metadata,
            })
        })
        .collect()
}

fn choose(want: &Want, page: &[Upstream]) -> Vec<Upstream> {
    let versions: Vec<String> = match &want.versions {
        Versions::Exact(v) => v.clone(),
        Versions::NewestBefore { n, before } => {
            let mut candidates: Vec<pep440_rs::Version> = page
                .iter()
                .filter(|u| {
                    u.file
                        .upload_time
                        .as_deref()
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|t| t < *before)
                })
                .filter_map(|u| wheel_version(&u.file.filename).parse().ok())
                .collect();
            candidates.sort();
            candidates.dedup();
            candidates
                .iter()
                .rev()
                .take(*n)
                .map(|v| v.to_string())
                .collect()
        }
    };
    let kept: Vec<Upstream> = page
        .iter()
        .filter(|u| {
            let v = wheel_version(&u.file.filename);
            versions.iter().any(|w| {
                w == v
                    || matches!((w.parse::<pep440_rs::Version>(), v.parse::<pep440_rs::Version>()),
                        (Ok(a), Ok(b)) if a == b)
            })
        })
        .map(|u| Upstream {
            file: u.file.clone(),
            upstream_metadata_sha256: u.upstream_metadata_sha256.clone(),
            has_metadata: u.has_metadata,
        })
        .collect();
    for v in &versions {
        let parsed = v.parse::<pep440_rs::Version>().ok();
        assert!(
            kept.iter().any(|u| {
                let w = wheel_version(&u.file.filename);
                w == v
                    || parsed
                        .as_ref()
                        .is_some_and(|p| w.parse().ok().as_ref() == Some(p))
            }),
            "{} {v} has no wheel for CPython 3.11 x86_64 glibc 2.36 on the configured index",
            want.project
        );
    }
    kept
}

/// Puts the wheel's `.metadata` file into `files/`: the real index's when it has one,
/// else the wheel's own `*.dist-info/METADATA`.
async fn metadata(fetcher: &Fetcher, root: &Path, upstream: Upstream) -> IndexFile {
    let mut file = upstream.file;
    let url = file.upstream.clone().unwrap();
    let target = root
        .join("files")
        .join(format!("{}.metadata", file.filename));
    let bytes = match (&upstream.upstream_metadata_sha256, upstream.has_metadata) {
        (Some(sha), true) => {
            let meta_url = Url::parse(&format!("{url}.metadata")).unwrap();
            let blob = fetcher
                .fetch_verified(&meta_url, sha, None)
                .await
                .unwrap_or_else(|e| panic!("metadata of {}: {e}", file.filename));
            std::fs::read(blob.path).unwrap()
        }
        _ => {
            let blob = fetcher
                .fetch_verified(&url, &file.sha256, Some(file.size))
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", file.filename));
            extract_metadata(&blob.path)
                .unwrap_or_else(|| panic!("{} has no *.dist-info/METADATA", file.filename))
        }
    };
    std::fs::write(&target, &bytes).unwrap();
    file.metadata_sha256 = Some(sha256_hex(&bytes));
    file
}

/// The `*.dist-info/METADATA` of a wheel on disk.
pub fn extract_metadata(wheel: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).ok()?).ok()?;
    let name = zip
        .file_names()
        .filter_map(Result::ok)
        .find(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)?
        .into_owned();
    let mut out = Vec::new();
    zip.by_name(&name).ok()?.read_to_end(&mut out).ok()?;
    Some(out)
}

impl Shared {
    /// Writes `simple/index.html` and each project's `index.json` / `index.html` as
    /// served with no switch on.
    fn write_tree(&self) {
        let projects = self.projects.lock().unwrap();
        let simple = self.root.join("simple");
        std::fs::write(simple.join("index.html"), root_html(projects.keys())).unwrap();
        for (name, files) in projects.iter() {
            let dir = simple.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("index.json"), project_json(name, files, true)).unwrap();
            std::fs::write(dir.join("index.html"), project_html(name, files, true)).unwrap();
        }
    }

    /// The wheel body in `files/`, linked from the shared cache (downloaded if needed).
    async fn body(&self, file: &IndexFile) -> Result<PathBuf, String> {
        let path = self.root.join("files").join(&file.filename);
        if path.exists() {
            return Ok(path);
        }
        let Some(url) = &file.upstream else {
            return Err(format!("{} has no body", file.filename));
        };
        let _one = self.body_lock.lock().await;
        if path.exists() {
            return Ok(path);
        }
        let blob = self
            .fetcher
            .fetch_verified(url, &file.sha256, Some(file.size))
            .await
            .map_err(|e| format!("{}: {e}", file.filename))?;
        // A symlink: blobs are immutable and may be large.
        std::os::unix::fs::symlink(&blob.path, &path)
            .map_err(|e| format!("link {}: {e}", path.display()))?;
        Ok(path)
    }

    fn find(&self, filename: &str) -> Option<IndexFile> {
        self.projects
            .lock()
            .unwrap()
            .values()
            .flatten()
            .find(|f| f.filename == filename)
            .cloned()
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn root_html<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Simple index</title></head><body>\n",
    );
    for name in names {
        html.push_str(&format!("<a href=\"{name}/\">{name}</a><br>\n"));
    }
    html.push_str("</body></html>\n");
    html
}

/// The relative URL of a file from a project page (`/simple/<name>/`).
fn file_href(filename: &str) -> String {
    format!("../../files/{filename}")
}

fn project_json(name: &str, files: &[IndexFile], with_metadata: bool) -> String {
    let mut versions: Vec<&str> = files.iter().map(|f| wheel_version(&f.filename)).collect();
    versions.dedup();
    let files: Vec<Value> = files
        .iter()
        .map(|f| {
            let mut o = serde_json::Map::new();
            o.insert("filename".into(), json!(f.filename));
            o.insert("url".into(), json!(file_href(&f.filename)));
            o.insert("hashes".into(), json!({"sha256": f.sha256}));
            o.insert("size".into(), json!(f.size));
            o.insert("requires-python".into(), json!(f.requires_python));
            o.insert(
                "yanked".into(),
                match &f.yanked {
                    None => json!(false),
                    Some(r) if r.is_empty() => json!(true),
                    Some(r) => json!(r),
                },
            );
            if let Some(t) = &f.upload_time {
                o.insert("upload-time".into(), json!(t));
            }
            if with_metadata && let Some(sha) = &f.metadata_sha256 {
                o.insert("core-metadata".into(), json!({"sha256": sha}));
                o.insert("dist-info-metadata".into(), json!({"sha256": sha}));
            }
            Value::Object(o)
        })
        .collect();
    serde_json::to_string(&json!({
        "meta": {"api-version": "1.1"},
        "name": name,
        "versions": versions,
        "files": files,
    }))
    .unwrap()
}

fn project_html(name: &str, files: &[IndexFile], with_metadata: bool) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {name}</title></head><body><h1>Links for {name}</h1>\n"
    );
    for f in files {
        let mut attrs = format!("href=\"{}#sha256={}\"", file_href(&f.filename), f.sha256);
        if let Some(rp) = &f.requires_python {
            attrs.push_str(&format!(" data-requires-python=\"{}\"", escape(rp)));
        }
        if with_metadata && let Some(sha) = &f.metadata_sha256 {
            attrs.push_str(&format!(
                " data-core-metadata=\"sha256={sha}\" data-dist-info-metadata=\"sha256={sha}\""
            ));
        }
        if let Some(reason) = &f.yanked {
            attrs.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
        }
        html.push_str(&format!("<a {attrs}>{}</a><br>\n", escape(&f.filename)));
    }
    html.push_str("</body></html>\n");
    html
}

/// Whether `Accept` asks for PEP 691 JSON (with a non-zero quality).
fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            media == JSON_TYPE && q > 0.0
        })
}

async fn serve(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let headers = request.headers().clone();
    let failing = shared
        .switches
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let response = if failing {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    } else {
        answer(&shared, &path, &headers).await
    };
    shared.hits.lock().unwrap().push(Hit {
        path,
        status: response.status().as_u16(),
        request_headers: headers,
    });
    response
}

async fn answer(shared: &Shared, path: &str, headers: &HeaderMap) -> Response {
    let no_metadata = shared.switches.no_metadata.load(Ordering::SeqCst);
    let json = wants_json(headers) && !shared.switches.html_only.load(Ordering::SeqCst);
    if path == "/simple/" || path == "/simple" {
        let names: Vec<String> = shared.projects.lock().unwrap().keys().cloned().collect();
        return typed("text/html", root_html(names.iter()).into_bytes());
    }
    if let Some(rest) = path.strip_prefix("/simple/") {
        let name = rest.trim_end_matches('/');
        if name.contains('/') {
            return StatusCode::NOT_FOUND.into_response();
        }
        if normalize(name) != name || !rest.ends_with('/') {
            // As real indexes do: one canonical URL per project.
            let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&format!("/simple/{}/", normalize(name))).unwrap(),
            );
            return response;
        }
        let delay = shared.switches.page_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay as u64)).await;
        }
        let files = shared.projects.lock().unwrap().get(name).cloned();
        let Some(files) = files else {
            return StatusCode::NOT_FOUND.into_response();
        };
        return if json {
            typed(
                JSON_TYPE,
                project_json(name, &files, !no_metadata).into_bytes(),
            )
        } else {
            typed(
                "text/html",
                project_html(name, &files, !no_metadata).into_bytes(),
            )
        };
    }
    let Some(filename) = path.strip_prefix("/files/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let filename = percent_decode(filename);
    if filename.contains('/') {
        return StatusCode::NOT_FOUND.into_response();
    }
    let on_disk = if let Some(wheel) = filename.strip_suffix(".metadata") {
        if no_metadata
            || shared
                .switches
                .metadata_files_missing
                .load(Ordering::SeqCst)
            || shared
                .find(wheel)
                .is_none_or(|f| f.metadata_sha256.is_none())
        {
            return StatusCode::NOT_FOUND.into_response();
        }
        shared.root.join("files").join(&filename)
    } else {
        let Some(file) = shared.find(&filename) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        match shared.body(&file).await {
            Ok(path) => path,
            Err(e) => {
                return (StatusCode::BAD_GATEWAY, e).into_response();
            }
        }
    };
    let Ok(bytes) = tokio::fs::read(&on_disk).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let no_ranges = shared.switches.no_ranges.load(Ordering::SeqCst);
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| !no_ranges);
    ranged(bytes, range, !no_ranges)
}

fn typed(content_type: &str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap(),
    );
    response
}

/// A whole file (200) or one `bytes=` range of it (206; 416 when unsatisfiable).
fn ranged(bytes: Vec<u8>, range: Option<&str>, accept_ranges: bool) -> Response {
    let total = bytes.len() as u64;
    let span = range.and_then(|r| parse_range(r, total));
    let mut response = match (range, span) {
        (None, _) => Response::new(Body::from(bytes)),
        (Some(_), None) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{total}")).unwrap(),
            );
            return r;
        }
        (Some(_), Some((start, end))) => {
            let mut r = Response::new(Body::from(bytes[start as usize..end as usize].to_vec()));
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{}/{total}", end - 1)).unwrap(),
            );
            r
        }
    };
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if accept_ranges {
        response
            .headers_mut()
            .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    response
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` → the half-open span, clamped to the file.
fn parse_range(value: &str, total: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        (total.saturating_sub(n), total)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            total
        } else {
            (b.parse::<u64>().ok()? + 1).min(total)
        };
        (start, end)
    };
    (start < end).then_some((start, end))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
