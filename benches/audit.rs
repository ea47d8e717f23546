//! `rtlock audit` of an image of more than 1 GB, side by side in one run with what one
//! would do without it: `umoci unpack` of the same OCI layout, and that unpack followed
//! by a walk that hashes what audit hashes (`md5sum -c` of every dpkg `*.md5sums` list,
//! the files of every package; the base's Python distributions are Debian's, which
//! have no RECORD, so dpkg's lists are all there is to check).
//!
//! The image: the bed's python image plus one layer of copies of its own `/usr`
//! (many small files, as real runtimes have, about 1.2 GB unpacked), made once and kept
//! in the bed's cache. The lock names the bed's python image as its base and adds
//! nothing, so the audit is a match that reads every layer and hashes every file of
//! every dpkg package. rtlock's base facts are read once before the timed runs (a warm
//! cache, as on an operator's machine after the first audit).
//!
//! Median of `RTLOCK_BENCH_RUNS` runs (default 3); wall time and peak RSS
//! (`/usr/bin/time -v`). Targets (issue 14): audit faster than the unpack alone, peak
//! RSS under 200 MB. Needs the test bed (`scripts/test --bed-only`). Run with
//! `cargo bench --bench audit`.

// tests/common/mod.rs allows dead code itself.
#[path = "../tests/common/mod.rs"]
mod common;

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::testbed::{lock_header, ok, testbed};

/// How many copies of the python image's `/usr` the extra layer holds.
const COPIES: usize = 6;

fn main() {
    let Some(runs) = support::runs("audit", 3) else {
        return;
    };
    let bed = testbed();
    let layout = big_layout(&bed.image_python_oci);
    let unpacked = du(&layout.unpacked_size_from);
    let work = tempfile::Builder::new()
        .prefix("rtlock-bench-audit-")
        .tempdir()
        .expect("a scratch directory");
    let lock = write_lock(work.path(), &bed.image_python);
    let cache = work.path().join("cache");
    let rtlock = env!("CARGO_BIN_EXE_rtlock");
    let source = format!("oci:{}:big", layout.dir.display());
    let audit = || {
        let mut cmd = Command::new(rtlock);
        cmd.env("NO_PROXY", "127.0.0.1,localhost")
            .arg("--cache-dir")
            .arg(&cache)
            .args(["-q", "audit", &source, "--format", "json", "-l"])
            .arg(&lock);
        cmd
    };
    // The base facts, once; and the audit must be a match, or it measured nothing.
    let first = audit().output().expect("rtlock audit runs");
    let report: serde_json::Value = serde_json::from_slice(&first.stdout)
        .unwrap_or_else(|_| panic!("audit failed: {}", String::from_utf8_lossy(&first.stderr)));
    assert_eq!(report["status"], "match", "{report:#}");
    let files = report["checked"]["apt"]["files"].as_u64().unwrap_or(0);

    let mut rows: Vec<(&str, Vec<(Duration, u64)>)> = Vec::new();
    let mut unpack_only = Vec::new();
    let mut unpack_hash = Vec::new();
    let mut audits = Vec::new();
    for run in 0..runs {
        let bundle = work.path().join(format!("bundle-{run}"));
        let mut unpack = Command::new("umoci");
        unpack
            .args(["unpack", "--image"])
            .arg(format!("{}:big", layout.dir.display()))
            .arg(&bundle);
        let unpacked_at = support::time_rss(&unpack);
        let mut hash = Command::new("sh");
        hash.arg("-c")
            .arg("cd \"$1/rootfs\" && cat var/lib/dpkg/info/*.md5sums | md5sum -c --quiet")
            .arg("sh")
            .arg(&bundle);
        let hashed = support::time_rss(&hash);
        unpack_only.push(unpacked_at);
        unpack_hash.push((unpacked_at.0 + hashed.0, unpacked_at.1.max(hashed.1)));
        remove(&bundle);
        audits.push(support::time_rss(&audit()));
    }
    rows.push(("umoci unpack", unpack_only));
    rows.push(("umoci unpack + md5sum -c of every dpkg list", unpack_hash));
    rows.push(("rtlock audit (layers streamed, files hashed)", audits));

    println!(
        "\nimage: the bed's python image + {COPIES} copies of its /usr, {:.2} GB unpacked; \
         {files} dpkg files hashed by audit; median of {runs} runs\n",
        unpacked as f64 / 1e9
    );
    println!("| what | wall time | peak RSS |");
    println!("|---|---:|---:|");
    let mut medians = Vec::new();
    for (name, samples) in &rows {
        let (time, rss) = median(samples);
        medians.push(time);
        println!(
            "| {name} | {:.2} s | {:.0} MB |",
            time.as_secs_f64(),
            rss as f64 / 1024.0
        );
    }
    println!(
        "\naudit / unpack alone: {:.2}×",
        medians[2].as_secs_f64() / medians[0].as_secs_f64()
    );
}

