//! The local Python index fixture serves what real clients expect (pip, uv), and the
//! index client (`rtlock::pip::index`) reads it the way they do.
//!
//! Client tests use a fresh fetch cache each (a `TempDir`), so that one test's cache never
//! answers for another's server.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::apt_repo::run;
use common::pip_index::{HandMade, JSON_TYPE, PipIndex, exact};
use rtlock::fetch::{FetchSettings, Fetcher};
use rtlock::pip::index::{Index, IndexError};
use rtlock::pip::{CoreMetadata, DistFile, PackageName, PackageSource, Project};
use url::Url;

/// `curl` of a URL: (status, content type, body).
fn curl(url: &str, headers: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = tempfile::TempDir::new().unwrap();
    let body = dir.path().join("body");
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-o"])
        .arg(&body)
        .args(["-w", "%{http_code} %{content_type}"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = String::from_utf8(run(cmd.arg(url))).unwrap();
    let (status, content_type) = out.split_once(' ').unwrap_or((&out, ""));
    (
        status.parse().unwrap(),
        content_type.to_string(),
        std::fs::read(body).unwrap_or_default(),
    )
}

fn six() -> PipIndex {
    PipIndex::start(&[exact("six", &["1.16.0", "1.17.0"])])
}

#[test]
fn pip_downloads_a_real_wheel_from_the_fixture() {
    let index = six();
    let dest = tempfile::TempDir::new().unwrap();
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--index-url",
        ])
        .arg(index.url().as_str())
        .arg("-d")
        .arg(dest.path())
        .arg("six==1.16.0")
        .env("PIP_FIND_LINKS", ""));
    let wheel = dest.path().join("six-1.16.0-py2.py3-none-any.whl");
    let (sha256, _) = rtlock::fetch::hash_file(&wheel).unwrap();
    let served = index
        .files("six")
        .into_iter()
        .find(|f| f.filename == "six-1.16.0-py2.py3-none-any.whl")
        .unwrap();
    assert_eq!(sha256, served.sha256);
    assert_eq!(
        index.requests("/files/six-1.16.0-py2.py3-none-any.whl"),
        1,
        "{:#?}",
        index.hits()
    );
}

#[test]
fn uv_compiles_against_the_fixture_from_metadata_alone() {
    let index = PipIndex::start(&[
        exact("requests", &["2.32.3"]),
        exact("urllib3", &["2.2.3"]),
        exact("idna", &["3.10"]),
        exact("charset-normalizer", &["3.4.0"]),
        exact("certifi", &["2024.8.30"]),
    ]);
    let dir = tempfile::TempDir::new().unwrap();
    std::fs::write(dir.path().join("requirements.in"), "requests\n").unwrap();
    let out = run(Command::new(common::uv::uv())
        .args(["pip", "compile", "--no-cache", "--no-header", "--index-url"])
        .arg(index.url().as_str())
        .args([
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "requirements.in",
        ])
        .current_dir(dir.path()));
    let pins: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| l.contains("=="))
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        pins,
        [
            "certifi==2024.8.30",
            "charset-normalizer==3.4.0",
            "idna==3.10",
            "requests==2.32.3",
            "urllib3==2.2.3"
        ]
    );
    // uv asked for JSON and read only the PEP 658 files: the wheels stayed unfetched.
    assert!(
        index.requests_ending(".metadata") >= 5,
        "{:#?}",
        index.hits()
    );
    assert_eq!(index.requests_ending(".whl"), 0, "{:#?}", index.hits());
    let page = index
        .hits()
        .into_iter()
        .find(|h| h.path == "/simple/requests/")
        .unwrap();
    let accept = page.request_headers["accept"].to_str().unwrap().to_string();
    assert!(accept.contains(JSON_TYPE), "{accept}");
}

