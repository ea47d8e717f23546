//! Locking the 12-package data-science set (pandas, scikit-learn, matplotlib, seaborn,
//! pyarrow, xgboost, statsmodels, plotly, sqlalchemy, psycopg2-binary, boto3,
//! jupyterlab; about 120 pins) side by side with uv, in the same run, on the same
//! index (the machine's configured one) with the same `as-of` / `--exclude-newer`:
//!
//! - `rtlock lock` on the test bed's python image (CPython 3.11.2, glibc 2.36, x86_64),
//!   cold (an empty `--cache-dir`: index pages, metadata and the base image fetched) and
//!   warm (`--offline` with that cache), and cold once more with only the base image
//!   already cached (what the pip part costs, apart from reading the image);
//! - `uv pip compile` for the same Python and platform (`x86_64-manylinux_2_36`, the base's
//!   distributions as constraints), cold (an empty `--cache-dir`) and warm (`--offline`);
//!   and once more for `x86_64-manylinux_2_28`, the target of the uv figures.
//!
//! Median of `RTLOCK_BENCH_RUNS` runs (default 3). Target (issue 5): rtlock no slower
//! than uv, cold and warm. Needs the test bed (`scripts/test --bed-only`) and the
//! network. Run with `cargo bench --bench pip_lock`.

#[allow(dead_code)]
#[path = "../tests/common/testbed.rs"]
mod testbed;
#[allow(dead_code)]
#[path = "../tests/common/uv.rs"]
mod uv;

#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PACKAGES: [&str; 12] = uv::TWELVE_PACKAGES;

const AS_OF: &str = "2025-06-01T00:00:00Z";

fn main() {
    let Some(runs) = support::runs("pip_lock", 3) else {
        return;
    };
    let bed = testbed::testbed();
    let index = uv::configured_index();
    let base = uv::base_distributions(&bed.image_python);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    // By digest: the warm run is `--offline`, and only the registry resolves a tag.
    let base_section = format!(
        "[base]\nimage = \"{}@{}\"\n",
        bed.image_python,
        testbed::registry_digest(&bed.image_python)
    );
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "{base_section}\n[pip]\npackages = {PACKAGES:?}\nindex-url = \"{index}\"\n\n\
             [lock]\nas-of = \"{AS_OF}\"\n"
        ),
    )
    .unwrap();
    // The base alone: locking it fills a cache with the base image and its Python facts,
    // so that the pip part's cold cost can be told apart from reading the image.
    uv::uv();

    println!(
        "{} packages, as of {AS_OF}, CPython 3.11 x86_64; median of {runs}:",
        PACKAGES.len()
    );
    println!("  {:<40} {:>9} {:>9} {:>6}", "", "cold", "warm", "pins");
    // uv first, so that its figures are printed even when rtlock fails.
    for platform in [uv::PYTHON_PLATFORM, "x86_64-manylinux_2_28"] {
        let (mut cold, mut warm, mut pins) = (Vec::new(), Vec::new(), 0);
        for run in 0..runs {
            let cache = dir.join(format!("uv-cache-{platform}-{run}"));
            let scratch = tempfile::tempdir().unwrap();
            let compile = uv::Compile::new(&index, AS_OF)
                .constraints(&base)
                .platform(platform);
            let cold_cmd = compile.clone().cache_dir(&cache, false);
            cold.push(support::time(cold_cmd.command(&PACKAGES, scratch.path())));
            let warm_cmd = compile.cache_dir(&cache, true);
            let (took, stdout) = support::time_output(warm_cmd.command(&PACKAGES, scratch.path()));
            warm.push(took);
            pins = uv::parse_pins(&stdout).len();
            let _ = std::fs::remove_dir_all(&cache);
        }
        row(
            &format!("uv pip compile ({platform})"),
            &mut cold,
            &mut warm,
            pins,
        );
    }

    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    let (mut pip_cold, mut pip_warm) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let cache = dir.join(format!("rtlock-cache-{run}"));
        cold.push(support::time(rtlock(dir, &cache, false)));
        warm.push(support::time(rtlock(dir, &cache, true)));
        // Keep only what rtlock read of the base image (`base-files/`): the pip part cold.
        for entry in std::fs::read_dir(&cache).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n != "base-files") {
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
        pip_cold.push(support::time(rtlock(dir, &cache, false)));
        pip_warm.push(support::time(rtlock(dir, &cache, true)));
        let _ = std::fs::remove_dir_all(&cache);
    }
    let lock = std::fs::read_to_string(dir.join("runtime.lock")).unwrap();
    let pins = lock.matches("\n[[pip]]\n").count();
    row("rtlock lock (empty cache)", &mut cold, &mut warm, pins);
    row(
        "rtlock lock (base cached, pip cold)",
        &mut pip_cold,
        &mut pip_warm,
        pins,
    );
}

fn row(name: &str, cold: &mut [Duration], warm: &mut [Duration], pins: usize) {
    println!(
        "  {name:<40} {:>7.2} s {:>7.2} s {pins:>6}",
        support::median(cold),
        support::median(warm)
    );
}

/// `rtlock lock` in `dir` with `cache`; `offline` for the warm run. The previous lock is
/// removed first: with one, rtlock keeps its pins (as `lock` does for a team), which uv
/// has no equivalent of here.
fn rtlock(dir: &Path, cache: &Path, offline: bool) -> Command {
    let _ = std::fs::remove_file(dir.join("runtime.lock"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    cmd.current_dir(dir)
        .envs(testbed::testbed().env())
        .arg("-q")
        .arg("--cache-dir")
        .arg(cache);
    if offline {
        cmd.arg("--offline");
    }
    cmd.arg("lock");
    cmd
}
