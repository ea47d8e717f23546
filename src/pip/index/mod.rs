//! The Python package index client: project pages (PEP 691 JSON, else PEP 503 HTML) and
//! core metadata (PEP 658/714 `.metadata` files, else range requests into the wheel,
//! else the whole wheel), memoized and de-duplicated in flight, through the fetch layer's
//! cache.
//!
//! [`Index`] is what the resolver reads through [`PackageSource`]. It is cheap to clone
//! and shared across the resolver's concurrent prefetches: two asks for the same project
//! or metadata while the first is in flight make one request.

pub(crate) mod core_metadata;
mod error;
mod html;
mod json;
mod wheel_metadata;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use url::Url;

use crate::fetch::{FetchError, Fetcher, HttpRecord, header, redact, sha256_hex};
use crate::pip::wheel_name::WheelName;
use crate::pip::{CoreMetadata, DistFile, PackageName, PackageSource, Project};

pub use core_metadata::parse as parse_core_metadata;
pub use error::{IndexError, PageError, WheelMetadataError};

/// What rtlock asks a simple index for: JSON first, HTML as the fallback every index
/// speaks (the same preference list pip and uv send).
pub const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

/// One or more simple indexes, searched uv's `first-index` way.
#[derive(Debug, Clone)]
pub struct Index {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    fetcher: Fetcher,
    /// In search order: the extra indexes in their order, then the main one.
    search: Vec<Url>,
    as_of: Option<jiff::Timestamp>,
    projects: Memo<PackageName, Project>,
    /// Keyed by the wheel's URL.
    metadata: Memo<String, CoreMetadata>,
}

/// Results by key, each computed once even when asked for concurrently. A failure is not
/// kept: the next ask tries again.
#[derive(Debug)]
struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<Arc<V>>>>>,
}

impl<K: std::hash::Hash + Eq + Clone, V> Memo<K, V> {
    fn new() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }

    async fn get<F, Fut>(&self, key: &K, make: F) -> Result<Arc<V>, IndexError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, IndexError>>,
    {
        let cell = self
            .cells
            .lock()
            .expect("the memo lock is never held across a panic")
            .entry(key.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async { make().await.map(Arc::new) })
            .await
            .cloned()
    }
}

impl Index {
    /// `urls`: the index URL first, then the extra index URLs (as a manifest lists them).
    /// `as_of`: files uploaded after it, or without an upload time, are left out.
    pub fn new(fetcher: Fetcher, urls: Vec<Url>, as_of: Option<jiff::Timestamp>) -> Index {
        let urls: Vec<Url> = urls.into_iter().map(with_slash).collect();
        // uv's default `first-index` strategy: the extra indexes are searched before the
        // main one, and the first that has the project supplies all of its files. Merging
        // versions across indexes would let anyone who registers a private package's name
        // on the public index take it over with a higher version (dependency confusion);
        // whoever adds an extra index means it to win for what it carries.
        let search = match urls.split_first() {
            Some((main, extra)) => extra.iter().cloned().chain([main.clone()]).collect(),
            None => Vec::new(),
        };
        Index {
            inner: Arc::new(Inner {
                fetcher,
                search,
                as_of,
                projects: Memo::new(),
                metadata: Memo::new(),
            }),
        }
    }

    /// The indexes in the order they are searched.
    pub fn search_order(&self) -> &[Url] {
        &self.inner.search
    }

