//! `rtlock diff` over pairs of real locks from the test bed: a base bumped to an image
//! with other dpkg contents (checked against `dpkg-query` and `pip list` in both
//! images), a pip upgrade and a downgrade with an apt package added with its
//! dependencies (the machine's Debian mirror, through the python base's own sources),
//! and an R package removed with what only it needed (the bed's CRAN-like repository).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;

use common::cli::{rtlock_in as rtlock, succeed};
use common::cran::CranRepo;
use common::pip_index::{PipIndex, exact};
use common::testbed::{docker, ok, testbed};

/// Locks `manifest` in `dir` as `name`.lock, with the shared `cache`.
fn lock(dir: &Path, cache: &Path, name: &str, manifest: &str) {
    std::fs::write(dir.join(format!("{name}.toml")), manifest).unwrap();
    succeed(
        &format!("lock {name}"),
        rtlock(
            dir,
            cache,
            &[
                "lock",
                "-m",
                &format!("{name}.toml"),
                "-o",
                &format!("{name}.lock"),
            ],
        ),
    );
}

fn diff(dir: &Path, cache: &Path, format: &str) -> String {
    succeed(
        "diff",
        rtlock(
            dir,
            cache,
            &["diff", "old.lock", "new.lock", "--format", format],
        ),
    )
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// PEP 503's normal form, as `pip list` and the base facts may spell names differently.
fn normalized(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_ascii_lowercase().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// What dpkg calls installed in `image`: name → version.
fn dpkg_installed(image: &str) -> std::collections::BTreeMap<String, String> {
    let out = ok(
        "dpkg-query",
        docker(&[
            "run",
            "--rm",
            image,
            "dpkg-query",
            "-W",
            "-f",
            "${db:Status-Status}\\t${Package}\\t${Version}\\n",
        ]),
    );
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (status, name, version) = (f.next()?, f.next()?, f.next()?);
            (status == "installed").then(|| (name.to_string(), version.to_string()))
        })
        .collect()
}

/// The distributions `pip list` sees in the python base, normalized.
fn pip_list(image: &str) -> BTreeSet<String> {
    let out = ok(
        "pip list",
        docker(&[
            "run",
            "--rm",
            image,
            "python3",
            "-m",
            "pip",
            "list",
            "--format",
            "json",
            "--disable-pip-version-check",
        ]),
    );
    let list: Value = serde_json::from_str(&out).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| normalized(d["name"].as_str().unwrap()))
        .collect()
}

