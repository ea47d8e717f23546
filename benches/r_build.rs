//! The R layer of ggplot2 + dplyr + shiny (55 binary packages) on the test bed's R base,
//! side by side: `docker build --no-cache --network host` of
//! `Rscript -e 'install.packages(…)'` from the bed's CRAN-like repository served on
//! 127.0.0.1, against `rtlock build -o docker-daemon:` of a lock of the same packages:
//! cold (empty cache: base layers and tarballs downloaded) and with the downloads cached
//! but no layer cache. rtlock's peak RSS comes from `/usr/bin/time -v`.
//!
//! Target (issue 13): under a third of docker build, peak memory under 200 MB. Needs the
//! test bed (`scripts/test --bed-only`). Run with `cargo bench --bench r_build`;
//! `RTLOCK_BENCH_RUNS` sets the repetitions (default 3).

// tests/common/mod.rs allows dead code itself.
#[path = "../tests/common/mod.rs"]
mod common;

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::cran::{CranRepo, pull};
use common::testbed::{registry_digest, testbed};

const PACKAGES: [&str; 3] = ["ggplot2", "dplyr", "shiny"];

fn main() {
    let Some(runs) = support::runs("r_build", 3) else {
        return;
    };
    let bed = testbed();
    let repo = CranRepo::serve();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let image = format!("{}@{}", bed.image_r, registry_digest(&bed.image_r));
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "[base]\nimage = \"{image}\"\n\n[r]\npackages = {PACKAGES:?}\nrepos = [\"{}\"]\n",
            repo.url()
        ),
    )
    .unwrap();
    let locked = Command::new(env!("CARGO_BIN_EXE_rtlock"))
        .current_dir(dir)
        .envs(bed.env())
        .args(["-q", "--cache-dir"])
        .arg(dir.join("lock-cache"))
        .arg("lock")
        .output()
        .unwrap();
    assert!(
        locked.status.success(),
        "rtlock lock failed: {}",
        String::from_utf8_lossy(&locked.stderr)
    );
    let lock = std::fs::read_to_string(dir.join("runtime.lock")).unwrap();
    let count = lock.matches("\n[[r]]\n").count();
    let binaries = lock.matches("kind = \"binary\"").count();
    pull(&bed.image_r);

    let (mut cold, mut downloaded, mut peak_kb) = (Vec::new(), Vec::new(), 0u64);
    for run in 0..runs {
        let cache = dir.join(format!("cache-{run}"));
        let tag = format!("docker-daemon:rtlock-bench/r:{run}");
        let (took, rss) = rtlock_build(dir, &cache, &tag);
        cold.push(took);
        peak_kb = peak_kb.max(rss);
        std::fs::remove_dir_all(cache.join("layers")).unwrap();
        let (took, rss) = rtlock_build(dir, &cache, &tag);
        downloaded.push(took);
        peak_kb = peak_kb.max(rss);
        let _ = Command::new("docker")
            .args(["rmi", &format!("rtlock-bench/r:{run}")])
            .output();
        let _ = std::fs::remove_dir_all(&cache);
    }

    let context = dir.join("docker");
    std::fs::create_dir_all(&context).unwrap();
    let wanted: Vec<String> = PACKAGES.iter().map(|p| format!("'{p}'")).collect();
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            // Ncpus stays 1: with more, install.packages runs `make`, which an R base
            // without r-base-dev lacks (every install then fails, and the build still
            // succeeds: install.packages only warns).
            "FROM {}\nRUN Rscript -e \"install.packages(c({}), repos = '{}')\"\n",
            bed.image_r,
            wanted.join(", "),
            repo.url()
        ),
    )
    .unwrap();
    let mut docker = Vec::new();
    for _ in 0..runs {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", &bed.docker_host)
            .args(["build", "--no-cache", "--network", "host", "-q"])
            .args(["-t", "rtlock-bench/docker-r"])
            .arg(&context);
        docker.push(support::time(cmd));
    }
    // The baseline counts only if it installed what rtlock installs (its own loading may
    // fail: the base lacks system libraries, such as httpuv's libuv, which rtlock adds).
    let check = format!(
        "missing <- Filter(function(p) system.file(package = p) == '', c({})); \
         if (length(missing)) stop('not installed: ', paste(missing, collapse = ' '))",
        wanted.join(", ")
    );
    let installed = Command::new("docker")
        .env("DOCKER_HOST", &bed.docker_host)
        .args(["run", "--rm", "--network", "none", "rtlock-bench/docker-r"])
        .args(["Rscript", "-e", &check])
        .output()
        .expect("docker run");
    assert!(
        installed.status.success(),
        "the docker build's install.packages did not install everything: {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let _ = Command::new("docker")
        .args(["rmi", "rtlock-bench/docker-r"])
        .output();

    let docker = support::median(&mut docker);
    println!("{count} R packages ({binaries} binaries) on the R base, median of {runs}:");
    println!(
        "  {:<55} {docker:>7.2} s",
        "docker build --no-cache (install.packages)"
    );
    for (name, times) in [
        ("rtlock build, cold cache (downloads included)", &mut cold),
        (
            "rtlock build, tarballs downloaded, no layer cache",
            &mut downloaded,
        ),
    ] {
        let t = support::median(times);
        println!("  {name:<55} {t:>7.2} s  ({:.2}x docker build)", t / docker);
    }
    println!("  rtlock peak RSS {:.0} MB", peak_kb as f64 / 1024.0);
}

/// `rtlock build` under `/usr/bin/time -v`: how long it took and its peak RSS in kB.
fn rtlock_build(dir: &Path, cache: &Path, destination: &str) -> (Duration, u64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    cmd.current_dir(dir)
        .envs(testbed().env())
        .args(["-q", "--cache-dir"])
        .arg(cache)
        .args(["build", "-o", destination]);
    support::time_rss(&cmd)
}
