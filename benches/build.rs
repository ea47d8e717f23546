//! `rtlock build` of a ~300 MB base against `skopeo copy` of the same image to an OCI
//! layout (the floor for moving the bytes), and a cached rebuild: wall time and peak
//! memory (`/usr/bin/time -v`), median of a few runs, printed as a table.
//!
//! Needs the test bed (`scripts/test --bed-only`): the bench makes its big base once from
//! the bed's python image plus an incompressible padding layer (umoci), and pushes it to
//! the bed's registry. Run with `cargo bench --bench build`; `RTLOCK_BENCH_RUNS` sets the
//! number of runs (default 3).
//!
//! Targets (issue 3): cold within 1.5× of skopeo, cached under 1 s, peak RSS < 200 MB.

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Padding that makes the python base (~80 MB compressed) about 300 MB.
const PADDING_MB: u64 = 220;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this target without
    // it, in a debug build whose figures would mean nothing, so only compiling is checked.
    let Some(runs) = support::runs("build", 3) else {
        return;
    };
    let env = testbed_env();
    let registry = env("RTLOCK_TEST_REGISTRY");
    let python_oci = env("RTLOCK_TEST_IMAGE_PYTHON_OCI");
    let work = tempfile::Builder::new()
        .prefix("rtlock-bench-")
        .tempdir()
        .expect("a scratch directory");
    let image = format!("{registry}/rtlock-bench/big:{PADDING_MB}m");
    ensure_big_image(&image, &python_oci, work.path());
    let size = image_size(&image);
    let lock = write_lock(work.path(), &image);
    let rtlock = env!("CARGO_BIN_EXE_rtlock");

    let mut rows = Vec::new();
    let mut n = 0;
    let mut fresh = |name: &str| {
        n += 1;
        work.path().join(format!("{name}-{n}"))
    };

    // skopeo copy: no cache, every run downloads and writes everything.
    let skopeo: Vec<Sample> = (0..runs)
        .map(|_| {
            let dest = fresh("skopeo");
            measure(Command::new("skopeo").args([
                "copy",
                "-q",
                "--src-tls-verify=false",
                &format!("docker://{image}"),
                &format!("oci:{}:bench", dest.display()),
            ]))
        })
        .collect();
    rows.push(("skopeo copy docker:// → oci: (cold)", skopeo));

    // rtlock build, cold: an empty cache each run.
    let cold: Vec<Sample> = (0..runs)
        .map(|_| {
            let (cache, dest) = (fresh("cache"), fresh("out"));
            measure(
                Command::new(rtlock)
                    .arg("--cache-dir")
                    .arg(&cache)
                    .args(["-q", "build", "-l"])
                    .arg(&lock)
                    .arg("-o")
                    .arg(format!("oci:{}:bench", dest.display())),
            )
        })
        .collect();
    rows.push(("rtlock build → oci: (cold cache)", cold));

    // rtlock build, cached: the same cache, a new layout each run.
    let cache = fresh("cache");
    let warm = |dest: PathBuf| {
        measure(
            Command::new(rtlock)
                .arg("--cache-dir")
                .arg(&cache)
                .args(["-q", "build", "-l"])
                .arg(&lock)
                .arg("-o")
                .arg(format!("oci:{}:bench", dest.display())),
        )
    };
    warm(fresh("prime"));
    let cached: Vec<Sample> = (0..runs).map(|_| warm(fresh("out"))).collect();
    rows.push(("rtlock build → oci: (cached)", cached));

    // rtlock build, cached, to an archive: every byte is read and written again.
    let archive: Vec<Sample> = (0..runs)
        .map(|_| {
            let dest = fresh("archive");
            measure(
                Command::new(rtlock)
                    .arg("--cache-dir")
                    .arg(&cache)
                    .args(["-q", "build", "-l"])
                    .arg(&lock)
                    .arg("-o")
                    .arg(format!("docker-archive:{}.tar", dest.display())),
            )
        })
        .collect();
    rows.push(("rtlock build → docker-archive: (cached)", archive));

    println!(
        "\nbase image {image}: {:.0} MB compressed; median of {runs} runs\n",
        size as f64 / 1e6
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
        "\ncold build / skopeo copy: {:.2}×",
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    /// Peak resident set, KiB.
    max_rss_kib: u64,
}

