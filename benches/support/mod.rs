//! What the benches share: the `--bench` guard with the repetition count, and timing
//! of commands. Each bench includes it with `mod support;`.

use std::process::Command;
use std::time::{Duration, Instant};

/// The repetitions a bench runs (`RTLOCK_BENCH_RUNS`, else `default`), or `None` when
/// the target runs without `--bench`: `cargo test --all-targets` runs benches too, and
/// they must measure nothing then.
pub fn runs(name: &str, default: usize) -> Option<usize> {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/{name}.rs measures only under `cargo bench --bench {name}`");
        return None;
    }
    Some(
        std::env::var("RTLOCK_BENCH_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Runs `cmd` to success and returns how long it took, with its standard output. The
/// disk is synced first, so that what an earlier run left to write or delete (images
/// removed between runs) is not charged to this one.
pub fn time_output(mut cmd: Command) -> (Duration, String) {
    let _ = Command::new("sync").status();
    let started = Instant::now();
    let out = cmd.output().expect("the command runs");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// [`time_output`] without the output.
pub fn time(cmd: Command) -> Duration {
    time_output(cmd).0
}

/// The median, in seconds.
pub fn median(times: &mut [Duration]) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64()
}

/// Runs `cmd` to success under `/usr/bin/time -v` (the disk synced first): how long it
/// took and its peak resident set in KiB.
pub fn time_rss(cmd: &Command) -> (Duration, u64) {
    let _ = Command::new("sync").status();
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(
            cmd.get_current_dir()
                .unwrap_or_else(|| std::path::Path::new(".")),
        )
        .output()
        .expect("/usr/bin/time (apt-get install time)");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
    let kib = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("/usr/bin/time -v reports the peak RSS");
    (took, kib)
}