fn median(samples: &[(Duration, u64)]) -> (Duration, u64) {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    let mut rss: Vec<u64> = samples.iter().map(|s| s.1).collect();
    walls.sort();
    rss.sort();
    (walls[walls.len() / 2], rss[rss.len() / 2])
}

struct BigLayout {
    dir: PathBuf,
    /// A directory whose size is the unpacked image's (the bundle it was made from).
    unpacked_size_from: PathBuf,
}

/// The big image's OCI layout, tag `big`, made once under the bed's cache.
fn big_layout(python_oci: &str) -> BigLayout {
    let cache = std::env::var("RTLOCK_TESTBED_CACHE")
        .unwrap_or_else(|_| "/var/cache/rtlock-testbed".to_string());
    let root = Path::new(&cache).join(format!("bench/audit-{COPIES}-copies"));
    let dir = root.join("oci");
    let rootfs = root.join("bundle/rootfs");
    if root.join("done").exists() {
        return BigLayout {
            dir,
            unpacked_size_from: rootfs,
        };
    }
    eprintln!("making the bench image in {} (once)", root.display());
    remove(&root);
    std::fs::create_dir_all(&root).unwrap();
    let (src, tag) = python_oci.rsplit_once(':').expect("PATH:TAG");
    sh("cp", &format!("cp -a '{src}' '{}'", dir.display()));
    let image = format!("{}:{tag}", dir.display());
    let bundle = root.join("bundle");
    sh(
        "umoci unpack",
        &format!("umoci unpack --image '{image}' '{}'", bundle.display()),
    );
    for n in 0..COPIES {
        sh(
            "copy /usr",
            &format!(
                "mkdir -p '{0}/opt/copies' && cp -a '{0}/usr' '{0}/opt/copies/usr-{n}'",
                rootfs.display()
            ),
        );
    }
    sh(
        "umoci repack",
        &format!(
            "umoci repack --image '{image}' --history.created_by 'bench copies' '{}' && \
             umoci tag --image '{image}' big",
            bundle.display()
        ),
    );
    std::fs::write(root.join("done"), b"").unwrap();
    BigLayout {
        dir,
        unpacked_size_from: rootfs,
    }
}

/// The lock of `image` (the bed's python image) with nothing added.
fn write_lock(dir: &Path, image: &str) -> PathBuf {
    let path = dir.join("runtime.lock");
    std::fs::write(&path, lock_header(image, 1_761_955_200)).unwrap();
    path
}

fn du(path: &Path) -> u64 {
    let out = ok(
        "du",
        Command::new("du")
            .args(["-sb"])
            .arg(path)
            .output()
            .expect("du"),
    );
    out.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn sh(what: &str, script: &str) {
    ok(
        what,
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh"),
    );
}

fn remove(path: &Path) {
    let _ = Command::new("rm").arg("-rf").arg(path).status();
}
