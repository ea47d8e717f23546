//! The pip resolver against real projects: pages and core metadata read at test time
//! from the machine's configured Python index (pip's own default, asked from pip), cut at
//! a fixed upload time so the answers do not move; tags checked against `packaging`, and
//! resolutions against `uv pip compile` on the same inputs.
//!
//! The source here is the smallest reader of a PEP 691 index the tests need (JSON pages,
//! PEP 658 `.metadata` files); rtlock's own index replaces it once it lands.

#[allow(dead_code)]
#[path = "common/testbed.rs"]
mod testbed;
#[allow(dead_code)]
#[path = "common/uv.rs"]
mod uv;

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use rtlock::fetch::{FetchSettings, Fetcher};
use rtlock::pip::index::Index;
use rtlock::pip::resolve::{Request, Resolution, ResolveError, resolve};
use rtlock::pip::target::{Libc, Target};
use rtlock::pip::{
    CoreMetadata, DistFile, ExtraName, PackageName, PackageSource, Project, Requirement, Version,
    VersionSpecifiers,
};
use serde_json::Value;
use tokio::sync::OnceCell;
use url::Url;

/// Everything is resolved as the index stood then.
const AS_OF: &str = "2025-01-01T00:00:00Z";

/// The machine's configured index, as pip reports it.
fn index_url() -> Url {
    static URL: OnceLock<Url> = OnceLock::new();
    URL.get_or_init(|| {
        let out = Command::new("python3")
            .args([
                "-c",
                "from pip._internal.models.index import PyPI; print(PyPI.simple_url)",
            ])
            .output()
            .expect("python3 runs (it tells which Python index this machine uses)");
        assert!(
            out.status.success(),
            "pip's index URL: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        if !url.ends_with('/') {
            url.push('/');
        }
        Url::parse(&url).expect("pip's index URL parses")
    })
    .clone()
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SourceError(String);

/// One answer per key, fetched once even when asked for concurrently.
type Memo<K, V> = Arc<Mutex<HashMap<K, Arc<OnceCell<Arc<V>>>>>>;

/// Pages and metadata from the live index, memoized (the resolver's prefetch relies on
/// that), with files uploaded after [`AS_OF`] left out as `as-of` does.
#[derive(Clone)]
struct LiveSource {
    client: reqwest::Client,
    projects: Memo<PackageName, Project>,
    metadata: Memo<Url, CoreMetadata>,
}

impl LiveSource {
    fn new() -> LiveSource {
        static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
        let client = CLIENT.get_or_init(|| {
            let dir = std::env::temp_dir().join("rtlock-pip-resolve-test");
            let fetcher = Fetcher::new(FetchSettings::new(dir)).expect("a fetcher");
            fetcher
                .http_client()
                .expect("an online fetcher has a client")
                .clone()
        });
        LiveSource {
            client: client.clone(),
            projects: Arc::default(),
            metadata: Arc::default(),
        }
    }

    /// The body, or `None` for a 404 (a project the index does not have). Transport
    /// failures are retried a few times: the live index is across the internet.
    async fn get(&self, url: &Url, accept: &str) -> Result<Option<bytes::Bytes>, SourceError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .get(url.clone())
                .header("Accept", accept)
                .send()
                .await;
            let resp = match sent {
                Ok(resp) => resp,
                Err(e) if attempt < 4 => {
                    eprintln!("retrying {url}: {e}");
                    continue;
                }
                Err(e) => return Err(SourceError(format!("{url}: {e}"))),
            };
            if resp.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !resp.status().is_success() {
                return Err(SourceError(format!("{url}: HTTP {}", resp.status())));
            }
            match resp.bytes().await {
                Ok(body) => return Ok(Some(body)),
                Err(e) if attempt < 4 => eprintln!("retrying {url}: {e}"),
                Err(e) => return Err(SourceError(format!("{url}: {e}"))),
            }
        }
    }

    async fn fetch_project(&self, name: &PackageName) -> Result<Arc<Project>, SourceError> {
        let url = index_url().join(&format!("{name}/")).unwrap();
        let Some(text) = self
            .get(&url, "application/vnd.pypi.simple.v1+json")
            .await?
        else {
            return Ok(Arc::new(Project {
                name: name.to_string(),
                files: Vec::new(),
            }));
        };
        let page: Value =
            serde_json::from_slice(&text).map_err(|e| SourceError(format!("{url}: {e}")))?;
        let as_of = jiff::Timestamp::from_str(AS_OF).unwrap();
        let mut files = Vec::new();
        for f in page["files"].as_array().into_iter().flatten() {
            let Some(upload_time) = f["upload-time"]
                .as_str()
                .and_then(|t| jiff::Timestamp::from_str(t).ok())
            else {
                continue;
            };
            if upload_time > as_of {
                continue;
            }
            let yanked = match &f["yanked"] {
                Value::Bool(true) => Some(String::new()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            };
            files.push(DistFile {
                filename: f["filename"].as_str().unwrap().to_string(),
                url: url.join(f["url"].as_str().unwrap()).unwrap(),
                sha256: f["hashes"]["sha256"].as_str().map(str::to_string),
                size: f["size"].as_u64(),
                requires_python: f["requires-python"].as_str().map(str::to_string),
                yanked,
                upload_time: Some(upload_time),
                core_metadata: None,
            });
        }
        Ok(Arc::new(Project {
            name: name.to_string(),
            files,
        }))
    }

    /// The PEP 658 file beside the wheel; where the index has none (older uploads), the
    /// METADATA inside the wheel itself, kept on disk by the wheel's sha256 so only the
    /// first run downloads it.
    async fn fetch_metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError> {
        let url = Url::parse(&format!("{}.metadata", file.url)).unwrap();
        let text = match self.get(&url, "*/*").await? {
            Some(body) => String::from_utf8_lossy(&body).into_owned(),
            None => self.metadata_from_wheel(file).await?,
        };
        parse_metadata(&text)
            .map(Arc::new)
            .ok_or_else(|| SourceError(format!("{url}: no Name/Version")))
    }

    async fn metadata_from_wheel(&self, file: &DistFile) -> Result<String, SourceError> {
        let sha = file
            .sha256
            .clone()
            .ok_or_else(|| SourceError(format!("{}: no sha256", file.url)))?;
        let cached = metadata_cache_dir().join(&sha);
        if let Ok(text) = std::fs::read_to_string(&cached) {
            return Ok(text);
        }
        let body = self
            .get(&file.url, "*/*")
            .await?
            .ok_or_else(|| SourceError(format!("{}: 404", file.url)))?;
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body))
            .map_err(|e| SourceError(format!("{}: {e}", file.url)))?;
        let member = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .find(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)
            .ok_or_else(|| SourceError(format!("{}: no .dist-info/METADATA", file.url)))?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(&member).unwrap(), &mut text)
            .map_err(|e| SourceError(format!("{}: {e}", file.url)))?;
        std::fs::create_dir_all(metadata_cache_dir()).unwrap();
        let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &text).unwrap();
        std::fs::rename(&tmp, &cached).unwrap();
        Ok(text)
    }
}

