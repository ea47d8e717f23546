//! Time to make and write the apt layer: reading the base's dpkg database and directory
//! structure, unpacking real `.deb` files onto it, and writing the gzip layer. Together
//! that is most of a cold `build` of an apt-only lock once the files are downloaded.
//!
//! The base is the test bed's python image (its OCI layout, from `.testbed/env` or
//! `RTLOCK_TEST_IMAGE_PYTHON_OCI`; start the bed with `scripts/test --bed-only`); the
//! packages are downloaded at bench time with `apt-get download` from this machine's
//! configured mirror. Run with `cargo bench --bench apt_layer`; `RTLOCK_BENCH_RUNS` sets
//! the repetitions.

#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use rtlock::apt::install::{PackageDeb, base_keep, make_layer};
use rtlock::image::{ImageSource, OpenOptions, RootFs};
use rtlock::oci::layer::{Compression, LayerCache, write_layer};

/// A graphviz- and PostgreSQL-client-sized install: libraries, programs, docs.
const PACKAGES: [&str; 10] = [
    "graphviz",
    "libgvc6",
    "libcgraph6",
    "libcdt5",
    "libpathplan4",
    "libgvpr2",
    "liblab-gamut1",
    "libpq5",
    "postgresql-client-15",
    "postgresql-client-common",
];

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this target without
    // it, and must neither download nor need the test bed.
    let Some(runs) = support::runs("apt_layer", 5) else {
        return;
    };

    let downloads = tempfile::tempdir().unwrap();
    let status = Command::new("apt-get")
        .arg("download")
        .args(PACKAGES)
        .current_dir(downloads.path())
        .status()
        .expect("run apt-get download");
    assert!(status.success(), "apt-get download {PACKAGES:?} failed");
    let debs: Vec<PackageDeb> = std::fs::read_dir(downloads.path())
        .unwrap()
        .map(|e| {
            let file = e.unwrap().path();
            let field = |name: &str| {
                let out = Command::new("dpkg-deb")
                    .arg("-f")
                    .arg(&file)
                    .arg(name)
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            };
            PackageDeb {
                name: field("Package"),
                arch: field("Architecture"),
                version: field("Version").parse().unwrap(),
                file,
            }
        })
        .collect();
    let bytes: u64 = debs.iter().map(|d| d.file.metadata().unwrap().len()).sum();

    let (path, tag) = base_layout();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let image = runtime
        .block_on(rtlock::image::open(
            &ImageSource::Oci {
                path,
                tag: Some(tag),
            },
            &OpenOptions::default(),
        ))
        .expect("open the bed's python base layout");

    let (mut read, mut made, mut written) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let base = RootFs::read(&image.layers, &base_keep).unwrap();
        read.push(started.elapsed());

        let started = Instant::now();
        let layer = make_layer(&base, &debs).unwrap();
        made.push(started.elapsed());

        let cache_dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let cache = LayerCache::new(cache_dir.path());
        write_layer(
            layer.entries,
            1_761_955_200,
            Compression::Gzip,
            &cache,
            None,
        )
        .unwrap();
        written.push(started.elapsed());
    }
    println!(
        "apt layer of {} debs ({:.1} MB) on the python base, median of {runs}:",
        debs.len(),
        bytes as f64 / 1e6
    );
    println!(
        "  read the base's dpkg database and tree  {:>8.1} ms",
        support::median(&mut read) * 1e3
    );
    println!(
        "  unpack the debs into entries           {:>8.1} ms",
        support::median(&mut made) * 1e3
    );
    println!(
        "  write the gzip layer                   {:>8.1} ms",
        support::median(&mut written) * 1e3
    );
}

/// `RTLOCK_TEST_IMAGE_PYTHON_OCI` (`PATH:TAG`), from the environment or `.testbed/env`.
fn base_layout() -> (PathBuf, String) {
    const KEY: &str = "RTLOCK_TEST_IMAGE_PYTHON_OCI";
    let value = std::env::var(KEY).ok().or_else(|| {
        let env = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".testbed/env");
        std::fs::read_to_string(env).ok()?.lines().find_map(|l| {
            l.strip_prefix(KEY)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::to_string)
        })
    });
    let value = value.expect("the test bed is not running: start it with scripts/test --bed-only");
    let (path, tag) = value.rsplit_once(':').expect("PATH:TAG");
    (PathBuf::from(path), tag.to_string())
}