    async fn load_project(&self, name: &PackageName) -> Result<Project, IndexError> {
        let inner = &self.inner;
        let mut accept = header::HeaderMap::new();
        accept.insert(header::ACCEPT, header::HeaderValue::from_static(ACCEPT));
        for index in &inner.search {
            let page_url = index
                .join(&format!("{name}/"))
                .expect("a normalized name is a valid URL segment");
            let blob = match inner.fetcher.fetch_index_with(&page_url, &accept).await {
                Ok(blob) => blob,
                // Not on this index: try the next.
                Err(FetchError::Status { status, .. }) if status.as_u16() == 404 => continue,
                // Offline, a page never fetched: this index is unknown for the project,
                // the next may have it cached.
                Err(FetchError::NotCached { .. }) => continue,
                Err(source) => {
                    return Err(IndexError::Page {
                        project: name.to_string(),
                        index: redact(index),
                        source: Box::new(source),
                    });
                }
            };
            let body = std::fs::read(&blob.path).map_err(|e| {
                IndexError::Cache(Box::new(FetchError::LocalFile {
                    path: blob.path.clone(),
                    source: e,
                }))
            })?;
            // Off the async threads: a big page (numpy's, boto3's) is milliseconds of CPU,
            // and the resolver's other prefetches should not wait behind it.
            let parsed = {
                let page_url = page_url.clone();
                crate::task::blocking(move || parse_page(&body, &page_url)).await?
            };
            let files = parsed.map_err(|why| IndexError::BadPage {
                project: name.to_string(),
                index: redact(index),
                why,
            })?;
            return Ok(Project {
                name: name.to_string(),
                files: files.into_iter().filter(|f| self.available(f)).collect(),
            });
        }
        // Offline, every index answered "not cached": nothing is known of the project, which
        // is not the same as knowing that no index has it.
        if inner.fetcher.is_offline() {
            return Err(IndexError::Offline {
                project: name.to_string(),
                indexes: inner
                    .search
                    .iter()
                    .map(redact)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Project {
            name: name.to_string(),
            files: Vec::new(),
        })
    }

    /// Whether `as_of` lets the resolver see a file: uploaded strictly before it, compared
    /// in whole milliseconds, and a file without an upload time is unavailable. That is
    /// how uv's resolver applies `--exclude-newer`, which the oracle tests compare with.
    fn available(&self, file: &DistFile) -> bool {
        match self.inner.as_of {
            None => true,
            Some(as_of) => file
                .upload_time
                .is_some_and(|t| t.as_millisecond() < as_of.as_millisecond()),
        }
    }

    async fn load_metadata(&self, file: &DistFile) -> Result<CoreMetadata, IndexError> {
        let bytes = self.metadata_bytes(file).await?;
        let text = String::from_utf8_lossy(&bytes);
        let metadata = core_metadata::parse(&text, &file.filename)?;
        if let Ok(wheel) = file.filename.parse::<WheelName>()
            && (wheel.name != metadata.name || wheel.version != metadata.version)
        {
            return Err(IndexError::MetadataMismatch {
                file: file.filename.clone(),
                expected: format!("{} {}", wheel.name, wheel.version),
                found: format!("{} {}", metadata.name, metadata.version),
            });
        }
        Ok(metadata)
    }

    /// The raw `METADATA`: from the cache when a run before got it, else the cheapest
    /// way the index allows.
    async fn metadata_bytes(&self, file: &DistFile) -> Result<Vec<u8>, IndexError> {
        let fetcher = &self.inner.fetcher;
        let fetch_error = |url: &Url, source| IndexError::Metadata {
            file: file.filename.clone(),
            url: redact(url),
            source,
        };
        // PEP 658/714: `<wheel url>.metadata`.
        if let Some(hash) = &file.core_metadata {
            let mut url = file.url.clone();
            url.set_fragment(None);
            url.set_path(&format!("{}.metadata", url.path()));
            let fetched = match hash {
                Some(sha256) => fetcher.fetch_verified(&url, sha256, None).await,
                None => fetcher.fetch_index(&url).await,
            };
            match fetched {
                Ok(blob) => {
                    return std::fs::read(&blob.path).map_err(|e| {
                        IndexError::Cache(Box::new(FetchError::LocalFile {
                            path: blob.path,
                            source: e,
                        }))
                    });
                }
                // A page that announces a file it does not serve (mirrors that copy the
                // pages but not the .metadata files): read the wheel instead.
                Err(FetchError::Status { status, .. }) if status.as_u16() == 404 => {
                    tracing::debug!("{}: announced but missing", redact(&url));
                }
                Err(e) => return Err(fetch_error(&url, Box::new(e))),
            }
        }
        let memo_key = file.sha256.as_deref().map(memo_key);
        if let Some(bytes) = memo_key.as_deref().and_then(|k| self.memoized(k)) {
            return Ok(bytes);
        }
        // A wheel no larger than the first range request would be sent whole anyway:
        // fetching it verified puts it in the cache, where a build finds it.
        let small =
            file.sha256.is_some() && file.size.is_some_and(|size| size <= wheel_metadata::TAIL);
        let bytes = if fetcher.is_offline() || small {
            // Offline, the wheel itself may be cached (a build fetched it).
            self.whole_wheel_metadata(file).await?
        } else {
            match wheel_metadata::by_ranges(fetcher, &file.url, file.size).await {
                Ok(bytes) => bytes,
                Err(why) => {
                    tracing::debug!(
                        "{}: reading METADATA by ranges failed ({}); downloading the wheel",
                        file.filename,
                        crate::fetch::error_chain(&why)
                    );
                    self.whole_wheel_metadata(file).await?
                }
            }
        };
        if let Some(key) = &memo_key {
            self.memoize(key, file, &bytes)?;
        }
        Ok(bytes)
    }

    async fn whole_wheel_metadata(&self, file: &DistFile) -> Result<Vec<u8>, IndexError> {
        let sha256 = file
            .sha256
            .as_deref()
            .ok_or_else(|| IndexError::NoWayToMetadata {
                file: file.filename.clone(),
            })?;
        let blob = self
            .inner
            .fetcher
            .fetch_verified(&file.url, sha256, file.size)
            .await
            .map_err(|source| IndexError::Metadata {
                file: file.filename.clone(),
                url: redact(&file.url),
                source: Box::new(source),
            })?;
        let path = blob.path.clone();
        crate::task::blocking(move || wheel_metadata::from_file(&path))
            .await?
            .map_err(|why| IndexError::BadWheel {
                file: file.filename.clone(),
                url: redact(&file.url),
                why,
            })
    }

    /// METADATA read out of a wheel by an earlier run, found by the wheel's sha256.
    fn memoized(&self, key: &str) -> Option<Vec<u8>> {
        let cache = self.inner.fetcher.cache();
        let record = cache.read_record(key)?;
        let bytes = std::fs::read(cache.blob_path(&record.sha256)).ok()?;
        (sha256_hex(&bytes) == record.sha256).then_some(bytes)
    }

    fn memoize(&self, key: &str, file: &DistFile, bytes: &[u8]) -> Result<(), IndexError> {
        use std::io::Write;
        let cache = self.inner.fetcher.cache();
        let sha256 = sha256_hex(bytes);
        let mut temp = cache
            .temp_file()
            .map_err(|e| IndexError::Cache(Box::new(e)))?;
        temp.write_all(bytes).map_err(|e| {
            IndexError::Cache(Box::new(FetchError::LocalFile {
                path: temp.path().to_path_buf(),
                source: e,
            }))
        })?;
        cache
            .persist_blob(temp, &sha256)
            .map_err(|e| IndexError::Cache(Box::new(e)))?;
        let record = HttpRecord {
            url: format!("{}.metadata (read from the wheel)", redact(&file.url)),
            etag: None,
            last_modified: None,
            sha256,
            size: bytes.len() as u64,
        };
        cache
            .write_record(key, &record)
            .map_err(|e| IndexError::Cache(Box::new(e)))
    }
}

/// The cache record key for the METADATA of the wheel with this sha256 (a hash itself,
/// so it never meets a URL's key).
fn memo_key(wheel_sha256: &str) -> String {
    sha256_hex(format!("pip core metadata of wheel sha256:{wheel_sha256}").as_bytes())
}

/// JSON or HTML, told apart by the body: the cache keeps the bytes, not the response's
/// content type, and a PEP 691 body is a JSON object while an HTML page never starts
/// with `{`.
pub fn parse_page(body: &[u8], page_url: &Url) -> Result<Vec<DistFile>, PageError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        json::parse(body, page_url)
    } else {
        html::parse(&String::from_utf8_lossy(body), page_url)
    }
}

