//! pip resolution against uv, live: for each request set of the corpus, `rtlock lock` on
//! the test bed's python image (Debian bookworm: CPython 3.11.2, glibc 2.36, x86_64) and
//! `uv pip compile` for the same Python and platform, both against the machine's
//! configured index as it stood at [`AS_OF`], must pin the same versions.
//!
//! rtlock lists only what the base image lacks or what it changes; uv lists everything,
//! base distributions included (passed to it as `name==version` constraints, since rtlock
//! holds them). So uv's pins minus those equal to a base distribution must equal the
//! lock's `[[pip]]` entries. Each case also carries facts of its own (what must and must
//! not be pinned) so that a case keeps testing what its name says, on both sides.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use assert_cmd::Command;
use tempfile::TempDir;

use common::testbed::testbed;
use common::uv::{Compile, base_distributions, configured_index, normalize};
use rtlock::lockfile::Lockfile;

/// The index as it stood then: fixed, so that both sides see the same files on every run.
const AS_OF: &str = "2025-06-01T00:00:00Z";

/// How many cases run at once (rtlock and uv each): the machine has two cores.
const PARALLEL: usize = 3;

struct Case {
    name: &'static str,
    requests: &'static [&'static str],
    /// Pinned by both (normalized name, and version prefix or "" for any).
    must_pin: &'static [(&'static str, &'static str)],
    /// Pinned by neither.
    must_not_pin: &'static [&'static str],
}

const fn case(
    name: &'static str,
    requests: &'static [&'static str],
    must_pin: &'static [(&'static str, &'static str)],
    must_not_pin: &'static [&'static str],
) -> Case {
    Case {
        name,
        requests,
        must_pin,
        must_not_pin,
    }
}

const CASES: &[Case] = &[
    case(
        "requests",
        &["requests"],
        &[("requests", ""), ("urllib3", "")],
        &[],
    ),
    case("numpy", &["numpy"], &[("numpy", "2.")], &[]),
    case(
        "pandas",
        &["pandas"],
        &[("pandas", "2."), ("numpy", "")],
        &[],
    ),
    // 1.16.0rc1 was out then: not taken unless asked for (see "pre-release opt-in").
    case(
        "scipy",
        &["scipy"],
        &[("scipy", "1.15."), ("numpy", "")],
        &[],
    ),
    case("pyarrow", &["pyarrow"], &[("pyarrow", "")], &[]),
    case(
        "scikit-learn",
        &["scikit-learn"],
        &[("scikit-learn", ""), ("joblib", "")],
        &[],
    ),
    case(
        "matplotlib",
        &["matplotlib"],
        &[("matplotlib", ""), ("pillow", "")],
        &[],
    ),
    case(
        "data-science stack",
        &["pandas", "scikit-learn", "matplotlib", "jupyterlab"],
        &[("jupyterlab", ""), ("ipykernel", ""), ("pandas", "")],
        &[],
    ),
    case(
        "the 12-package set",
        &common::uv::TWELVE_PACKAGES,
        &[("xgboost", ""), ("botocore", ""), ("psycopg2-binary", "")],
        &[],
    ),
    case(
        "extra: requests[socks]",
        &["requests[socks]"],
        &[("pysocks", "")],
        &[],
    ),
    case(
        "extra: sqlalchemy[asyncio]",
        &["sqlalchemy[asyncio]"],
        &[("sqlalchemy", ""), ("greenlet", "")],
        &[],
    ),
    case(
        "extra: httpx[http2]",
        &["httpx[http2]"],
        &[("h2", ""), ("hpack", "")],
        &[],
    ),
    case(
        "marker: windows-only dropped",
        &["pywin32; sys_platform == \"win32\"", "six"],
        &[("six", "")],
        &["pywin32"],
    ),
    case(
        "marker: python < 3.11 dropped",
        &["tomli; python_version < \"3.11\"", "attrs"],
        &[("attrs", "")],
        &["tomli"],
    ),
    case(
        "marker: linux-only kept",
        &["uvloop; sys_platform == \"linux\""],
        &[("uvloop", "")],
        &[],
    ),
    case("range: numpy<2", &["numpy<2"], &[("numpy", "1.")], &[]),
    case(
        "range: pandas>=2,<2.2",
        &["pandas>=2,<2.2"],
        &[("pandas", "2.1.")],
        &[],
    ),
    case(
        "range: django>=4.2,<5",
        &["django>=4.2,<5"],
        &[("django", "4.2.")],
        &[],
    ),
    case(
        "range: urllib3<2 under requests",
        &["requests", "urllib3<2"],
        &[("urllib3", "1.")],
        &[],
    ),
    case(
        "abi3: cryptography",
        &["cryptography"],
        &[("cryptography", ""), ("cffi", "")],
        &[],
    ),
    case(
        "pydantic and its core",
        &["pydantic"],
        &[("pydantic-core", "")],
        &[],
    ),
    case(
        "base: setuptools and wheel held",
        &["setuptools", "wheel"],
        &[],
        &["setuptools", "wheel"],
    ),
    case("base: pip held", &["pip"], &[], &["pip"]),
    case(
        "base: a package beside the held ones",
        &["setuptools", "six"],
        &[("six", "")],
        &["setuptools"],
    ),
    case(
        "pre-release opt-in",
        &["scipy>=1.16.0rc1"],
        &[("scipy", "1.16.0rc")],
        &[],
    ),
    case(
        "names: dots, capitals, underscores",
        &[
            "zope.interface",
            "Pillow",
            "typing_extensions",
            "ruamel.yaml",
        ],
        &[
            ("zope-interface", ""),
            ("pillow", ""),
            ("typing-extensions", ""),
        ],
        &[],
    ),
    case(
        "boto3",
        &["boto3"],
        &[("boto3", ""), ("s3transfer", "")],
        &[],
    ),
    case("polars", &["polars"], &[("polars", "")], &[]),
    case("lxml", &["lxml"], &[("lxml", "")], &[]),
    case(
        "fastapi",
        &["fastapi"],
        &[("starlette", ""), ("pydantic", "")],
        &[],
    ),
];

