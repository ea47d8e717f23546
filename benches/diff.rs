//! `rtlock diff` of two locks of 500 packages each (300 apt, 150 pip, 50 R) whose base
//! moved from the bed's python image to its R image, with the base contents (both
//! images' dpkg, Python and R inventories) compared: what a reviewer runs on a pull
//! request that bumps a runtime. Between the two, spread over the ecosystems by their
//! size: about 20 packages removed, 20 added (each pulled in by a requested package, so
//! `pulled in by` is searched), 40 upgraded and 10 downgraded.
//!
//! Warm cache (the base facts of both images read by a first run), median of
//! `RTLOCK_BENCH_RUNS` runs (default 5), text and markdown. Target (issue 14): under
//! 300 ms. Needs the test bed (`scripts/test --bed-only`). Run with
//! `cargo bench --bench diff`.

// tests/common/mod.rs allows dead code itself.
#[path = "../tests/common/mod.rs"]
mod common;

#[allow(dead_code)]
mod support;

use std::fmt::Write as _;
use std::process::Command;

use common::testbed::{lock_header, testbed};

const APT: usize = 300;
const PIP: usize = 150;
const R: usize = 50;

fn main() {
    let Some(runs) = support::runs("diff", 5) else {
        return;
    };
    let bed = testbed();
    let work = tempfile::tempdir().unwrap();
    let old = work.path().join("old.lock");
    let new = work.path().join("new.lock");
    std::fs::write(&old, lock(&bed.image_python, Side::Old)).unwrap();
    std::fs::write(&new, lock(&bed.image_r, Side::New)).unwrap();
    let cache = work.path().join("cache");
    let rtlock = env!("CARGO_BIN_EXE_rtlock");
    let diff = |format: &str| {
        let mut cmd = Command::new(rtlock);
        cmd.env("NO_PROXY", "127.0.0.1,localhost")
            .arg("--cache-dir")
            .arg(&cache)
            .args(["-q", "diff"])
            .arg(&old)
            .arg(&new)
            .args(["--format", format]);
        cmd
    };
    // The first run reads both bases; it must show what changed inside them.
    let (_, shown) = support::time_output(diff("text"));
    assert!(
        shown.contains("r-base-core"),
        "the base contents are compared:\n{shown}"
    );
    println!(
        "\ntwo locks of {} packages each, the base bumped; warm cache, median of {runs}:\n",
        APT + PIP + R
    );
    println!("| format | wall time | peak RSS |");
    println!("|---|---:|---:|");
    for format in ["text", "markdown", "json"] {
        let mut samples: Vec<_> = (0..runs)
            .map(|_| support::time_rss(&diff(format)))
            .collect();
        samples.sort();
        let (time, rss) = samples[samples.len() / 2];
        println!(
            "| {format} | {:.0} ms | {:.0} MB |",
            time.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0
        );
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Old,
    New,
}

/// What package `i` of an ecosystem of `n` is on `side`: its version's last number, or
/// `None` when it is not there. The first 20 exist only in the old lock, the last 20 only
/// in the new one (required by package 20); 20..60 are upgraded, 60..70 downgraded.
fn version(i: usize, n: usize, side: Side) -> Option<usize> {
    let share = |k: usize| k * n / (APT + PIP + R).max(1) + 1;
    let (removed, added, up, down) = (share(20), share(20), share(40), share(10));
    match side {
        Side::Old if i >= n - added => None,
        Side::New if i < removed => None,
        Side::New if (removed..removed + up).contains(&i) => Some(3),
        Side::New if (removed + up..removed + up + down).contains(&i) => Some(1),
        Side::Old if (removed + up..removed + up + down).contains(&i) => Some(3),
        _ => Some(2),
    }
}

fn hex(seed: usize) -> String {
    format!("{seed:064x}")
}

fn lock(image: &str, side: Side) -> String {
    let mut text = lock_header(image, 1_761_955_200);
    // Package `i` requires `i + 1` within its ecosystem; every tenth is requested.
    let requires = |i: usize, n: usize, prefix: &str, side: Side| -> String {
        match (i + 1 < n)
            .then_some(i + 1)
            .filter(|j| version(*j, n, side).is_some())
        {
            Some(j) => format!("[\"{prefix}{j}\"]"),
            None => "[]".to_string(),
        }
    };
    for i in 0..APT {
        let Some(v) = version(i, APT, side) else {
            continue;
        };
        let name = format!("libbench{i}");
        let file = format!("{name}_1.{v}-1_amd64.deb");
        let _ = write!(
            text,
            "\n[[apt]]\nname = \"{name}\"\nversion = \"1.{v}-1\"\narch = \"amd64\"\n\
             url = \"http://127.0.0.1:9/debian/pool/main/l/{name}/{file}\"\n\
             filename = \"pool/main/l/{name}/{file}\"\nsha256 = \"{}\"\nsize = {}\n\
             requested = {}\nrequires = {}\n",
            hex(i * 10 + v),
            1000 + i * v,
            i % 10 == 0,
            requires(i, APT, "libbench", side)
        );
    }
    for i in 0..PIP {
        let Some(v) = version(i, PIP, side) else {
            continue;
        };
        let name = format!("bench-{i}");
        let file = format!("bench_{i}-1.{v}-py3-none-any.whl");
        let _ = write!(
            text,
            "\n[[pip]]\nname = \"{name}\"\nversion = \"1.{v}\"\nfile = \"{file}\"\n\
             url = \"http://127.0.0.1:9/files/{file}\"\nsha256 = \"{}\"\nsize = {}\n\
             requested = {}\nrequires = {}\n",
            hex(100_000 + i * 10 + v),
            2000 + i * v,
            i % 10 == 0,
            requires(i, PIP, "bench-", side)
        );
    }
    for i in 0..R {
        let Some(v) = version(i, R, side) else {
            continue;
        };
        let name = format!("bench{i}");
        let _ = write!(
            text,
            "\n[[r]]\nname = \"{name}\"\nversion = \"1.{v}\"\nkind = \"source\"\n\
             url = \"http://127.0.0.1:9/src/contrib/{name}_1.{v}.tar.gz\"\nsha256 = \"{}\"\n\
             size = {}\nrequested = {}\nrequires = {}\n",
            hex(200_000 + i * 10 + v),
            3000 + i * v,
            i % 10 == 0,
            requires(i, R, "bench", side)
        );
    }
    text
}
