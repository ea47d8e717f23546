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
