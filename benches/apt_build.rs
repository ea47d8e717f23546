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

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const PACKAGES: [&str; 2] = ["graphviz", "libpq5"];

fn main() {
    // `cargo test --all-targets` runs this target without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/apt_build.rs measures only under `cargo bench --bench apt_build`");
        return;
    }
    let runs: usize = std::env::var("RTLOCK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let base = testbed_value("RTLOCK_TEST_IMAGE_PYTHON");
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
        lock_cold.push(time(rtlock(dir, &cache, &["lock"])));
        let tag = format!("docker-daemon:rtlock-bench/apt:{run}");
        build_cold.push(time(rtlock(dir, &cache, &["build", "-o", &tag])));
        build_cached.push(time(rtlock(dir, &cache, &["build", "-o", &tag])));
        let _ = Command::new("docker")
            .args(["rmi", &format!("rtlock-bench/apt:{run}")])
            .output();
        let _ = std::fs::remove_dir_all(&cache);
        build_empty.push(time(rtlock(dir, &cache, &["build", "-o", &tag])));
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
        docker.push(time(cmd));
    }
    let _ = Command::new("docker")
        .args(["rmi", "rtlock-bench/docker-apt"])
        .output();

    let docker = median(&mut docker);
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
        let t = median(times);
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

/// Runs `cmd` to success and returns how long it took. The disk is synced first, so
/// that what an earlier run left to write or delete (its images are removed between
/// runs) is not charged to this one.
fn time(mut cmd: Command) -> Duration {
    let _ = Command::new("sync").status();
    let started = Instant::now();
    let out = cmd.output().expect("the command runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

/// A value of the test bed's `.testbed/env` (the environment wins).
fn testbed_value(key: &str) -> String {
    if let Ok(value) = std::env::var(key) {
        return value;
    }
    let env = Path::new(env!("CARGO_MANIFEST_DIR")).join(".testbed/env");
    let text = std::fs::read_to_string(&env).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; start the bed with scripts/test --bed-only",
            env.display()
        )
    });
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} is not in {}", env.display()))
        .to_string()
}
