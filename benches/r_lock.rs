//! Locking ggplot2 + dplyr + shiny (about 70 packages) against the test bed's CRAN-like
//! repository and R base image, side by side with the same resolution done by R itself,
//! in the same run:
//!
//! - `rtlock lock` on debian-r, cold (an empty `--cache-dir`: the base image, PACKAGES
//!   and every tarball fetched — rtlock downloads each tarball, since the lock pins its
//!   sha256) and warm (the same cache, the previous lock removed so nothing is kept);
//! - R: `available.packages()` + `tools::package_dependencies(…, recursive = TRUE)` in a
//!   container of debian-r, timed inside R (`system.time`, so the container's start is
//!   not charged to R), first call (cold: R fetches PACKAGES) and second call in the same
//!   session (warm: R's per-session cache of PACKAGES). R downloads no tarball there, so
//!   R does less work than rtlock; a second row adds `download.packages` of the same
//!   tarballs (what rtlock must do to pin their sha256), and the whole container run
//!   (docker run, R's start and both resolutions, the download left out) is printed
//!   apart.
//!
//! Median of `RTLOCK_BENCH_RUNS` runs (default 3). Target (issue 13): rtlock faster than
//! R, cold and warm. Needs the test bed (`scripts/test --bed-only`). Run with
//! `cargo bench --bench r_lock`.

// tests/common/mod.rs allows dead code itself.
#[path = "../tests/common/mod.rs"]
mod common;

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cran::{CranRepo, pull, rscript};
use common::testbed::{registry_digest, testbed};

const PACKAGES: [&str; 3] = ["ggplot2", "dplyr", "shiny"];

fn main() {
    let Some(runs) = support::runs("r_lock", 3) else {
        return;
    };
    let bed = testbed();
    let repo = CranRepo::serve();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}@{}\"\n\n[r]\npackages = {PACKAGES:?}\nrepos = [\"{}\"]\n",
            bed.image_r,
            registry_digest(&bed.image_r),
            repo.url()
        ),
    )
    .unwrap();
    pull(&bed.image_r);

    println!("{PACKAGES:?} on R 4.2.2; median of {runs}:");
    println!("  {:<44} {:>9} {:>9} {:>6}", "", "cold", "warm", "pins");

    // R first, so that its figures are printed even when rtlock fails.
    let code = r#"
        a <- commandArgs(TRUE); repo <- a[1]; pkgs <- a[-1]
        resolve <- function() {
            db <- available.packages(repos = repo)
            d <- tools::package_dependencies(pkgs, db = db,
                which = c("Depends", "Imports", "LinkingTo"), recursive = TRUE)
            all <- union(pkgs, unlist(d, use.names = FALSE))
            setdiff(all, rownames(installed.packages()))
        }
        cold <- system.time(n <- resolve())[["elapsed"]]
        warm <- system.time(resolve())[["elapsed"]]
        dir <- tempfile(); dir.create(dir)
        fetched <- system.time(download.packages(n, destdir = dir, repos = repo,
            quiet = TRUE))[["elapsed"]]
        cat(cold, warm, length(n), fetched, "\n")
    "#;
    let (mut r_cold, mut r_warm, mut r_total, mut r_pins) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let (mut r_fetch_cold, mut r_fetch_warm) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let mut args = vec![repo.url().to_string()];
        args.extend(PACKAGES.iter().map(|p| p.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = Instant::now();
        let out = rscript(&bed.image_r, true, code, &args);
        let total = started.elapsed();
        assert!(
            out.status.success(),
            "R failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        let seconds = |i: usize| Duration::from_secs_f64(fields[i].parse().unwrap());
        r_cold.push(seconds(0));
        r_warm.push(seconds(1));
        r_pins = fields[2].parse().unwrap();
        r_fetch_cold.push(seconds(0) + seconds(3));
        r_fetch_warm.push(seconds(1) + seconds(3));
        // The container run as before the download was added to it.
        r_total.push(total.saturating_sub(seconds(3)));
    }
    row(
        "R: available.packages + package_dependencies",
        &mut r_cold,
        &mut r_warm,
        r_pins,
    );
    // What rtlock's lock does of R's work: it downloads every tarball to pin its sha256
    // (R has no cache of tarballs, so warm downloads them again).
    row(
        "R: the same + download.packages of the pins",
        &mut r_fetch_cold,
        &mut r_fetch_warm,
        r_pins,
    );
    println!(
        "  {:<44} {:>7.2} s   (docker run + R start + both resolutions)",
        "R: whole container run",
        support::median(&mut r_total)
    );

    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let cache = dir.join(format!("rtlock-cache-{run}"));
        cold.push(support::time(rtlock(dir, &cache)));
        warm.push(support::time(rtlock(dir, &cache)));
        let _ = std::fs::remove_dir_all(&cache);
    }
    let lock = std::fs::read_to_string(dir.join("runtime.lock")).unwrap();
    let pins = lock.matches("\n[[r]]\n").count();
    row("rtlock lock", &mut cold, &mut warm, pins);
}

fn row(name: &str, cold: &mut [Duration], warm: &mut [Duration], pins: usize) {
    println!(
        "  {name:<44} {:>7.2} s {:>7.2} s {pins:>6}",
        support::median(cold),
        support::median(warm)
    );
}

/// `rtlock lock` in `dir` with `cache`, the previous lock removed (so no pin is kept).
fn rtlock(dir: &Path, cache: &Path) -> Command {
    let _ = std::fs::remove_file(dir.join("runtime.lock"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    cmd.current_dir(dir)
        .envs(testbed().env())
        .arg("-q")
        .arg("--cache-dir")
        .arg(cache)
        .arg("lock");
    cmd
}