/// Wheel METADATA files by the wheel's sha256, across runs.
fn metadata_cache_dir() -> std::path::PathBuf {
    std::path::PathBuf::from("/var/cache/rtlock-testbed/pip-resolve-metadata")
}

/// The headers of a METADATA file that resolution reads.
fn parse_metadata(text: &str) -> Option<CoreMetadata> {
    let (mut name, mut version, mut requires_python) = (None, None, None);
    let (mut requires_dist, mut provides_extra) = (Vec::new(), Vec::new());
    for line in text.lines().take_while(|l| !l.is_empty()) {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        match key {
            "Name" => name = PackageName::from_str(value).ok(),
            "Version" => version = Version::from_str(value).ok(),
            "Requires-Python" => requires_python = VersionSpecifiers::from_str(value).ok(),
            "Requires-Dist" => requires_dist.extend(Requirement::from_str(value).ok()),
            "Provides-Extra" => provides_extra.extend(ExtraName::from_str(value).ok()),
            _ => {}
        }
    }
    Some(CoreMetadata {
        name: name?,
        version: version?,
        requires_dist,
        requires_python,
        provides_extra,
    })
}

impl PackageSource for LiveSource {
    type Error = SourceError;

    async fn project(&self, name: &PackageName) -> Result<Arc<Project>, SourceError> {
        let cell = self
            .projects
            .lock()
            .unwrap()
            .entry(name.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.fetch_project(name))
            .await
            .cloned()
    }

