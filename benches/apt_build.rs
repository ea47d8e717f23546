//! A cold image build with graphviz and libpq5, side by side: `docker build --no-cache`
//! of `RUN apt-get update && apt-get install -y graphviz libpq5` on the test bed's
//! python base, against `rtlock build` of the lock of the same request (to
//! `docker-daemon:`, maintainer scripts run in a container): cold after `rtlock lock`
//! (the lock's cache: the .debs are downloaded, the base's files the lock read are
//! there), cold on an empty cache (base layers downloaded and read as well), and
//! cached; `rtlock lock` is timed on its own. The engine holds the base image on both
//! sides (it is pulled first).
//!
//! Needs the test bed (`scripts/test --bed-only`) and the machine's configured mirror,
//! which the base's own apt sources name. Run with
//! `cargo bench --bench apt_build -- --bench`; `RTLOCK_BENCH_RUNS` sets the repetitions.

#[allow(dead_code)]
mod support;
#[allow(dead_code)]
#[path = "../tests/common/testbed.rs"]
mod testbed;

use std::path::Path;
use std::process::Command;

const PACKAGES: [&str; 2] = ["graphviz", "libpq5"];

fn main() {
    let Some(runs) = support::runs("apt_build", 3) else {
        return;
    };
    let base = testbed::testbed().image_python.clone();
    // Both sides start from an engine that has the base: `docker build` needs it there
    // (it would pull it first), and rtlock then sends only its own layers.
    let pulled = Command::new("docker").args(["pull", "-q", &base]).output();
    assert!(
        pulled.as_ref().is_ok_and(|o| o.status.success()),
        "docker pull {base} failed: {pulled:?}"
    );
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    std::fs::write(
        dir.join("runtime.toml"),
        format!("[base]\nimage = \"{base}\"\n\n[apt]\npackages = {PACKAGES:?}\n",),
    )
    .unwrap();

    let mut lock_cold = Vec::new();
    let mut build_cold = Vec::new();
    let mut build_cached = Vec::new();
    let mut build_empty = Vec::new();
    for run in 0..runs {
        let cache = dir.join(format!("cache-{run}"));
        let _ = std::fs::remove_file(dir.join("runtime.lock"));
        lock_cold.push(support::time(rtlock(dir, &cache, &["lock"])));
        let tag = format!("docker-daemon:rtlock-bench/apt:{run}");
        build_cold.push(support::time(rtlock(dir, &cache, &["build", "-o", &tag])));
        build_cached.push(support::time(rtlock(dir, &cache, &["build", "-o", &tag])));
        let _ = Command::new("docker")
            .args(["rmi", &format!("rtlock-bench/apt:{run}")])
            .output();
        let _ = std::fs::remove_dir_all(&cache);
        build_empty.push(support::time(rtlock(dir, &cache, &["build", "-o", &tag])));
        let _ = Command::new("docker")
            .args(["rmi", &format!("rtlock-bench/apt:{run}")])
            .output();
        let _ = std::fs::remove_dir_all(&cache);
    }

    let context = dir.join("docker");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {base}\nRUN apt-get update && apt-get install -y {}\n",
            PACKAGES.join(" ")
        ),
    )
    .unwrap();
    let mut docker = Vec::new();
    for _ in 0..runs {
        let mut cmd = Command::new("docker");
        cmd.args(["build", "--no-cache", "-q", "-t", "rtlock-bench/docker-apt"])
            .arg(&context);
        docker.push(support::time(cmd));
    }
    let _ = Command::new("docker")
        .args(["rmi", "rtlock-bench/docker-apt"])
        .output();

    let docker = support::median(&mut docker);
    println!("graphviz + libpq5 on the python base, median of {runs}:");
    println!("  docker build --no-cache (apt-get update + install) {docker:>7.2} s");
    for (name, times) in [
        (
            "rtlock build after lock (downloads included)",
            &mut build_cold,
        ),
        ("rtlock build, empty cache", &mut build_empty),
        ("rtlock build, cached", &mut build_cached),
        ("rtlock lock, cold cache (for reference)", &mut lock_cold),
    ] {
        let t = support::median(times);
        println!("  {name:<48} {t:>7.2} s  ({:.2}x docker build)", t / docker);
    }
}

fn rtlock(dir: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    cmd.current_dir(dir)
        .arg("-q")
        .arg("--cache-dir")
        .arg(cache)
        .args(args);
    cmd
}