/// Runs `cmd` under `/usr/bin/time -v` (outside any proxy: the bed is local); panics
/// when it fails.
fn measure(cmd: &mut Command) -> Sample {
    let (wall, max_rss_kib) = support::time_rss(cmd.env("NO_PROXY", "127.0.0.1,localhost"));
    Sample { wall, max_rss_kib }
}

fn median(samples: &[Sample]) -> (Duration, u64) {
    let mut walls: Vec<_> = samples.iter().map(|s| s.wall).collect();
    let mut rss: Vec<_> = samples.iter().map(|s| s.max_rss_kib).collect();
    walls.sort();
    rss.sort();
    (walls[walls.len() / 2], rss[rss.len() / 2])
}

/// The bed's variables, from the environment or `.testbed/env`.
fn testbed_env() -> impl Fn(&str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(".testbed/env");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    move |key: &str| {
        std::env::var(key)
            .ok()
            .or_else(|| {
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            })
            .unwrap_or_else(|| {
                panic!("{key} is not set: start the test bed with scripts/test --bed-only")
            })
    }
}

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn inspect(image: &str, format: &str) -> Option<String> {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--format", format])
        .arg(format!("docker://{image}"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn image_size(image: &str) -> u64 {
    let raw = run(
        "skopeo inspect --raw",
        Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{image}")),
    );
    let manifest: serde_json::Value = serde_json::from_str(&raw).expect("a manifest");
    manifest["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["size"].as_u64().unwrap_or(0))
        .sum()
}

/// The python image plus a layer of `PADDING_MB` of incompressible bytes, pushed once.
fn ensure_big_image(image: &str, python_oci: &str, work: &Path) {
    if inspect(image, "{{.Digest}}").is_some() {
        return;
    }
    eprintln!("making the {PADDING_MB} MB-padded bench base {image} (once per registry)");
    let (src, tag) = python_oci.rsplit_once(':').expect("PATH:TAG");
    let layout = work.join("big-layout");
    run("cp", Command::new("cp").arg("-a").arg(src).arg(&layout));
    let bundle = work.join("big-bundle");
    let layout_ref = format!("{}:{tag}", layout.display());
    run(
        "umoci unpack",
        Command::new("umoci")
            .args(["unpack", "--image", &layout_ref])
            .arg(&bundle),
    );
    run(
        "padding",
        Command::new("sh").arg("-c").arg(format!(
            "mkdir -p {0}/rootfs/opt/padding && head -c {PADDING_MB}M /dev/urandom > {0}/rootfs/opt/padding/blob",
            bundle.display()
        )),
    );
    run(
        "umoci repack",
        Command::new("umoci")
            .args([
                "repack",
                "--image",
                &layout_ref,
                "--history.created_by",
                "bench padding",
            ])
            .arg(&bundle),
    );
    run(
        "skopeo copy",
        Command::new("skopeo")
            .args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci:{layout_ref}"))
            .arg(format!("docker://{image}")),
    );
    let _ = std::fs::remove_dir_all(&bundle);
    let _ = std::fs::remove_dir_all(&layout);
}

fn write_lock(dir: &Path, image: &str) -> PathBuf {
    let digest = inspect(image, "{{.Digest}}").expect("the bench image is in the registry");
    let path = dir.join("runtime.lock");
    std::fs::write(
        &path,
        format!(
            r#"version = 1
manifest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
source-date-epoch = 1761955200

[base]
reference = "{image}"
digest = "{digest}"
manifest = "{digest}"
platform = "linux/amd64"

[image]
env = {{ TZ = "UTC" }}
user = "8536"
"#
        ),
    )
    .expect("write the bench lock");
    path
}