/// The minimal base bumped to the python base: what the diff says changed inside the
/// base is what dpkg and pip say differs between the two images; read from the cache
/// the locks left and pulled afresh, the answer is the same.
#[test]
fn a_base_bump_shows_what_changed_inside_it_as_dpkg_and_pip_see_it() {
    let bed = testbed();
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    lock(
        dir.path(),
        &cache,
        "old",
        &format!("[base]\nimage = \"{}\"\n", bed.image_minimal),
    );
    lock(
        dir.path(),
        &cache,
        "new",
        &format!("[base]\nimage = \"{}\"\n", bed.image_python),
    );
    let json = diff(dir.path(), &cache, "json");
    let v: Value = serde_json::from_str(&json).unwrap();
    let contents = &v["base"]["contents"];
    assert!(contents.is_object(), "{v:#}");
    assert_eq!(
        v["base"]["reference"]["to"], bed.image_python,
        "the reference changed too"
    );

    let (before, after) = (
        dpkg_installed(&bed.image_minimal),
        dpkg_installed(&bed.image_python),
    );
    let keys = |m: &std::collections::BTreeMap<String, String>| -> BTreeSet<String> {
        m.keys().cloned().collect()
    };
    let added: BTreeSet<String> = keys(&after).difference(&keys(&before)).cloned().collect();
    let removed: BTreeSet<String> = keys(&before).difference(&keys(&after)).cloned().collect();
    assert!(added.contains("python3"), "{added:?}");
    assert_eq!(names(&contents["apt"]["added"]), added);
    assert_eq!(names(&contents["apt"]["removed"]), removed);
    let changed: BTreeSet<String> = before
        .iter()
        .filter(|(name, version)| after.get(*name).is_some_and(|v| v != *version))
        .map(|(name, _)| name.clone())
        .collect();
    assert_eq!(names(&contents["apt"]["changed"]), changed);
    // Each added package at the version dpkg reports.
    for p in contents["apt"]["added"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        assert_eq!(p["version"].as_str().unwrap(), after[name], "{name}");
    }
    // The minimal base has no Python: every distribution pip lists is new.
    let pip: BTreeSet<String> = names(&contents["pip"]["added"])
        .iter()
        .map(|n| normalized(n))
        .collect();
    assert_eq!(pip, pip_list(&bed.image_python));
    assert_eq!(contents["pip"]["removed"], serde_json::json!([]));
    assert_eq!(contents["r"]["added"], serde_json::json!([]));

    // A reviewer's machine that never locked either: both bases pulled, the same answer.
    let fresh = dir.path().join("fresh-cache");
    let pulled = diff(dir.path(), &fresh, "json");
    assert_eq!(pulled, json);
    // `--no-base-contents` reads nothing: no registry is asked, contents is null.
    let skipped = rtlock(
        dir.path(),
        &dir.path().join("unused-cache"),
        &[
            "--offline",
            "diff",
            "old.lock",
            "new.lock",
            "--format",
            "json",
            "--no-base-contents",
        ],
    );
    let skipped: Value =
        serde_json::from_str(&succeed("diff --no-base-contents", skipped)).unwrap();
    assert!(skipped["base"]["contents"].is_null(), "{skipped:#}");
    assert!(!dir.path().join("unused-cache").join("blobs").exists());

    let markdown = diff(dir.path(), &cache, "markdown");
    assert!(
        markdown.contains(&format!(
            "<details><summary>Inside the base: apt {} added",
            added.len()
        )),
        "{markdown}"
    );
    assert!(markdown.contains("| added | `python3` |"), "{markdown}");
    let text = diff(dir.path(), &cache, "text");
    assert!(text.contains("  inside the base:\n    apt  "), "{text}");
}