#[test]
fn pages_negotiate_json_and_html_and_switches_change_them() {
    let index = six();
    let page = index.url().join("six/").unwrap();
    let (status, ty, body) = curl(page.as_str(), &[&format!("Accept: {JSON_TYPE}")]);
    assert_eq!((status, ty.as_str()), (200, JSON_TYPE));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let files = json["files"].as_array().unwrap();
    assert!(files.len() >= 2, "{json}");
    assert!(
        files
            .iter()
            .all(|f| f["core-metadata"]["sha256"].is_string())
    );
    assert!(files.iter().all(|f| f["upload-time"].is_string()));

    let (status, ty, body) = curl(page.as_str(), &["Accept: text/html"]);
    assert_eq!((status, ty.as_str()), (200, "text/html"));
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("#sha256="), "{html}");
    assert!(html.contains("data-core-metadata=\"sha256="), "{html}");
    assert!(html.contains("data-requires-python=\"&gt;=2.7"), "{html}");

    index.set_html_only(true);
    let (_, ty, _) = curl(page.as_str(), &[&format!("Accept: {JSON_TYPE}")]);
    assert_eq!(ty, "text/html");
    index.set_html_only(false);

    index.set_no_metadata(true);
    let (_, _, body) = curl(page.as_str(), &[&format!("Accept: {JSON_TYPE}")]);
    assert!(!String::from_utf8(body).unwrap().contains("core-metadata"));
    let meta = index
        .base_url()
        .join("files/six-1.16.0-py2.py3-none-any.whl.metadata")
        .unwrap();
    assert_eq!(curl(meta.as_str(), &[]).0, 404);
    index.set_no_metadata(false);
    let (status, _, body) = curl(meta.as_str(), &[]);
    assert_eq!(status, 200);
    assert!(String::from_utf8(body).unwrap().contains("Name: six"));

    assert_eq!(
        curl(index.url().join("no-such-project/").unwrap().as_str(), &[]).0,
        404
    );
}

#[test]
fn files_are_served_with_ranges_unless_switched_off_and_faults_recover() {
    let index = six();
    let wheel = index
        .base_url()
        .join("files/six-1.17.0-py2.py3-none-any.whl")
        .unwrap();
    let size = index
        .files("six")
        .into_iter()
        .find(|f| f.filename == "six-1.17.0-py2.py3-none-any.whl")
        .unwrap()
        .size;
    let (status, _, body) = curl(wheel.as_str(), &["Range: bytes=-22"]);
    assert_eq!(status, 206);
    assert_eq!(body.len(), 22);
    assert_eq!(&body[..4], b"PK\x05\x06", "the end of central directory");

    index.set_no_ranges(true);
    let (status, _, body) = curl(wheel.as_str(), &["Range: bytes=-22"]);
    assert_eq!(status, 200);
    assert_eq!(body.len() as u64, size);
    index.set_no_ranges(false);

    index.fail_first(2);
    assert_eq!(curl(wheel.as_str(), &[]).0, 500);
    assert_eq!(curl(wheel.as_str(), &[]).0, 500);
    assert_eq!(curl(wheel.as_str(), &[]).0, 200);
}

#[test]
fn hand_made_files_join_their_project() {
    let index = six();
    index.add_file(
        "six",
        HandMade {
            filename: "six-9.9.9-py3-none-any.whl".into(),
            body: b"not a zip".to_vec(),
            yanked: Some("broken on purpose".into()),
            ..HandMade::default()
        },
    );
    let page = index.url().join("six/").unwrap();
    let (_, _, body) = curl(page.as_str(), &[&format!("Accept: {JSON_TYPE}")]);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let file = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "six-9.9.9-py3-none-any.whl")
        .unwrap()
        .clone();
    assert_eq!(file["yanked"], "broken on purpose");
    assert!(file.get("upload-time").is_none());
    assert!(file.get("core-metadata").is_none());
    let (status, _, body) = curl(
        index
            .base_url()
            .join("files/six-9.9.9-py3-none-any.whl")
            .unwrap()
            .as_str(),
        &[],
    );
    assert_eq!((status, body.as_slice()), (200, b"not a zip".as_slice()));
}

// ---- the index client ----

fn fetcher(cache: &Path, offline: bool) -> Fetcher {
    let mut settings = FetchSettings::new(cache);
    settings.offline = offline;
    Fetcher::new(settings).unwrap()
}

fn name(n: &str) -> PackageName {
    n.parse().unwrap()
}

fn client(cache: &Path, urls: &[Url], as_of: Option<&str>) -> Index {
    Index::new(
        fetcher(cache, false),
        urls.to_vec(),
        as_of.map(|t| t.parse().unwrap()),
    )
}

async fn project(index: &Index, n: &str) -> Arc<Project> {
    index.project(&name(n)).await.unwrap()
}

async fn metadata_of(index: &Index, file: &DistFile) -> Arc<CoreMetadata> {
    index
        .metadata(file)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", file.filename))
}

fn file<'a>(project: &'a Project, filename: &str) -> &'a DistFile {
    project
        .files
        .iter()
        .find(|f| f.filename == filename)
        .unwrap_or_else(|| panic!("{filename} not in {project:#?}"))
}