    async fn metadata(&self, file: &DistFile) -> Result<Arc<CoreMetadata>, SourceError> {
        let cell = self
            .metadata
            .lock()
            .unwrap()
            .entry(file.url.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| self.fetch_metadata(file))
            .await
            .cloned()
    }
}

/// Debian bookworm's C library.
const GLIBC_2_36: Libc = Libc::Glibc {
    major: 2,
    minor: 36,
};

/// Debian bookworm's Python on x86_64: the test bed's python base image, the Python uv is
/// told about.
fn bookworm() -> Target {
    Target::new(uv::PYTHON_VERSION, "amd64", GLIBC_2_36).unwrap()
}

fn request(reqs: &[&str]) -> Request {
    Request {
        requirements: reqs
            .iter()
            .map(|r| Requirement::from_str(r).unwrap())
            .collect(),
        ..Request::default()
    }
}

fn name(s: &str) -> PackageName {
    PackageName::from_str(s).unwrap()
}

fn pins(res: &Resolution) -> Vec<String> {
    res.packages
        .iter()
        .map(|p| format!("{}=={}", p.name, p.version))
        .collect()
}

fn version_of(res: &Resolution, n: &str) -> Option<String> {
    res.packages
        .iter()
        .find(|p| p.name.as_ref() == n)
        .map(|p| p.version.to_string())
}

async fn lock(target: &Target, req: &Request) -> Result<Resolution, ResolveError> {
    resolve(LiveSource::new(), target, req).await
}

