//! The fetch layer against a real HTTP server on 127.0.0.1: verified downloads, the
//! content-addressed cache, corruption, revalidation, retries and offline mode.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;
use common::server::{Fault, StaticServer};
use rtlock::fetch::{
    ByteRange, FetchError, FetchSettings, Fetcher, RetryPolicy, error_chain, header, sha256_hex,
};
use url::Url;

/// Deterministic, incompressible-looking bytes, `len` long (xorshift seeded by the
/// seed's hash: fast even in a debug build).
fn pseudo_random(seed: &str, len: usize) -> Vec<u8> {
    let digest = hex::decode(sha256_hex(seed.as_bytes())).unwrap();
    let mut state = u64::from_le_bytes(digest[..8].try_into().unwrap()) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A served directory, a cache directory and a server.
struct Setup {
    served: tempfile::TempDir,
    cache: tempfile::TempDir,
    srv: StaticServer,
}

impl Setup {
    fn new() -> Setup {
        let served = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let srv = StaticServer::start(served.path());
        Setup { served, cache, srv }
    }

    /// Writes a file to serve; returns its URL, sha256 and size.
    fn serve(&self, name: &str, content: &[u8]) -> (Url, String, u64) {
        let path = self.served.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        (
            self.srv.url(name),
            sha256_hex(content),
            content.len() as u64,
        )
    }

    fn settings(&self) -> FetchSettings {
        FetchSettings {
            // Short waits: the tests count attempts, they do not time them.
            retry: RetryPolicy {
                attempts: 4,
                base_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
            },
            ..FetchSettings::new(self.cache.path())
        }
    }

    fn fetcher(&self) -> Fetcher {
        Fetcher::new(self.settings()).unwrap()
    }

    fn offline_fetcher(&self) -> Fetcher {
        Fetcher::new(FetchSettings {
            offline: true,
            ..self.settings()
        })
        .unwrap()
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.cache
            .path()
            .join("blobs/sha256")
            .join(&sha256[..2])
            .join(sha256)
    }

    /// Every file under `blobs/`.
    fn blob_files(&self) -> Vec<PathBuf> {
        files_under(&self.cache.path().join("blobs"))
    }

    /// Every file left in `tmp/`.
    fn temp_files(&self) -> Vec<PathBuf> {
        files_under(&self.cache.path().join("tmp"))
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn a_download_is_verified_and_cached_by_sha256() {
    let s = Setup::new();
    let content = pseudo_random("wheel", 300_000);
    let (url, sha, size) = s.serve("pkgs/a-1.0-py3-none-any.whl", &content);
    let fetcher = s.fetcher();

    let blob = fetcher
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(blob.path, s.blob_path(&sha));
    assert_eq!(blob.sha256, sha);
    assert_eq!(blob.size, size);
    assert_eq!(std::fs::read(&blob.path).unwrap(), content);

    // The second time the cache answers; the server sees nothing.
    let again = fetcher
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(again, blob);
    assert_eq!(s.srv.requests("/pkgs/a-1.0-py3-none-any.whl"), 1);
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    assert!(s.cache.path().join("CACHEDIR.TAG").is_file());
}

#[tokio::test]
async fn the_cache_is_keyed_by_content_not_by_url() {
    let s = Setup::new();
    let content = pseudo_random("same", 5_000);
    let (first, sha, size) = s.serve("mirror-a/x.deb", &content);
    let (second, _, _) = s.serve("mirror-b/x.deb", &content);
    let fetcher = s.fetcher();
    fetcher
        .fetch_verified(&first, &sha, Some(size))
        .await
        .unwrap();
    fetcher
        .fetch_verified(&second, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(s.srv.requests("/mirror-b/x.deb"), 0);
}

#[tokio::test]
async fn a_wrong_sha256_names_the_url_and_caches_nothing() {
    let s = Setup::new();
    let (url, actual, size) = s.serve("x.whl", &pseudo_random("x", 70_000));
    let expected = "0".repeat(64);

    let error = s
        .fetcher()
        .fetch_verified(&url, &expected, Some(size))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::HashMismatch { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(url.as_str()), "{message}");
    assert!(message.contains(&expected), "{message}");
    assert!(message.contains(&actual), "{message}");
    assert!(s.blob_files().is_empty(), "{:?}", s.blob_files());
    assert!(s.temp_files().is_empty(), "{:?}", s.temp_files());
    // A mismatch is an answer, not a transient failure: one request only.
    assert_eq!(s.srv.requests("/x.whl"), 1);
}

#[tokio::test]
async fn a_wrong_size_is_an_error_and_caches_nothing() {
    let s = Setup::new();
    let (url, sha, size) = s.serve("y.whl", &pseudo_random("y", 10_000));
    for wrong in [size - 1, size + 1] {
        let error = s
            .fetcher()
            .fetch_verified(&url, &sha, Some(wrong))
            .await
            .unwrap_err();
        assert!(
            matches!(error, FetchError::SizeMismatch { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(url.as_str()), "{error}");
    }
    assert!(s.blob_files().is_empty());
    assert!(s.temp_files().is_empty());
}

#[tokio::test]
async fn a_corrupted_cached_blob_is_detected_and_fetched_again() {
    let s = Setup::new();
    let content = pseudo_random("corrupt-me", 200_000);
    let (url, sha, size) = s.serve("pool/c.deb", &content);
    let fetcher = s.fetcher();
    let blob = fetcher
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(s.srv.requests("/pool/c.deb"), 1);

    // Same length, one byte flipped: only a re-hash can tell.
    let mut bytes = std::fs::read(&blob.path).unwrap();
    bytes[123_456] ^= 0xff;
    std::fs::write(&blob.path, &bytes).unwrap();

    let again = fetcher
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(again.path, blob.path);
    assert_eq!(std::fs::read(&again.path).unwrap(), content);
    assert_eq!(s.srv.requests("/pool/c.deb"), 2);

    // Truncated: caught as well.
    std::fs::write(&blob.path, &content[..1000]).unwrap();
    fetcher
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&blob.path).unwrap(), content);
    assert_eq!(s.srv.requests("/pool/c.deb"), 3);
    assert!(s.temp_files().is_empty());
}

#[tokio::test]
async fn a_corrupted_blob_offline_is_a_clear_error() {
    let s = Setup::new();
    let (url, sha, size) = s.serve("d.deb", &pseudo_random("d", 4_000));
    let blob = s
        .fetcher()
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    std::fs::write(&blob.path, b"garbage").unwrap();

    let error = s
        .offline_fetcher()
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::CorruptOffline { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("corrupt"), "{message}");
    assert!(message.contains("without --offline"), "{message}");
    assert_eq!(s.srv.requests("/d.deb"), 1);
}

#[tokio::test]
async fn an_index_is_revalidated_with_its_etag() {
    let s = Setup::new();
    let (url, sha, _) = s.serve("dists/stable/InRelease", b"Suite: stable\nVersion: 1\n");
    let fetcher = s.fetcher();

    let first = fetcher.fetch_index(&url).await.unwrap();
    assert_eq!(first.sha256, sha);
    let second = fetcher.fetch_index(&url).await.unwrap();
    assert_eq!(second, first);

    let path = "/dists/stable/InRelease";
    assert_eq!(s.srv.requests(path), 2);
    assert_eq!(s.srv.responses(path, 200), 1);
    assert_eq!(s.srv.responses(path, 304), 1);
    let revalidation = s.srv.hits().pop().unwrap();
    assert!(
        revalidation
            .request_headers
            .contains_key(header::IF_NONE_MATCH),
        "{revalidation:?}"
    );

    // Changed upstream: a 200 with the new body, a new blob, a new record.
    std::fs::write(
        s.served.path().join("dists/stable/InRelease"),
        b"Suite: stable\nVersion: 2\n",
    )
    .unwrap();
    let third = fetcher.fetch_index(&url).await.unwrap();
    assert_ne!(third.sha256, first.sha256);
    assert_eq!(
        std::fs::read(&third.path).unwrap(),
        b"Suite: stable\nVersion: 2\n"
    );
    assert_eq!(s.srv.responses(path, 200), 2);

    let records = files_under(&s.cache.path().join("http"));
    assert_eq!(records.len(), 1, "{records:?}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&records[0]).unwrap()).unwrap();
    assert_eq!(record["url"], url.as_str());
    assert_eq!(record["sha256"], third.sha256.as_str());
    assert!(record["etag"].is_string(), "{record}");
    assert!(s.temp_files().is_empty());
}

#[tokio::test]
async fn an_index_is_revalidated_with_last_modified_when_there_is_no_etag() {
    let s = Setup::new();
    s.srv.set_etags(false);
    let (url, _, _) = s.serve("simple/pkg/index.html", b"<a>v1</a>");
    let file = s.served.path().join("simple/pkg/index.html");
    let fetcher = s.fetcher();

    let first = fetcher.fetch_index(&url).await.unwrap();
    let second = fetcher.fetch_index(&url).await.unwrap();
    assert_eq!(second, first);
    let path = "/simple/pkg/index.html";
    assert_eq!(s.srv.responses(path, 304), 1);
    let revalidation = s.srv.hits().pop().unwrap();
    assert!(
        revalidation
            .request_headers
            .contains_key(header::IF_MODIFIED_SINCE)
    );
    assert!(
        !revalidation
            .request_headers
            .contains_key(header::IF_NONE_MATCH)
    );

    // Last-Modified has one-second resolution: move the clock on explicitly.
    std::fs::write(&file, b"<a>v2</a>").unwrap();
    let later = SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let third = fetcher.fetch_index(&url).await.unwrap();
    assert_eq!(std::fs::read(&third.path).unwrap(), b"<a>v2</a>");
    assert_eq!(s.srv.responses(path, 200), 2);
}

#[tokio::test]
async fn index_requests_carry_extra_headers_and_are_cached_per_header_set() {
    let s = Setup::new();
    let (url, _, _) = s.serve("simple/p/index.html", b"<html/>");
    let fetcher = s.fetcher();
    let mut json = header::HeaderMap::new();
    json.insert(
        header::ACCEPT,
        "application/vnd.pypi.simple.v1+json".parse().unwrap(),
    );

    fetcher.fetch_index_with(&url, &json).await.unwrap();
    fetcher.fetch_index(&url).await.unwrap();
    let hits = s.srv.hits();
    assert_eq!(
        hits[0].request_headers.get(header::ACCEPT).unwrap(),
        "application/vnd.pypi.simple.v1+json"
    );
    // Two header sets, two records: the plain request was not conditional.
    assert_eq!(s.srv.responses("/simple/p/index.html", 200), 2);
    assert_eq!(files_under(&s.cache.path().join("http")).len(), 2);
}

#[tokio::test]
async fn transient_server_errors_are_retried() {
    let s = Setup::new();
    let content = pseudo_random("flaky", 50_000);
    let (url, sha, size) = s.serve("flaky.whl", &content);
    s.srv.fail_times("/flaky.whl", 2);

    let blob = s
        .fetcher()
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(std::fs::read(blob.path).unwrap(), content);
    assert_eq!(s.srv.requests("/flaky.whl"), 3);
    assert_eq!(s.srv.responses("/flaky.whl", 500), 2);
}

#[tokio::test]
async fn rate_limits_with_retry_after_are_retried() {
    let s = Setup::new();
    let (url, _, _) = s.serve("dists/InRelease", b"x");
    s.srv.inject(
        "/dists/InRelease",
        Fault::StatusRetryAfter(StatusCode::TOO_MANY_REQUESTS, 0),
        1,
    );
    s.fetcher().fetch_index(&url).await.unwrap();
    assert_eq!(s.srv.responses("/dists/InRelease", 429), 1);
    assert_eq!(s.srv.responses("/dists/InRelease", 200), 1);
}

#[tokio::test]
async fn a_body_broken_midway_is_retried_from_the_start() {
    let s = Setup::new();
    let content = pseudo_random("broken", 400_000);
    let (url, sha, size) = s.serve("big.deb", &content);
    s.srv.inject("/big.deb", Fault::Truncate, 1);

    let blob = s
        .fetcher()
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(std::fs::read(blob.path).unwrap(), content);
    assert_eq!(s.srv.requests("/big.deb"), 2);
    assert!(s.temp_files().is_empty());
}

#[tokio::test]
async fn a_permanently_failing_url_gives_up_after_bounded_retries() {
    let s = Setup::new();
    let (url, sha, size) = s.serve("down.whl", b"never served");
    s.srv.fail_always("/down.whl");

    let error = s
        .fetcher()
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::Status { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(url.as_str()), "{message}");
    assert!(message.contains("500"), "{message}");
    assert!(message.contains("after 4 attempts"), "{message}");
    assert_eq!(s.srv.requests("/down.whl"), 4);
    assert!(s.blob_files().is_empty());
    assert!(s.temp_files().is_empty());
}

#[tokio::test]
async fn a_missing_file_fails_at_once() {
    let s = Setup::new();
    let url = s.srv.url("nope.whl");
    let error = s
        .fetcher()
        .fetch_verified(&url, &"a".repeat(64), None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("404"), "{error}");
    assert_eq!(s.srv.requests("/nope.whl"), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Setup::new();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/x.whl")).unwrap();
    let error = s
        .fetcher()
        .fetch_verified(&url, &"a".repeat(64), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::Network { attempts: 4, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(url.as_str()), "{error}");
}

#[tokio::test]
async fn credentials_never_appear_in_errors() {
    let s = Setup::new();
    let (url, _, size) = s.serve("private.whl", b"secret wheel");
    let mut with_auth = url.clone();
    with_auth.set_username("alice").unwrap();
    with_auth.set_password(Some("hunter2")).unwrap();

    let error = s
        .fetcher()
        .fetch_verified(&with_auth, &"0".repeat(64), Some(size))
        .await
        .unwrap_err();
    let message = error_chain(&error);
    assert!(!message.contains("hunter2"), "{message}");
    assert!(!message.contains("alice"), "{message}");
    assert!(message.contains(url.as_str()), "{message}");
    // The credentials did reach the server, as basic auth.
    let hit = s.srv.hits().pop().unwrap();
    assert!(hit.request_headers.contains_key(header::AUTHORIZATION));
}

#[tokio::test]
async fn offline_serves_from_the_cache_and_never_touches_the_network() {
    let s = Setup::new();
    let content = pseudo_random("offline", 8_000);
    let (url, sha, size) = s.serve("o.whl", &content);
    let (index, _, _) = s.serve("dists/Release", b"Origin: test\n");
    let online = s.fetcher();
    online.fetch_verified(&url, &sha, Some(size)).await.unwrap();
    let cached_index = online.fetch_index(&index).await.unwrap();
    let requests = s.srv.total_requests();

    let offline = s.offline_fetcher();
    let blob = offline
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(std::fs::read(blob.path).unwrap(), content);
    assert_eq!(offline.fetch_index(&index).await.unwrap(), cached_index);
    assert_eq!(s.srv.total_requests(), requests);
}

#[tokio::test]
async fn offline_without_a_cached_copy_is_a_clear_error() {
    let s = Setup::new();
    let (url, sha, size) = s.serve("m.whl", b"not cached yet");
    let offline = s.offline_fetcher();

    let error = offline
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap_err();
    assert!(matches!(error, FetchError::NotCached { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(url.as_str()), "{message}");
    assert!(message.contains("--offline"), "{message}");
    assert!(message.contains("rtlock fetch"), "{message}");

    let error = offline.fetch_index(&url).await.unwrap_err();
    assert!(matches!(error, FetchError::NotCached { .. }), "{error:?}");
    assert_eq!(s.srv.total_requests(), 0);
    // Offline never created anything in the cache either.
    assert!(s.blob_files().is_empty());
}

#[tokio::test]
async fn file_urls_are_read_from_disk_and_verified() {
    let s = Setup::new();
    let content = pseudo_random("local", 20_000);
    let (_, sha, size) = s.serve("local/l.deb", &content);
    let url = Url::from_file_path(s.served.path().join("local/l.deb")).unwrap();

    // Offline too: a local file is not the network.
    let blob = s
        .offline_fetcher()
        .fetch_verified(&url, &sha, Some(size))
        .await
        .unwrap();
    assert_eq!(blob.path, s.blob_path(&sha));
    assert_eq!(std::fs::read(&blob.path).unwrap(), content);

    let other = s.fetcher();
    std::fs::remove_file(&blob.path).unwrap();
    let error = other
        .fetch_verified(&url, &"1".repeat(64), Some(size))
        .await
        .unwrap_err();
    assert!(
        matches!(error, FetchError::HashMismatch { .. }),
        "{error:?}"
    );
    assert!(s.blob_files().is_empty());
    assert!(s.temp_files().is_empty());
}

#[tokio::test]
async fn ranges_come_from_the_server_or_the_disk() {
    let s = Setup::new();
    let content = pseudo_random("zip", 100_000);
    let (url, _, _) = s.serve("w.whl", &content);
    let fetcher = s.fetcher();

    let span = fetcher
        .fetch_range(
            &url,
            &header::HeaderMap::new(),
            ByteRange::Span {
                start: 1_000,
                end: 1_100,
            },
        )
        .await
        .unwrap();
    assert_eq!(span.bytes, &content[1_000..1_100]);
    assert_eq!(span.total_size, Some(100_000));
    assert_eq!(s.srv.responses("/w.whl", 206), 1);

    let tail = fetcher
        .fetch_range(&url, &header::HeaderMap::new(), ByteRange::Last(22))
        .await
        .unwrap();
    assert_eq!(tail.bytes, &content[100_000 - 22..]);

    let local = Url::from_file_path(s.served.path().join("w.whl")).unwrap();
    let tail = fetcher
        .fetch_range(&local, &header::HeaderMap::new(), ByteRange::Last(22))
        .await
        .unwrap();
    assert_eq!(tail.bytes, &content[100_000 - 22..]);
}

#[tokio::test]
async fn concurrent_fetches_of_the_same_blob_in_one_process_agree() {
    let s = Setup::new();
    let content = pseudo_random("shared", 500_000);
    let (url, sha, size) = s.serve("shared.deb", &content);
    let fetcher = s.fetcher();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (fetcher, url, sha) = (fetcher.clone(), url.clone(), sha.clone());
            tokio::spawn(async move { fetcher.fetch_verified(&url, &sha, Some(size)).await })
        })
        .collect();
    for task in tasks {
        let blob = task.await.unwrap().unwrap();
        assert_eq!(std::fs::read(blob.path).unwrap(), content);
    }
    assert_eq!(s.blob_files().len(), 1);
    assert!(s.temp_files().is_empty());
}
