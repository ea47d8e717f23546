//! `rtlock export requirements` and `rtlock export pylock`, checked by the tools that
//! read them: pip installs the requirements file with `--require-hashes`, uv installs the
//! pylock.toml, both from real wheels (downloaded from the machine's configured index at
//! test time) served on 127.0.0.1; a file whose hash was altered is refused by both.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use assert_cmd::Command as BinCommand;
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use common::server::StaticServer;
use common::testbed::ok;
use common::uv::{configured_index, uv};

/// (name, version, requested, requires): requests and its dependencies, one of which
/// (charset-normalizer) has CPython 3.11-specific wheels, so the exports name 3.11.
const PACKAGES: [(&str, &str, bool, &[&str]); 5] = [
    (
        "requests",
        "2.32.3",
        true,
        &["certifi", "charset-normalizer", "idna", "urllib3"],
    ),
    ("certifi", "2024.8.30", false, &[]),
    ("charset-normalizer", "3.4.0", false, &[]),
    ("idna", "3.10", true, &[]),
    ("urllib3", "2.2.3", false, &[]),
];

/// The wheels of [`PACKAGES`] for CPython 3.11 on manylinux x86_64, downloaded once per
/// test binary with `pip download` from the configured index.
fn wheels() -> &'static BTreeMap<String, PathBuf> {
    static WHEELS: OnceLock<(TempDir, BTreeMap<String, PathBuf>)> = OnceLock::new();
    &WHEELS
        .get_or_init(|| {
            let dir = TempDir::new().unwrap();
            let pins: Vec<String> = PACKAGES
                .iter()
                .map(|(n, v, ..)| format!("{n}=={v}"))
                .collect();
            let download = Command::new("python3")
                .args(["-m", "pip", "download", "--quiet", "--no-deps"])
                .args(common::uv::PIP_TARGET)
                .args(["--index-url", &configured_index(), "--dest"])
                .arg(dir.path())
                .args(&pins)
                .env_remove("PIP_FIND_LINKS")
                .output()
                .expect("run python3 -m pip download");
            ok("pip download", download);
            let mut by_name = BTreeMap::new();
            for entry in std::fs::read_dir(dir.path()).unwrap() {
                let path = entry.unwrap().path();
                let file = path.file_name().unwrap().to_string_lossy().to_string();
                let name = common::uv::normalize(file.split('-').next().unwrap());
                assert!(file.ends_with(".whl"), "pip download gave {file}");
                by_name.insert(name, path);
            }
            assert_eq!(by_name.len(), PACKAGES.len(), "wheels: {by_name:?}");
            (dir, by_name)
        })
        .1
}

/// A PEP 503 index of the wheels plus the files themselves, in a directory of its own.
struct Index {
    _dir: TempDir,
    server: StaticServer,
}

impl Index {
    fn start() -> Index {
        let dir = TempDir::new().unwrap();
        let files = dir.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        for (name, wheel) in wheels() {
            let file = wheel.file_name().unwrap().to_string_lossy().to_string();
            std::fs::copy(wheel, files.join(&file)).unwrap();
            let page = dir.path().join("simple").join(name);
            std::fs::create_dir_all(&page).unwrap();
            let html = format!(
                "<!DOCTYPE html><html><body><a href=\"../../files/{file}#sha256={}\">{file}</a></body></html>\n",
                sha256(wheel)
            );
            std::fs::write(page.join("index.html"), html).unwrap();
        }
        let server = StaticServer::start(dir.path());
        Index { _dir: dir, server }
    }