/// The exact ordered tag list of `packaging.tags` for CPython 3.11 on x86_64 with glibc
/// 2.36, computed by the machine's python3 (pip's vendored packaging) with its glibc
/// probe set to 2.36, so the host's own glibc does not matter.
#[test]
fn tags_equal_packaging_order() {
    let script = r#"
from pip._vendor.packaging import tags, _manylinux
_manylinux._get_glibc_version = lambda: (2, 36)
plats = list(_manylinux.platform_tags("linux_x86_64", "x86_64")) + ["linux_x86_64"]
for t in tags.cpython_tags((3, 11), ["cp311"], plats):
    print(t)
for t in tags.compatible_tags((3, 11), "cp311", plats):
    print(t)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "packaging: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let ours: Vec<String> = bookworm().tags().iter().map(ToString::to_string).collect();
    assert!(
        expected.len() > 800,
        "packaging listed only {} tags",
        expected.len()
    );
    assert_eq!(ours, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_and_markers() {
    let res = lock(
        &bookworm(),
        &request(&["requests[socks]", "colorama; sys_platform == 'win32'"]),
    )
    .await
    .unwrap();
    let names: Vec<&str> = res.packages.iter().map(|p| p.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "certifi",
            "charset-normalizer",
            "idna",
            "pysocks",
            "requests",
            "urllib3"
        ],
        "{res:#?}"
    );
    let requests = &res.packages[4];
    assert!(requests.requested);
    assert!(
        requests.requires.contains(&name("pysocks")),
        "{:?}",
        requests.requires
    );
    assert!(!res.packages[0].requested);
    assert_eq!(requests.version.to_string(), "2.32.3");
    assert_eq!(requests.file.filename, "requests-2.32.3-py3-none-any.whl");
    assert!(requests.file.sha256.is_some());

    // pytest's `tomli; python_version < "3.11"` and `colorama; sys_platform == "win32"`.
    let res = lock(&bookworm(), &request(&["pytest==8.3.4"]))
        .await
        .unwrap();
    assert_eq!(version_of(&res, "tomli"), None, "{:?}", pins(&res));
    assert_eq!(version_of(&res, "colorama"), None);
    let py310 = Target::new(
        "3.10.12",
        "amd64",
        Libc::Glibc {
            major: 2,
            minor: 35,
        },
    )
    .unwrap();
    let res = lock(&py310, &request(&["pytest==8.3.4"])).await.unwrap();
    assert!(version_of(&res, "tomli").is_some(), "{:?}", pins(&res));
    assert!(version_of(&res, "exceptiongroup").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_best_wheel_for_the_target() {
    let res = lock(&bookworm(), &request(&["numpy==2.2.1"]))
        .await
        .unwrap();
    let numpy = &res.packages[0];
    assert_eq!(
        numpy.file.filename,
        "numpy-2.2.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    );
    let arm = Target::new(uv::PYTHON_VERSION, "arm64", GLIBC_2_36).unwrap();
    let res = lock(&arm, &request(&["numpy==2.2.1"])).await.unwrap();
    assert_eq!(
        res.packages[0].file.filename,
        "numpy-2.2.1-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requires_python_skips_versions() {
    // requests 2.32 needs Python >= 3.8; its wheels are py3-none-any, so only
    // requires-python keeps them off a 3.7 target.
    let py37 = Target::new(
        "3.7.17",
        "amd64",
        Libc::Glibc {
            major: 2,
            minor: 31,
        },
    )
    .unwrap();
    let res = lock(&py37, &request(&["requests"])).await.unwrap();
    assert_eq!(
        version_of(&res, "requests").as_deref(),
        Some("2.31.0"),
        "{:?}",
        pins(&res)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yanked_only_by_exact_pin() {
    // requests 2.32.0 and 2.32.1 are yanked.
    let err = lock(&bookworm(), &request(&["requests>=2.32.0,<2.32.2"]))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("requests>=2.32.0,<2.32.2 (requested)"),
        "{msg}"
    );
    assert!(
        msg.contains("are yanked: 2.32.1, 2.32.0 (pin one with == to use it)"),
        "{msg}"
    );
    let res = lock(&bookworm(), &request(&["requests==2.32.0"]))
        .await
        .unwrap();
    assert_eq!(version_of(&res, "requests").as_deref(), Some("2.32.0"));
    assert!(res.packages.iter().any(|p| p.file.yanked.is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prereleases_only_when_named() {
    // Django 5.1a1, b1 and rc1 sit above every 5.0.x final in the range.
    let res = lock(&bookworm(), &request(&["django>=5.0,<5.1.1"]))
        .await
        .unwrap();
    assert_eq!(version_of(&res, "django").as_deref(), Some("5.1"));
    let res = lock(&bookworm(), &request(&["django>=5.0,!=5.1"]))
        .await
        .unwrap();
    assert_eq!(version_of(&res, "django").as_deref(), Some("5.1.4"));
    // Named in the request: allowed.
    let res = lock(&bookworm(), &request(&["django>=5.0,<=5.1rc1"]))
        .await
        .unwrap();
    assert_eq!(version_of(&res, "django").as_deref(), Some("5.1rc1"));
    // PEP 440: `<5.1` excludes 5.1's own pre-releases, so this range is empty.
    let msg = lock(&bookworm(), &request(&["django>=5.1a1,<5.1"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("django>=5.1a1,<5.1 (requested), which no version can satisfy"),
        "{msg}"
    );
}

fn installed(pairs: &[(&str, &str)]) -> Vec<(PackageName, Version)> {
    pairs
        .iter()
        .map(|(n, v)| (name(n), Version::from_str(v).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_held_distributions() {
    // Held and fitting: used, not listed, still a dependency.
    let mut req = request(&["pandas==2.2.3"]);
    req.installed = installed(&[("numpy", "1.26.4"), ("six", "1.16.0")]);
    let res = lock(&bookworm(), &req).await.unwrap();
    assert_eq!(version_of(&res, "numpy"), None, "{:?}", pins(&res));
    assert_eq!(version_of(&res, "six"), None);
    let pandas = res
        .packages
        .iter()
        .find(|p| p.name.as_ref() == "pandas")
        .unwrap();
    assert!(
        pandas.requires.contains(&name("numpy")),
        "{:?}",
        pandas.requires
    );

    // Held and in the way: the message names the request, the base package and version.
    req.installed = installed(&[("numpy", "1.21.0")]);
    let msg = lock(&bookworm(), &req).await.unwrap_err().to_string();
    assert!(msg.contains("pandas==2.2.3 (requested)"), "{msg}");
    assert!(msg.contains("pandas 2.2.3 needs numpy>=1.23.2"), "{msg}");
    assert!(msg.contains("the base image holds numpy 1.21.0"), "{msg}");
    assert!(msg.contains("[pip] allow-upgrade"), "{msg}");

    // Allowed to move: numpy is upgraded and listed.
    req.allow_upgrade = vec![name("numpy")];
    let res = lock(&bookworm(), &req).await.unwrap();
    assert_eq!(
        version_of(&res, "numpy").as_deref(),
        Some("2.2.1"),
        "{:?}",
        pins(&res)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previous_lock_is_kept_while_it_satisfies() {
    let mut req = request(&["requests"]);
    req.locked = installed(&[("requests", "2.31.0"), ("urllib3", "2.0.7")]);
    let res = lock(&bookworm(), &req).await.unwrap();
    assert_eq!(version_of(&res, "requests").as_deref(), Some("2.31.0"));
    assert_eq!(version_of(&res, "urllib3").as_deref(), Some("2.0.7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_wheel_for_the_target() {
    // psycopg2 (not -binary) ships wheels for Windows only.
    let msg = lock(&bookworm(), &request(&["psycopg2"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("no version of psycopg2 has a wheel for the base image's Python"),
        "{msg}"
    );
    assert!(
        msg.contains("cp311-cp311-manylinux_2_36_x86_64, cp311-cp311-manylinux_2_35_x86_64"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("({} tags)", bookworm().tags().len())),
        "{msg}"
    );
    assert!(msg.contains("source distributions"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsatisfiable_set_explained() {
    let msg = lock(&bookworm(), &request(&["requests==2.31.0", "urllib3<1.21"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("requests==2.31.0 (requested)"), "{msg}");
    assert!(msg.contains("urllib3<1.21 (requested)"), "{msg}");
    assert!(
        msg.contains("requests 2.31.0 needs urllib3>=1.21.1,<3"),
        "{msg}"
    );

    let msg = lock(&bookworm(), &request(&["no-such-project-rtlock-test"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("no-such-project-rtlock-test is not on the index"),
        "{msg}"
    );
}

/// Requirements, and the base image's distributions.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);

/// rtlock's resolver through rtlock's own index client against `uv pip compile` on the
/// same index, cut-off, Python, platform and base constraints: the same pins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_pins_as_uv() {
    let cases: [Case; 4] = [
        (
            &["requests[socks]", "colorama; sys_platform == 'win32'"],
            &[],
        ),
        (
            &["flask", "sqlalchemy<2", "pytest"],
            &[("packaging", "23.0")],
        ),
        (
            &["pandas>=2,<3", "scikit-learn", "psycopg2-binary==2.9.*"],
            &[("numpy", "1.26.4"), ("six", "1.16.0")],
        ),
        (&uv::TWELVE_PACKAGES, &[]),
    ];
    let as_of = jiff::Timestamp::from_str(AS_OF).unwrap();
    for (reqs, base) in cases {
        let cache = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(FetchSettings::new(cache.path())).unwrap();
        let index = Index::new(fetcher, vec![index_url()], Some(as_of));
        let mut req = request(reqs);
        req.installed = installed(base);
        let ours: BTreeMap<String, String> = resolve(index, &bookworm(), &req)
            .await
            .unwrap_or_else(|e| panic!("{reqs:?}: {e}"))
            .packages
            .iter()
            .map(|p| (p.name.to_string(), p.version.to_string()))
            .collect();
        let constraints: BTreeMap<String, String> = base
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let theirs = tokio::task::spawn_blocking({
            let reqs: Vec<String> = reqs.iter().map(|r| r.to_string()).collect();
            move || {
                let reqs: Vec<&str> = reqs.iter().map(String::as_str).collect();
                uv::Compile::new(index_url().as_str(), AS_OF)
                    .constraints(&constraints)
                    .run(&reqs)
            }
        })
        .await
        .unwrap();
        // uv lists the base pins it kept; rtlock leaves them to the base digest.
        let theirs: BTreeMap<String, String> = theirs
            .into_iter()
            .filter(|(n, v)| !base.contains(&(n.as_str(), v.as_str())))
            .collect();
        assert!(!ours.is_empty(), "{reqs:?}");
        assert_eq!(ours, theirs, "{reqs:?}");
    }
}