/// requests' idna downgraded and urllib3 upgraded, and jq added with the two libraries
/// it needs that the python base lacks: the text and markdown a reviewer reads, pinned
/// (digests and sizes filtered, as they are the mirror's), and the JSON field by field.
#[test]
fn a_pip_upgrade_and_downgrade_and_an_apt_package_with_its_dependencies() {
    let bed = testbed();
    let index = PipIndex::start(&[
        exact("requests", &["2.32.3"]),
        exact("certifi", &["2024.8.30"]),
        exact("charset-normalizer", &["3.3.2"]),
        exact("idna", &["3.6", "3.7"]),
        exact("urllib3", &["2.2.2", "2.2.3"]),
    ]);
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    let manifest = |pip: &str, apt: &str| {
        format!(
            "[base]\nimage = \"{}\"\n[apt]\npackages = [{apt}]\n[pip]\npackages = [{pip}]\nindex-url = \"{}\"\n",
            bed.image_python,
            index.url()
        )
    };
    lock(
        dir.path(),
        &cache,
        "old",
        &manifest(r#""requests", "idna==3.7", "urllib3==2.2.2""#, ""),
    );
    lock(
        dir.path(),
        &cache,
        "new",
        &manifest(r#""requests", "idna==3.6", "urllib3==2.2.3""#, r#""jq""#),
    );
    let v: Value = serde_json::from_str(&diff(dir.path(), &cache, "json")).unwrap();
    assert!(v["base"].is_null(), "the same base: {v:#}");
    assert_eq!(
        v["pip"]["upgraded"],
        serde_json::json!([{"name": "urllib3", "from": "2.2.2", "to": "2.2.3"}])
    );
    assert_eq!(
        v["pip"]["downgraded"],
        serde_json::json!([{"name": "idna", "from": "3.7", "to": "3.6"}])
    );
    assert_eq!(v["pip"]["added"], serde_json::json!([]));
    let apt_added = v["apt"]["added"].as_array().unwrap();
    assert_eq!(
        names(&v["apt"]["added"]),
        BTreeSet::from(["jq".into(), "libjq1".into(), "libonig5".into()])
    );
    for p in apt_added {
        if p["name"] == "jq" {
            assert_eq!(p["requested"], true, "{p}");
            assert!(p.get("pulled_in_by").is_none(), "{p}");
        } else {
            assert_eq!(p["pulled_in_by"], serde_json::json!(["jq"]), "{p}");
        }
    }
    // Sizes are the locks' own.
    let new = rtlock::lockfile::Lockfile::read(&dir.path().join("new.lock")).unwrap();
    let old = rtlock::lockfile::Lockfile::read(&dir.path().join("old.lock")).unwrap();
    let sum = |l: &rtlock::lockfile::Lockfile| -> u64 {
        l.apt.iter().map(|p| p.size).sum::<u64>() + l.pip.iter().map(|p| p.size).sum::<u64>()
    };
    assert_eq!(v["apt"]["size"]["from"], 0);
    assert_eq!(
        v["apt"]["size"]["to"],
        new.apt.iter().map(|p| p.size).sum::<u64>()
    );
    assert_eq!(v["size"]["from"], sum(&old));
    assert_eq!(v["size"]["to"], sum(&new));

    let settings = {
        let mut s = insta::Settings::clone_current();
        // Download sizes are the mirror's files': they change when it does.
        s.add_filter(r"\d+(\.\d+)? (B|KiB|MiB)", "[size]");
        s.add_filter(r"\(\+\[size\]\)|\(-\[size\]\)", "([delta])");
        // So are the Debian versions (a security update of jq moves them); the pip
        // versions are the local index's, and stay.
        for p in &new.apt {
            let version = p.version.as_str();
            let escaped: String = version
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect();
            s.add_filter(&escaped, format!("[{} version]", p.name));
        }
        s
    };
    settings.bind(|| {
        insta::assert_snapshot!("bed_pip_and_apt_text", diff(dir.path(), &cache, "text"));
        insta::assert_snapshot!(
            "bed_pip_and_apt_markdown",
            diff(dir.path(), &cache, "markdown")
        );
    });
}

/// ellipsis removed from an R runtime: rlang, which only it needed, goes too; R6 stays.
#[test]
fn an_r_package_removed_with_what_only_it_needed() {
    let bed = testbed();
    let cran = CranRepo::serve();
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    let manifest = |packages: &str| {
        format!(
            "[base]\nimage = \"{}\"\n[r]\npackages = [{packages}]\nrepos = [\"{}\"]\n",
            bed.image_r,
            cran.url()
        )
    };
    lock(dir.path(), &cache, "old", &manifest(r#""R6", "ellipsis""#));
    lock(dir.path(), &cache, "new", &manifest(r#""R6""#));
    let v: Value = serde_json::from_str(&diff(dir.path(), &cache, "json")).unwrap();
    let old = rtlock::lockfile::Lockfile::read(&dir.path().join("old.lock")).unwrap();
    let version = |name: &str| {
        old.r
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("{name} not locked"))
            .version
            .to_string()
    };
    assert_eq!(
        v["r"]["removed"],
        serde_json::json!([
            {"name": "ellipsis", "version": version("ellipsis")},
            {"name": "rlang", "version": version("rlang")},
        ])
    );
    assert_eq!(v["r"]["added"], serde_json::json!([]));
    assert_eq!(v["r"]["size"]["to"], {
        let new = rtlock::lockfile::Lockfile::read(&dir.path().join("new.lock")).unwrap();
        new.r.iter().map(|p| p.size).sum::<u64>()
    });
    insta::assert_snapshot!("bed_r_removed_text", diff(dir.path(), &cache, "text"));
    insta::assert_snapshot!(
        "bed_r_removed_markdown",
        diff(dir.path(), &cache, "markdown")
    );
}