/// What rtlock and uv pinned for one case, or why one of them failed.
struct Outcome {
    case: &'static str,
    rtlock: Result<BTreeMap<String, String>, String>,
    uv: Result<BTreeMap<String, String>, String>,
}

#[test]
fn rtlock_locks_what_uv_compiles() {
    assert!(CASES.len() >= 25, "the corpus has {} cases", CASES.len());
    let bed = testbed();
    let index = configured_index();
    let base = base_distributions(&bed.image_python);
    assert!(base.contains_key("pip"), "base distributions: {base:?}");
    let caches = TempDir::new().unwrap();

    let next = Mutex::new(CASES.iter());
    let outcomes = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    let Some(case) = next.lock().unwrap().next() else {
                        return;
                    };
                    let outcome = Outcome {
                        case: case.name,
                        rtlock: rtlock_pins(case, &index, caches.path()),
                        uv: uv_pins(case, &index, &base, caches.path()),
                    };
                    outcomes.lock().unwrap().push(outcome);
                }
            });
        }
    });

    let mut failures = Vec::new();
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort_by_key(|o| CASES.iter().position(|c| c.name == o.case));
    for outcome in &outcomes {
        let case = CASES.iter().find(|c| c.name == outcome.case).unwrap();
        if let Some(why) = judge(case, outcome) {
            failures.push(format!("--- {} {:?}\n{why}", case.name, case.requests));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from uv:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// `None` when rtlock matches uv and both satisfy the case's facts; else both sides.
fn judge(case: &Case, outcome: &Outcome) -> Option<String> {
    let (rtlock, uv) = match (&outcome.rtlock, &outcome.uv) {
        (Ok(r), Ok(u)) => (r, u),
        (r, u) => {
            return Some(format!(
                "rtlock: {}\nuv: {}",
                r.as_ref().map_or_else(|e| e.clone(), |p| format!("{p:?}")),
                u.as_ref().map_or_else(|e| e.clone(), |p| format!("{p:?}"))
            ));
        }
    };
    let mut problems = Vec::new();
    if rtlock != uv {
        let names: std::collections::BTreeSet<&String> = rtlock.keys().chain(uv.keys()).collect();
        for name in names {
            let (r, u) = (rtlock.get(name), uv.get(name));
            if r != u {
                problems.push(format!(
                    "{name}: rtlock {} / uv {}",
                    r.map_or("-", String::as_str),
                    u.map_or("-", String::as_str)
                ));
            }
        }
    }
    for (side, pins) in [("rtlock", rtlock), ("uv", uv)] {
        for (name, prefix) in case.must_pin {
            match pins.get(*name) {
                Some(v) if v.starts_with(prefix) => {}
                other => problems.push(format!(
                    "{side} should pin {name} {prefix}*, pinned {other:?}"
                )),
            }
        }
        for name in case.must_not_pin {
            if let Some(v) = pins.get(*name) {
                problems.push(format!("{side} should not pin {name}, pinned {v}"));
            }
        }
    }
    (!problems.is_empty()).then(|| problems.join("\n"))
}

/// `rtlock lock` of the case on the bed's python image: its `[[pip]]` name → version.
fn rtlock_pins(
    case: &Case,
    index: &str,
    caches: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let dir = TempDir::new().unwrap();
    let requests: Vec<String> = case
        .requests
        .iter()
        .map(|r| serde_json::Value::from(*r).to_string())
        .collect();
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}\"\n\n[pip]\npackages = [{}]\nindex-url = \"{index}\"\n\n\
             [lock]\nas-of = \"{AS_OF}\"\n",
            testbed().image_python,
            requests.join(", ")
        ),
    )
    .unwrap();
    let out = Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir.path())
        .envs(testbed().env())
        .arg("--cache-dir")
        .arg(caches.join("rtlock"))
        .arg("lock")
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(format!(
            "rtlock lock failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let lock = Lockfile::read(&dir.path().join("runtime.lock")).map_err(|e| e.to_string())?;
    Ok(lock
        .pip
        .iter()
        .map(|p| (normalize(&p.name), p.version.to_string()))
        .collect())
}

/// `uv pip compile` of the case, minus the pins equal to a base distribution.
fn uv_pins(
    case: &Case,
    index: &str,
    base: &BTreeMap<String, String>,
    caches: &Path,
) -> Result<BTreeMap<String, String>, String> {
    let compile = Compile::new(index, AS_OF)
        .constraints(base)
        .cache_dir(&caches.join("uv"), false);
    let work = TempDir::new().unwrap();
    let out = compile
        .command(case.requests, work.path())
        .output()
        .map_err(|e| format!("cannot run uv: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "uv pip compile failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let pins = common::uv::parse_pins(&String::from_utf8_lossy(&out.stdout));
    Ok(pins
        .into_iter()
        .filter(|(name, version)| base.get(name) != Some(version))
        .collect())
}