    fn simple_url(&self) -> String {
        self.server.url("simple/").to_string()
    }
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// A lock of [`PACKAGES`] whose URLs point at `index`.
fn lock_text(index: &Index) -> String {
    let mut text = String::from(
        "version = 1\n\
         manifest = \"sha256:1111111111111111111111111111111111111111111111111111111111111111\"\n\
         source-date-epoch = 1748736000\n\
         as-of = \"2025-06-01T00:00:00Z\"\n\n\
         [base]\n\
         reference = \"127.0.0.1:5000/rtlock-test/debian-python:bookworm\"\n\
         digest = \"sha256:2222222222222222222222222222222222222222222222222222222222222222\"\n\
         manifest = \"sha256:2222222222222222222222222222222222222222222222222222222222222222\"\n\
         platform = \"linux/amd64\"\n",
    );
    for (name, version, requested, requires) in PACKAGES {
        let wheel = &wheels()[name];
        let file = wheel.file_name().unwrap().to_string_lossy();
        let requires: Vec<String> = requires.iter().map(|r| format!("\"{r}\"")).collect();
        text.push_str(&format!(
            "\n[[pip]]\nname = \"{name}\"\nversion = \"{version}\"\nfile = \"{file}\"\n\
             url = \"{}\"\nsha256 = \"{}\"\nsize = {}\nrequested = {requested}\nrequires = [{}]\n",
            index.server.url(&format!("files/{file}")),
            sha256(wheel),
            std::fs::metadata(wheel).unwrap().len(),
            requires.join(", ")
        ));
    }
    text
}

/// Runs `rtlock export FORMAT` on `lock` (written into `dir`).
fn export(dir: &Path, lock: &str, format: &str) -> Output {
    std::fs::write(dir.join("runtime.lock"), lock).unwrap();
    BinCommand::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .args(["export", format])
        .output()
        .unwrap()
}

fn exported(dir: &Path, lock: &str, format: &str) -> String {
    let out = export(dir, lock, format);
    assert!(
        out.status.success(),
        "rtlock export {format} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `pip install --require-hashes --no-deps -r FILE` into `target`, for the bed's Python.
fn pip_install(index: &Index, requirements: &Path, target: &Path) -> Output {
    Command::new("python3")
        .args(["-m", "pip", "install", "--no-cache-dir", "--require-hashes"])
        .args(["--no-deps", "--index-url", &index.simple_url()])
        .args(common::uv::PIP_TARGET)
        .arg("--target")
        .arg(target)
        .arg("-r")
        .arg(requirements)
        .env_remove("PIP_FIND_LINKS")
        .output()
        .unwrap()
}

/// `uv pip install -r pylock.toml` into `target`, for the bed's Python and platform.
fn uv_install(pylock: &Path, target: &Path, cache: &Path) -> Output {
    Command::new(uv())
        .args(["pip", "install", "--no-config", "-r"])
        .arg(pylock)
        .args(["--python-version", "3.11", "--python-platform"])
        .arg(common::uv::PYTHON_PLATFORM)
        .arg("--target")
        .arg(target)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .unwrap()
}

/// The `name-version.dist-info` directories an install left in `target`.
fn installed(target: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter_map(|f| f.strip_suffix(".dist-info").map(str::to_lowercase))
        .collect();
    found.sort();
    found
}

const INSTALLED: [&str; 5] = [
    "certifi-2024.8.30",
    "charset_normalizer-3.4.0",
    "idna-3.10",
    "requests-2.32.3",
    "urllib3-2.2.3",
];

/// `installer` succeeded, installed exactly [`INSTALLED`] into `target`, and fetched each
/// wheel once from the local index (none from anywhere else).
fn assert_installed(installer: &str, out: &Output, target: &Path, index: &Index) {
    assert!(
        out.status.success(),
        "{installer} refused the export:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(installed(target), INSTALLED);
    for wheel in wheels().values() {
        let file = wheel.file_name().unwrap().to_string_lossy();
        assert_eq!(
            index.server.requests(&format!("/files/{file}")),
            1,
            "{file}"
        );
    }
}

#[test]
fn requirements_is_pip_compile_shaped_and_sorted() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let text = exported(dir.path(), &lock_text(&index), "requirements");
    let hash = |name: &str| sha256(&wheels()[name]);
    let expected = format!(
        "# Generated by rtlock from runtime.lock; do not edit it by hand.\n\
         # Base image: 127.0.0.1:5000/rtlock-test/debian-python:bookworm@sha256:{two} (linux/amd64).\n\
         # Manifest: sha256:{one}.\n\
         # Resolved as the indexes stood at 2025-06-01T00:00:00Z.\n\
         # The base image's own Python distributions are not listed: its digest pins them.\n\
         #\n\
         # Install into that base image with:\n\
         #   pip install --require-hashes --no-deps -r requirements.txt\n\
         # (add --break-system-packages where the base's Python is externally managed,\n\
         # PEP 668, as Debian's and Ubuntu's are)\n\
         --only-binary :all:\n\
         \n\
         certifi==2024.8.30 \\\n    --hash=sha256:{certifi}\n    # via requests\n\
         charset-normalizer==3.4.0 \\\n    --hash=sha256:{charset}\n    # via requests\n\
         idna==3.10 \\\n    --hash=sha256:{idna}\n    # via\n    #   runtime.toml\n    #   requests\n\
         requests==2.32.3 \\\n    --hash=sha256:{requests}\n    # via runtime.toml\n\
         urllib3==2.2.3 \\\n    --hash=sha256:{urllib3}\n    # via requests\n",
        one = "1".repeat(64),
        two = "2".repeat(64),
        certifi = hash("certifi"),
        charset = hash("charset-normalizer"),
        idna = hash("idna"),
        requests = hash("requests"),
        urllib3 = hash("urllib3"),
    );
    assert_eq!(text, expected);
    // The same lock, the same bytes.
    assert_eq!(
        exported(dir.path(), &lock_text(&index), "requirements"),
        text
    );
}

#[test]
fn pip_installs_the_requirements_with_require_hashes() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let requirements = dir.path().join("requirements.txt");
    std::fs::write(
        &requirements,
        exported(dir.path(), &lock_text(&index), "requirements"),
    )
    .unwrap();
    let target = dir.path().join("target");
    let out = pip_install(&index, &requirements, &target);
    assert_installed("pip", &out, &target, &index);
}

#[test]
fn pip_refuses_a_requirements_file_whose_hash_is_wrong() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let good = sha256(&wheels()["idna"]);
    let text =
        exported(dir.path(), &lock_text(&index), "requirements").replace(&good, &"0".repeat(64));
    let requirements = dir.path().join("requirements.txt");
    std::fs::write(&requirements, text).unwrap();
    let target = dir.path().join("target");
    let out = pip_install(&index, &requirements, &target);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "pip accepted a wrong hash: {stderr}");
    assert!(
        stderr.contains("HASHES") && stderr.contains(&good),
        "{stderr}"
    );
}

