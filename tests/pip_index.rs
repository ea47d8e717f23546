//! The local Python index fixture serves what real clients expect (pip, uv), and the
//! index client (`rtlock::pip::index`) reads it the way they do.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::apt_repo::run;
use common::pip_index::{HandMade, JSON_TYPE, PipIndex, exact};

/// A venv with uv in it, made once per machine (`python3 -m venv` + `pip install uv`)
/// and kept beside the fixture's cache.
fn uv() -> PathBuf {
    static UV: OnceLock<PathBuf> = OnceLock::new();
    UV.get_or_init(|| {
        let venv = Path::new("/var/cache/rtlock-testbed/uv-venv");
        let uv = venv.join("bin/uv");
        if !uv.is_file() {
            run(Command::new("python3").args(["-m", "venv"]).arg(venv));
            run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", "uv"]));
        }
        assert!(uv.is_file(), "pip install uv left no {}", uv.display());
        uv
    })
    .clone()
}

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
    let out = run(Command::new(uv())
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