#[tokio::test]
async fn json_and_html_pages_give_the_same_project() {
    let fixture = six();
    let (a, b) = (
        tempfile::TempDir::new().unwrap(),
        tempfile::TempDir::new().unwrap(),
    );
    let from_json = project(&client(a.path(), &[fixture.url()], None), "six").await;
    fixture.set_html_only(true);
    let from_html = project(&client(b.path(), &[fixture.url()], None), "Six").await;

    assert_eq!(from_json.files.len(), fixture.files("six").len());
    assert!(
        from_json
            .files
            .iter()
            .all(|f| f.upload_time.is_some() && f.size.is_some())
    );
    let served = file(&from_json, "six-1.16.0-py2.py3-none-any.whl");
    assert_eq!(
        served.requires_python.as_deref(),
        Some(">=2.7, !=3.0.*, !=3.1.*, !=3.2.*")
    );
    assert_eq!(
        served.url,
        fixture
            .base_url()
            .join("files/six-1.16.0-py2.py3-none-any.whl")
            .unwrap()
    );
    assert!(matches!(served.core_metadata, Some(Some(_))));
    // PEP 503 HTML has no sizes and no upload times; everything else must agree.
    let mut without = (*from_json).clone();
    for f in &mut without.files {
        f.size = None;
        f.upload_time = None;
    }
    assert_eq!(*from_html, without);
    let accept = fixture.hits()[0].request_headers["accept"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(accept, rtlock::pip::index::ACCEPT);
}

#[tokio::test]
async fn as_of_drops_later_files_and_files_without_upload_time_yanked_stay() {
    let fixture = six();
    let undated = HandMade {
        filename: "six-1.0.1-py3-none-any.whl".into(),
        body: b"x".to_vec(),
        ..HandMade::default()
    };
    let yanked = HandMade {
        filename: "six-1.0.2-py3-none-any.whl".into(),
        body: b"y".to_vec(),
        yanked: Some("do not use".into()),
        upload_time: Some("2020-01-01T00:00:00Z".into()),
        ..HandMade::default()
    };
    // Uploaded at the very millisecond of the cut-off: excluded, as uv excludes it.
    let at_cutoff = HandMade {
        filename: "six-1.0.3-py3-none-any.whl".into(),
        body: b"z".to_vec(),
        upload_time: Some("2023-01-01T00:00:00.000Z".into()),
        ..HandMade::default()
    };
    fixture.add_file("six", undated);
    fixture.add_file("six", yanked);
    fixture.add_file("six", at_cutoff);
    let cache = tempfile::TempDir::new().unwrap();
    let all = project(&client(cache.path(), &[fixture.url()], None), "six").await;
    assert_eq!(all.files.len(), 5);
    let dated = project(
        &client(cache.path(), &[fixture.url()], Some("2023-01-01T00:00:00Z")),
        "six",
    )
    .await;
    let names: Vec<&str> = dated.files.iter().map(|f| f.filename.as_str()).collect();
    // 1.17.0 came out in December 2024; the hand-made 1.0.1 has no upload time.
    assert_eq!(
        names,
        [
            "six-1.16.0-py2.py3-none-any.whl",
            "six-1.0.2-py3-none-any.whl"
        ]
    );
    assert_eq!(dated.files[0].yanked, None);
    assert_eq!(dated.files[1].yanked.as_deref(), Some("do not use"));
}

/// The metadata of real wheels three ways, each with its own cache: the `.metadata` file,
/// range requests into the wheel, the whole wheel.
#[tokio::test]
async fn metadata_is_the_same_from_metadata_files_ranges_and_whole_wheels() {
    let fixture = PipIndex::start(&[exact("requests", &["2.32.3"]), exact("urllib3", &["2.2.3"])]);
    let wheels = [
        "requests-2.32.3-py3-none-any.whl",
        "urllib3-2.2.3-py3-none-any.whl",
    ];
    let read = |switches: (bool, bool)| {
        let fixture = &fixture;
        async move {
            fixture.set_no_metadata(switches.0);
            fixture.set_no_ranges(switches.1);
            fixture.clear_hits();
            let cache = tempfile::TempDir::new().unwrap();
            let index = client(cache.path(), &[fixture.url()], None);
            let mut out = Vec::new();
            for (project_name, wheel) in [("requests", wheels[0]), ("urllib3", wheels[1])] {
                let p = project(&index, project_name).await;
                let f = file(&p, wheel);
                assert_eq!(f.core_metadata.is_some(), !switches.0);
                out.push((*metadata_of(&index, f).await).clone());
            }
            out
        }
    };
    let via_files = read((false, false)).await;
    assert_eq!(fixture.requests_ending(".metadata"), 2);
    assert_eq!(fixture.requests_ending(".whl"), 0);

    let via_ranges = read((true, false)).await;
    // requests' wheel (63 KB) fits in the first range request, so it is fetched whole
    // (and cached); urllib3's (126 KB) is read by ranges.
    let wheel_hits: Vec<_> = fixture
        .hits()
        .into_iter()
        .filter(|h| h.path.starts_with("/files/urllib3") && h.path.ends_with(".whl"))
        .collect();
    assert!(!wheel_hits.is_empty());
    assert!(fixture.responses_to("/files/requests-2.32.3-py3-none-any.whl", 200) == 1);
    assert!(
        wheel_hits
            .iter()
            .all(|h| h.status == 206 && h.request_headers.contains_key("range")),
        "{wheel_hits:#?}"
    );

    let via_whole = read((true, true)).await;
    assert!(
        fixture
            .hits()
            .iter()
            .any(|h| h.path.ends_with(".whl") && h.status == 200)
    );

    assert_eq!(via_files, via_ranges);
    assert_eq!(via_files, via_whole);
    let requests = &via_files[0];
    assert_eq!(requests.name, name("requests"));
    assert_eq!(requests.version.to_string(), "2.32.3");
    let deps: Vec<String> = requests
        .requires_dist
        .iter()
        .map(|r| r.name.to_string())
        .collect();
    assert!(
        deps.contains(&"urllib3".to_string()) && deps.contains(&"pysocks".to_string()),
        "{deps:?}"
    );
    assert!(
        requests
            .provides_extra
            .iter()
            .any(|e| e.as_ref() == "socks")
    );
}

#[tokio::test]
async fn an_index_that_answers_500_then_recovers_is_retried() {
    let fixture = six();
    fixture.fail_first(2);
    let cache = tempfile::TempDir::new().unwrap();
    let index = client(cache.path(), &[fixture.url()], None);
    let p = project(&index, "six").await;
    assert_eq!(p.files.len(), 2);
    assert_eq!(fixture.responses_to("/simple/six/", 500), 2);
    fixture.fail_first(1);
    let m = metadata_of(&index, file(&p, "six-1.16.0-py2.py3-none-any.whl")).await;
    assert_eq!(m.version.to_string(), "1.16.0");
}

#[tokio::test]
async fn a_project_no_index_has_is_empty_and_asked_once_concurrently() {
    let fixture = six();
    let cache = tempfile::TempDir::new().unwrap();
    let index = client(cache.path(), &[fixture.url()], None);
    let missing = project(&index, "no-such-project").await;
    assert!(missing.files.is_empty());

    fixture.set_page_delay(std::time::Duration::from_millis(300));
    let asks = (0..8).map(|_| {
        let index = index.clone();
        tokio::spawn(async move { index.project(&name("six")).await.unwrap() })
    });
    let answers = futures_util::future::join_all(asks).await;
    assert!(answers.iter().all(|a| a.as_ref().unwrap().files.len() == 2));
    assert_eq!(fixture.requests("/simple/six/"), 1, "{:#?}", fixture.hits());
}

#[tokio::test]
async fn the_first_index_that_has_a_project_supplies_all_its_files() {
    let main = PipIndex::start(&[exact("six", &["1.16.0"]), exact("idna", &["3.10"])]);
    let extra = PipIndex::start(&[exact("six", &["1.17.0"])]);
    let cache = tempfile::TempDir::new().unwrap();
    let index = client(cache.path(), &[main.url(), extra.url()], None);
    let six = project(&index, "six").await;
    let names: Vec<&str> = six.files.iter().map(|f| f.filename.as_str()).collect();
    assert_eq!(names, ["six-1.17.0-py2.py3-none-any.whl"]);
    assert_eq!(main.requests("/simple/six/"), 0);
    let idna = project(&index, "idna").await;
    assert_eq!(idna.files.len(), 1);
    assert_eq!(extra.requests("/simple/idna/"), 1);
    assert!(
        idna.files[0]
            .url
            .as_str()
            .starts_with(main.base_url().as_str())
    );
}

/// requests' metadata from its .metadata file; six's page is read after the switch, so
/// its metadata is read out of the wheel and must be memoized in the cache.
async fn warm_read(
    index: Index,
    fixture: &PipIndex,
) -> (
    Arc<Project>,
    Arc<Project>,
    Arc<CoreMetadata>,
    Arc<CoreMetadata>,
) {
    fixture.set_no_metadata(false);
    let requests = project(&index, "requests").await;
    let a = metadata_of(&index, &requests.files[0]).await;
    fixture.set_no_metadata(true);
    let six = project(&index, "six").await;
    assert_eq!(six.files[0].core_metadata, None);
    let b = metadata_of(&index, &six.files[0]).await;
    (requests, six, a, b)
}

#[tokio::test]
async fn a_warm_offline_run_needs_no_network() {
    let fixture = PipIndex::start(&[exact("requests", &["2.32.3"]), exact("six", &["1.16.0"])]);
    let cache = tempfile::TempDir::new().unwrap();
    let online = warm_read(client(cache.path(), &[fixture.url()], None), &fixture).await;
    assert_eq!(
        fixture.requests("/files/six-1.16.0-py2.py3-none-any.whl"),
        1
    );
    let hits = fixture.hits().len();
    let offline = warm_read(
        Index::new(fetcher(cache.path(), true), vec![fixture.url()], None),
        &fixture,
    )
    .await;
    assert_eq!(fixture.hits().len(), hits, "offline touched the network");
    assert_eq!(online, offline);

    let offline_index = Index::new(fetcher(cache.path(), true), vec![fixture.url()], None);
    let err = offline_index.project(&name("idna")).await.unwrap_err();
    assert!(matches!(err, IndexError::Offline { .. }), "{err}");
    assert!(err.to_string().contains("idna"), "{err}");
}

#[tokio::test]
async fn a_corrupt_wheel_is_a_clear_error_naming_it() {
    let fixture = six();
    fixture.add_file(
        "six",
        HandMade {
            filename: "six-0.1-py3-none-any.whl".into(),
            body: b"not a zip at all".to_vec(),
            ..HandMade::default()
        },
    );
    let cache = tempfile::TempDir::new().unwrap();
    let index = client(cache.path(), &[fixture.url()], None);
    let p = project(&index, "six").await;
    let err = index
        .metadata(file(&p, "six-0.1-py3-none-any.whl"))
        .await
        .unwrap_err();
    assert!(matches!(err, IndexError::BadWheel { .. }), "{err}");
    assert!(
        err.to_string().contains("six-0.1-py3-none-any.whl"),
        "{err}"
    );
}

/// numpy's wheel holds over a thousand files: its central directory is larger than the
/// first range request, so the reader fetches it separately, then the METADATA entry.
#[tokio::test]
async fn a_big_wheel_is_read_by_ranges_without_downloading_it() {
    let fixture = PipIndex::start(&[exact("numpy", &["2.1.3"])]);
    let cache = tempfile::TempDir::new().unwrap();
    let index = client(cache.path(), &[fixture.url()], None);
    let p = project(&index, "numpy").await;
    let wheel = p
        .files
        .iter()
        .find(|f| f.filename.contains("manylinux_2_17_x86_64"))
        .unwrap_or_else(|| panic!("{p:#?}"));
    let from_file = metadata_of(&index, wheel).await;

    fixture.set_no_metadata(true);
    fixture.clear_hits();
    let other_cache = tempfile::TempDir::new().unwrap();
    let by_ranges = client(other_cache.path(), &[fixture.url()], None);
    let p = project(&by_ranges, "numpy").await;
    let wheel = file(&p, &wheel.filename);
    assert_eq!(wheel.core_metadata, None);
    assert_eq!(*metadata_of(&by_ranges, wheel).await, *from_file);
    let wheel_hits: Vec<_> = fixture
        .hits()
        .into_iter()
        .filter(|h| h.path.ends_with(".whl"))
        .collect();
    assert!(wheel_hits.len() >= 2, "{wheel_hits:#?}");
    assert!(
        wheel_hits.iter().all(|h| h.status == 206),
        "{wheel_hits:#?}"
    );
    assert!(from_file.requires_python.is_some());
}

#[tokio::test]
async fn an_announced_metadata_file_that_is_missing_falls_back_to_the_wheel() {
    let fixture = six();
    fixture.set_metadata_files_missing(true);
    let cache = tempfile::TempDir::new().unwrap();
    let index = client(cache.path(), &[fixture.url()], None);
    let p = project(&index, "six").await;
    let wheel = file(&p, "six-1.17.0-py2.py3-none-any.whl");
    assert!(wheel.core_metadata.is_some());
    let m = metadata_of(&index, wheel).await;
    assert_eq!(m.version.to_string(), "1.17.0");
    assert_eq!(
        fixture.responses_to("/files/six-1.17.0-py2.py3-none-any.whl.metadata", 404),
        1
    );
    assert_eq!(
        fixture.requests("/files/six-1.17.0-py2.py3-none-any.whl"),
        1
    );
}