#[test]
fn pylock_follows_pep_751_field_by_field() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let text = exported(dir.path(), &lock_text(&index), "pylock");
    assert_eq!(exported(dir.path(), &lock_text(&index), "pylock"), text);
    let doc: toml::Table = toml::from_str(&text).unwrap();
    // Top level: the two required keys, and what the lock knows of the target.
    assert_eq!(doc["lock-version"].as_str(), Some("1.0"));
    assert_eq!(doc["created-by"].as_str(), Some("rtlock"));
    assert_eq!(doc["requires-python"].as_str(), Some("==3.11.*"));
    assert_eq!(
        doc["environments"].as_array().unwrap(),
        &vec![toml::Value::from(
            "sys_platform == 'linux' and platform_machine == 'x86_64'"
        )]
    );
    let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
    let mut expected_keys = vec![
        "created-by",
        "environments",
        "lock-version",
        "packages",
        "requires-python",
    ];
    expected_keys.sort();
    assert_eq!(keys, expected_keys);

    let packages = doc["packages"].as_array().unwrap();
    let names: Vec<&str> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "certifi",
            "charset-normalizer",
            "idna",
            "requests",
            "urllib3"
        ]
    );
    for p in packages {
        let name = p["name"].as_str().unwrap();
        let (_, version, _, requires) = PACKAGES.iter().find(|(n, ..)| *n == name).unwrap();
        assert_eq!(p["version"].as_str(), Some(*version));
        // No index: the lock does not record the index root of a URL.
        assert!(p.get("index").is_none());
        let deps: Vec<&str> = p
            .get("dependencies")
            .map(|d| {
                d.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["name"].as_str().unwrap())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(deps, *requires, "{name}");
        let wheels_of = p["wheels"].as_array().unwrap();
        assert_eq!(wheels_of.len(), 1);
        let wheel = &wheels_of[0];
        let path = &wheels()[name];
        let file = path.file_name().unwrap().to_string_lossy();
        assert_eq!(wheel["name"].as_str(), Some(&*file));
        assert_eq!(
            wheel["url"].as_str(),
            Some(index.server.url(&format!("files/{file}")).as_str())
        );
        assert_eq!(
            wheel["size"].as_integer(),
            Some(std::fs::metadata(path).unwrap().len() as i64)
        );
        let hashes = wheel["hashes"].as_table().unwrap();
        assert_eq!(hashes.len(), 1);
        assert_eq!(hashes["sha256"].as_str(), Some(sha256(path).as_str()));
    }
}

