//! `rtlock lock` of `[pip]` packages live, against the machine's configured index as it
//! stood at a fixed `as-of`, on the test bed's python image: the lock's entries, `why`,
//! stable bytes across runs (cold caches and `--offline`), and a wheel fetched by its URL
//! matching its pin.

mod common;

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use common::testbed::{ok, registry_digest, testbed};
use common::uv::{configured_index, normalize};
use rtlock::lockfile::Lockfile;

const AS_OF: &str = "2025-06-01T00:00:00Z";

/// Small wheels only: every one of them is downloaded again by the export check.
const REQUESTS: [&str; 2] = ["requests[socks]", "python-dateutil"];

/// The base pinned by digest, as `--offline` needs (a tag only the registry resolves).
fn manifest() -> String {
    let image = &testbed().image_python;
    format!(
        "[base]\nimage = \"{image}@{}\"\n\n[pip]\npackages = {REQUESTS:?}\nindex-url = \"{}\"\n\n\
         [lock]\nas-of = \"{AS_OF}\"\n",
        registry_digest(image),
        configured_index()
    )
}

fn rtlock(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .envs(testbed().env())
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .unwrap()
}

fn succeeded(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn live_lock_is_stable_and_explained() {
    let dir = TempDir::new().unwrap();
    let caches = TempDir::new().unwrap();
    std::fs::write(dir.path().join("runtime.toml"), manifest()).unwrap();
    let lock_path = dir.path().join("runtime.lock");

    // Two cold runs (separate, empty caches) and one offline from the first cache: the
    // same bytes each time.
    let first_cache = caches.path().join("first");
    succeeded("lock (cold)", rtlock(dir.path(), &first_cache, &["lock"]));
    let first = std::fs::read(&lock_path).unwrap();
    std::fs::remove_file(&lock_path).unwrap();
    let second_cache = caches.path().join("second");
    succeeded(
        "lock (cold again)",
        rtlock(dir.path(), &second_cache, &["lock"]),
    );
    assert_eq!(
        std::fs::read(&lock_path).unwrap(),
        first,
        "two cold locks differ"
    );
    std::fs::remove_file(&lock_path).unwrap();
    succeeded(
        "lock --offline",
        rtlock(dir.path(), &first_cache, &["--offline", "lock"]),
    );
    assert_eq!(
        std::fs::read(&lock_path).unwrap(),
        first,
        "the offline lock differs"
    );
    succeeded(
        "lock --check",
        rtlock(dir.path(), &first_cache, &["lock", "--check"]),
    );

    let lock = Lockfile::read(&lock_path).unwrap();
    assert_eq!(lock.as_of.as_deref(), Some(AS_OF));
    let names: Vec<String> = lock.pip.iter().map(|p| normalize(&p.name)).collect();
    for expected in [
        "certifi",
        "charset-normalizer",
        "idna",
        "pysocks",
        "python-dateutil",
        "requests",
        "six",
        "urllib3",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    for p in &lock.pip {
        let requested = ["requests", "python-dateutil"].contains(&normalize(&p.name).as_str());
        assert_eq!(p.requested, requested, "{}", p.name);
        assert!(p.file.ends_with(".whl"), "{}", p.file);
        assert!(p.url.ends_with(&p.file), "{} is not {}", p.url, p.file);
        // The wheel's own name carries the locked version.
        let file_version = p.file.split('-').nth(1).unwrap();
        assert_eq!(file_version, p.version.as_str(), "{}", p.file);
        assert_eq!(p.sha256.len(), 64);
        assert!(p.size > 0);
    }
    let requests = lock.pip.iter().find(|p| p.name == "requests").unwrap();
    for dep in [
        "certifi",
        "charset-normalizer",
        "idna",
        "urllib3",
        "pysocks",
    ] {
        assert!(
            requests.requires.iter().any(|r| r == dep),
            "{:?}",
            requests.requires
        );
    }

    // `why` walks the requires lists from the requested packages.
    let why = succeeded(
        "why pysocks",
        rtlock(dir.path(), &first_cache, &["why", "pysocks"]),
    );
    assert!(why.contains("requests → pysocks"), "{why}");
    let why = succeeded("why six", rtlock(dir.path(), &first_cache, &["why", "six"]));
    assert!(why.contains("python-dateutil → six"), "{why}");

    // One wheel, fetched from the index by its URL, is what the lock says.
    let six = lock.pip.iter().find(|p| p.name == "six").unwrap();
    let fetched = dir.path().join(&six.file);
    ok(
        "curl the six wheel",
        common::testbed::curl(&["-fL", "-o", fetched.to_str().unwrap(), &six.url]),
    );
    let bytes = std::fs::read(&fetched).unwrap();
    assert_eq!(bytes.len() as u64, six.size);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), six.sha256);
}

#[test]
fn live_exports_install_with_hashes_checked() {
    let dir = TempDir::new().unwrap();
    let cache = TempDir::new().unwrap();
    std::fs::write(dir.path().join("runtime.toml"), manifest()).unwrap();
    succeeded("lock", rtlock(dir.path(), cache.path(), &["lock"]));
    let lock = Lockfile::read(&dir.path().join("runtime.lock")).unwrap();

    // pip downloads every exported pin from the index with its hash checked, and picks
    // the very wheels of the lock.
    let requirements = dir.path().join("requirements.txt");
    let text = succeeded(
        "export requirements",
        rtlock(dir.path(), cache.path(), &["export", "requirements"]),
    );
    std::fs::write(&requirements, text).unwrap();
    let downloads = dir.path().join("downloads");
    let out = std::process::Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-cache-dir",
            "--require-hashes",
            "--no-deps",
        ])
        .args(common::uv::PIP_TARGET)
        .arg("--index-url")
        .arg(configured_index())
        .arg("--dest")
        .arg(&downloads)
        .arg("-r")
        .arg(&requirements)
        .env_remove("PIP_FIND_LINKS")
        .output()
        .unwrap();
    ok("pip download --require-hashes of the export", out);
    let mut got: Vec<String> = std::fs::read_dir(&downloads)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    got.sort();
    let mut files: Vec<String> = lock.pip.iter().map(|p| p.file.clone()).collect();
    files.sort();
    assert_eq!(got, files, "pip picked other wheels than the lock");

    // uv installs the exported pylock.toml: every locked distribution, at its version.
    let pylock = dir.path().join("pylock.toml");
    let text = succeeded(
        "export pylock",
        rtlock(dir.path(), cache.path(), &["export", "pylock"]),
    );
    std::fs::write(&pylock, text).unwrap();
    let target = dir.path().join("target");
    let out = std::process::Command::new(common::uv::uv())
        .args(["pip", "install", "--no-config", "-r"])
        .arg(&pylock)
        .args(["--python-version", "3.11", "--python-platform"])
        .arg(common::uv::PYTHON_PLATFORM)
        .arg("--target")
        .arg(&target)
        .arg("--cache-dir")
        .arg(dir.path().join("uv-cache"))
        .output()
        .unwrap();
    ok("uv pip install -r pylock.toml", out);
    let mut installed: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            let (dist, version) = name.strip_suffix(".dist-info")?.rsplit_once('-')?;
            Some(format!("{}=={version}", normalize(dist)))
        })
        .collect();
    installed.sort();
    let mut locked: Vec<String> = lock
        .pip
        .iter()
        .map(|p| format!("{}=={}", normalize(&p.name), p.version))
        .collect();
    locked.sort();
    assert_eq!(installed, locked);
}