/// Index URLs are joined with `<project>/`: without a trailing slash the last segment
/// would be replaced.
fn with_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    url
}

impl PackageSource for Index {
    type Error = IndexError;

    async fn project(&self, name: &PackageName) -> Result<Arc<Project>, IndexError> {
        self.inner
            .projects
            .get(name, || self.load_project(name))
            .await
    }

    async fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, IndexError> {
        self.inner
            .metadata
            .get(&file.url.to_string(), || self.load_metadata(file))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resolver shares one index across its prefetch tasks.
    #[test]
    fn an_index_can_be_shared_across_tasks() {
        fn shared<T: Clone + Send + Sync + 'static>() {}
        shared::<Index>();
    }

    #[test]
    fn extra_indexes_are_searched_first() {
        let dir = tempfile::TempDir::new().unwrap();
        let fetcher = Fetcher::new(crate::fetch::FetchSettings::new(dir.path())).unwrap();
        let urls = [
            "http://127.0.0.1/main/simple",
            "http://127.0.0.1/a/simple/",
            "http://127.0.0.1/b",
        ]
        .map(|u| Url::parse(u).unwrap());
        let index = Index::new(fetcher, urls.to_vec(), None);
        let order: Vec<&str> = index.search_order().iter().map(Url::as_str).collect();
        assert_eq!(
            order,
            [
                "http://127.0.0.1/a/simple/",
                "http://127.0.0.1/b/",
                "http://127.0.0.1/main/simple/"
            ]
        );
    }

    #[test]
    fn sniffing_tells_json_from_html() {
        let page = Url::parse("http://127.0.0.1/simple/a/").unwrap();
        let json = br#" {"meta":{"api-version":"1.1"},"name":"a","files":[{"filename":"a-1-py3-none-any.whl","url":"a-1-py3-none-any.whl","hashes":{"sha256":"AB"},"yanked":"bad","core-metadata":{"sha256":"cd"},"upload-time":"2024-01-02T03:04:05.123Z"}]}"#;
        let files = parse_page(json, &page).unwrap();
        assert_eq!(files[0].sha256.as_deref(), Some("ab"));
        assert_eq!(files[0].yanked.as_deref(), Some("bad"));
        assert_eq!(files[0].core_metadata, Some(Some("cd".into())));
        assert_eq!(
            files[0].upload_time,
            Some("2024-01-02T03:04:05.123Z".parse().unwrap())
        );
        let html = b"<a href=\"a-1-py3-none-any.whl#sha256=ab\">a-1-py3-none-any.whl</a>";
        assert_eq!(parse_page(html, &page).unwrap()[0].url, files[0].url);
    }

    #[test]
    fn a_bad_page_keeps_the_url_error_as_its_source() {
        use std::error::Error as _;
        let page = Url::parse("http://127.0.0.1/simple/a/").unwrap();
        let html = b"<a href=\"http://[::1/a-1.whl\">a-1.whl</a>";
        let e = parse_page(html, &page).unwrap_err();
        assert!(matches!(e, PageError::Href { .. }), "{e:?}");
        assert_eq!(e.to_string(), "bad href \"http://[::1/a-1.whl\"");
        let cause = e.source().expect("the URL error is the source").to_string();
        assert_eq!(
            crate::fetch::error_chain(&e),
            format!("bad href \"http://[::1/a-1.whl\": {cause}")
        );
        let json = br#"{"files":[{"filename":"a-1.whl","url":"http://[::1/a-1.whl","hashes":{}}]}"#;
        let e = parse_page(json, &page).unwrap_err();
        assert!(matches!(e, PageError::Url { .. }), "{e:?}");
        assert_eq!(
            crate::fetch::error_chain(&e),
            format!("a-1.whl: bad url \"http://[::1/a-1.whl\": {cause}")
        );
        let e = parse_page(b"{not json", &page).unwrap_err();
        assert!(matches!(e, PageError::Json(_)), "{e:?}");
    }
}