#[test]
fn uv_installs_the_pylock() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let pylock = dir.path().join("pylock.toml");
    std::fs::write(&pylock, exported(dir.path(), &lock_text(&index), "pylock")).unwrap();
    let target = dir.path().join("target");
    let out = uv_install(&pylock, &target, &dir.path().join("uv-cache"));
    assert_installed("uv", &out, &target, &index);
}

#[test]
fn uv_refuses_a_pylock_whose_hash_is_wrong() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let good = sha256(&wheels()["urllib3"]);
    let text = exported(dir.path(), &lock_text(&index), "pylock").replace(&good, &"0".repeat(64));
    let pylock = dir.path().join("pylock.toml");
    std::fs::write(&pylock, text).unwrap();
    let target = dir.path().join("target");
    let out = uv_install(&pylock, &target, &dir.path().join("uv-cache"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "uv accepted a wrong hash: {stderr}");
    assert!(
        stderr.contains("urllib3") && stderr.contains(&good),
        "{stderr}"
    );
}

#[test]
fn a_lock_without_pip_packages_is_refused() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let full = lock_text(&index);
    let without_pip = full.split("\n[[pip]]").next().unwrap();
    for format in ["requirements", "pylock"] {
        let out = export(dir.path(), without_pip, format);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{format}: {stderr}");
        assert!(out.stdout.is_empty(), "{format} wrote something");
        assert!(
            stderr.contains("runtime.lock has no [[pip]] entries")
                && stderr.contains("[pip] packages"),
            "{stderr}"
        );
    }
}

/// The Dockerfile needs the base's user (its installs run as root and switch back), so
/// a base that cannot be read is an error naming it, and nothing is printed.
#[test]
fn dockerfile_of_a_base_that_cannot_be_read_names_it() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let out = export(dir.path(), &lock_text(&index), "dockerfile");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "cannot read the config of the base image \
             127.0.0.1:5000/rtlock-test/debian-python:bookworm@sha256:2222"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn renv_of_a_lock_without_r_says_what_to_add() {
    let index = Index::start();
    let dir = TempDir::new().unwrap();
    let out = export(dir.path(), &lock_text(&index), "renv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no [[r]] entries"), "{stderr}");
    assert!(stderr.contains("[r]"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_missing_lock_says_how_to_make_one() {
    let dir = TempDir::new().unwrap();
    let out = BinCommand::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .args(["export", "pylock"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rtlock lock"), "{stderr}");
}

/// Issue 11: six's entry with tzdata's url used to export as
/// `six==1.17.0 --hash=<tzdata's hash>`. The reader refuses the lock before anything is
/// written, in both formats.
#[test]
fn a_lock_whose_url_fetches_another_wheel_is_refused() {
    let dir = TempDir::new().unwrap();
    let swapped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/locks/bad/01-pip-url-names-another-file.lock"),
    )
    .unwrap();
    for format in ["requirements", "pylock"] {
        let out = export(dir.path(), &swapped, format);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{format}: {stderr}");
        assert!(out.stdout.is_empty(), "{format} wrote something");
        assert!(
            stderr.contains(
                "[[pip]] `six`: the url names the file `tzdata-2025.2-py2.py3-none-any.whl`"
            ) && stderr.contains("runtime.lock:35:7"),
            "{stderr}"
        );
    }
}
