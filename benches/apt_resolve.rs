//! apt resolution per request with warm indexes: rtlock's library against
//! `apt-get install -s`, on the same lists and the same base image, side by side.
//!
//! - rtlock: read the host's Packages lists (kept uncompressed in a scratch directory,
//!   since this machine's apt stores them lz4-compressed, which rtlock does not read)
//!   and the image's dpkg status from disk, parse them and build the universe
//!   ("parse"), then `resolve` ("resolve"). A second figure adds what `rtlock lock`
//!   pays on top with its warm cache, which keeps the indexes decompressed: the
//!   sha256 of each one, checked against the signed Release before it is used.
//! - apt-get: `apt-get install -s` on the host with `Dir::State::status` pointing at the
//!   image's status and no preferences, as this machine's apt is configured (no binary
//!   cache, so every run parses the lists again), and once more with a warm
//!   `pkgcache.bin`, apt's own answer to the same cost.
//!
//! Median of `RTLOCK_BENCH_RUNS` runs (default 5) of each request; peak RSS is
//! `/usr/bin/time`'s for apt-get and the process's high-water mark (reset before each
//! run through `/proc/self/clear_refs`) for rtlock. Target (DESIGN.md, "Measures"):
//! rtlock under a third of apt-get's time. Needs the test bed's python base image
//! (`scripts/test --bed-only`) and the host's apt lists. Run with
//! `cargo bench --bench apt_resolve`.

#[allow(dead_code)]
#[path = "../tests/common/testbed.rs"]
mod testbed;

#[allow(dead_code)]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rtlock::apt::index::{parse_packages, parse_release, signature};
use rtlock::apt::relation::parse_relation;
use rtlock::apt::resolve::{Candidate, ResolveOptions, default_priority, parse_status, resolve};
use rtlock::fetch::sha256_hex;

/// Representative requests of the oracle corpus (tests/apt_resolve_oracle.rs): small
/// and large closures, Recommends on and off, virtual packages, an upgrade of a base
/// package.
const REQUESTS: &[(&[&str], bool)] = &[
    (&["libpq5"], true),
    (&["graphviz"], true),
    (&["git"], false),
    (&["build-essential"], true),
    (&["r-base-core"], true),
    (&["default-jdk-headless"], true),
    (&["texlive-latex-base"], true),
    (&["imagemagick"], true),
    (&["libxml2-dev", "libcurl4-openssl-dev", "libssl-dev"], true),
    (&["python3-dev", "python3-venv"], true),
    (&["libssl3"], true),
];

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this target without
    // it, in a debug build whose figures would mean nothing.
    let Some(runs) = support::runs("apt_resolve", 5) else {
        return;
    };
    let scratch = tempfile::Builder::new()
        .prefix("rtlock-bench-apt-")
        .tempdir()
        .expect("a scratch directory");
    let lists = Lists::prepare(scratch.path());
    let status = scratch.path().join("status");
    let image = &testbed::testbed().image_python;
    let text = testbed::ok(
        "cat the image's dpkg status",
        testbed::docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--pull",
            "always",
            image,
            "cat",
            "/var/lib/dpkg/status",
        ]),
    );
    std::fs::write(&status, text + "\n").expect("write the status");
    let pkgcache = scratch.path().join("pkgcache");
    std::fs::create_dir(&pkgcache).expect("a directory for apt's binary cache");

    println!(
        "\n{} Packages lists ({} MB), the status of {image}; median of {runs} runs\n",
        lists.plain.len(),
        lists.plain_bytes() >> 20
    );
    println!(
        "| request | packages | rtlock parse | rtlock resolve | rtlock total | + cache check | rtlock RSS | apt-get | apt-get RSS | apt-get, warm pkgcache | apt-get / rtlock |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for &(requests, recommends) in REQUESTS {
        let ours: Vec<Ours> = (0..runs)
            .map(|_| rtlock_resolve(&lists, &status, requests, recommends))
            .collect();
        let check = median((0..runs).map(|_| lists.check_sha256()).collect());
        let theirs: Vec<Theirs> = (0..runs)
            .map(|_| apt_get(&status, None, requests, recommends))
            .collect();
        // One run fills the binary cache; the measured ones reuse it.
        apt_get(&status, Some(&pkgcache), requests, recommends);
        let warm: Vec<Theirs> = (0..runs)
            .map(|_| apt_get(&status, Some(&pkgcache), requests, recommends))
            .collect();

        let packages = ours[0].packages;
        assert_eq!(
            packages, theirs[0].packages,
            "{requests:?}: rtlock and apt-get plan different numbers of packages \
             (tests/apt_resolve_oracle.rs says which)"
        );
        let parse = median(ours.iter().map(|o| o.parse).collect());
        let solve = median(ours.iter().map(|o| o.resolve).collect());
        let total = median(ours.iter().map(|o| o.parse + o.resolve).collect());
        let rss = median(ours.iter().map(|o| o.peak_kib).collect());
        let apt = median(theirs.iter().map(|t| t.wall).collect());
        let apt_rss = median(theirs.iter().map(|t| t.peak_kib).collect());
        let apt_warm = median(warm.iter().map(|t| t.wall).collect());
        // Against what `rtlock lock` does with a warm cache, the check included.
        let ratio = apt.as_secs_f64() / (total + check).as_secs_f64();
        ratios.push(ratio);
        println!(
            "| {}{} | {packages} | {} | {} | {} | {} | {} | {} | {} | {} | {ratio:.1}× |",
            requests.join(" "),
            if recommends { "" } else { " (no recommends)" },
            ms(parse),
            ms(solve),
            ms(total),
            ms(total + check),
            mb(rss),
            ms(apt),
            mb(apt_rss),
            ms(apt_warm),
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\napt-get / rtlock: {:.1}× to {:.1}×, median {:.1}× (target ≥ 3×)",
        ratios[0],
        ratios[ratios.len() - 1],
        ratios[ratios.len() / 2]
    );
}

/// The host's amd64 Packages lists with the Release of their suite, as plain text
/// files in the scratch directory.
struct Lists {
    /// (Packages file, InRelease file), in the order of apt's sources.
    plain: Vec<(PathBuf, PathBuf)>,
}

impl Lists {
    fn prepare(scratch: &Path) -> Lists {
        let targets = Command::new("apt-get")
            .args([
                "indextargets",
                "--format",
                "$(FILENAME) $(BASE_URI)",
                "Created-By: Packages",
                "Architecture: amd64",
            ])
            .output()
            .expect("apt-get indextargets");
        assert!(targets.status.success(), "apt-get indextargets failed");
        let mut plain = Vec::new();
        for (n, line) in String::from_utf8_lossy(&targets.stdout).lines().enumerate() {
            let (list, base_uri) = line.split_once(' ').expect("FILENAME BASE_URI");
            let text = Command::new("/usr/lib/apt/apt-helper")
                .args(["cat-file", list])
                .output()
                .expect("apt-helper cat-file");
            if !text.status.success() {
                // A target apt has not downloaded (e.g. an optional one).
                continue;
            }
            let packages = scratch.join(format!("{n}_Packages"));
            std::fs::write(&packages, &text.stdout).expect("write a Packages list");
            let release =
                Path::new(list).with_file_name(format!("{}InRelease", apt_file_name(base_uri)));
            assert!(release.is_file(), "no {} for {list}", release.display());
            plain.push((packages, release));
        }
        assert!(
            !plain.is_empty(),
            "no amd64 Packages lists: run apt-get update"
        );
        Lists { plain }
    }

    fn plain_bytes(&self) -> u64 {
        let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        self.plain.iter().map(|(p, _)| size(p)).sum()
    }

    /// What `rtlock lock` adds with a warm cache: the sha256 of each decompressed
    /// index it keeps, read from disk.
    fn check_sha256(&self) -> Duration {
        let started = Instant::now();
        for (packages, _) in &self.plain {
            let bytes = std::fs::read(packages).expect("read a Packages list");
            std::hint::black_box(sha256_hex(&bytes));
        }
        started.elapsed()
    }
}

/// apt's name of a list file for a URI: without the scheme, `/` as `_`.
fn apt_file_name(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    rest.replace('/', "_")
}

struct Ours {
    parse: Duration,
    resolve: Duration,
    packages: usize,
    peak_kib: u64,
}

fn rtlock_resolve(lists: &Lists, status: &Path, requests: &[&str], recommends: bool) -> Ours {
    reset_peak_rss();
    let started = Instant::now();
    let mut texts = Vec::new();
    for (packages, release) in &lists.plain {
        let release = std::fs::read_to_string(release).expect("read an InRelease");
        let body = signature::cleartext_body(&release).expect("a cleartext-signed InRelease");
        let priority = default_priority(&parse_release(&body).expect("a Release"));
        let text = std::fs::read_to_string(packages).expect("read a Packages list");
        texts.push((text, priority));
    }
    let status_text = std::fs::read_to_string(status).expect("read the status");
    let mut universe = Vec::new();
    for (text, priority) in &texts {
        for record in parse_packages(text).expect("a Packages list rtlock reads") {
            universe.push(Candidate {
                record,
                priority: *priority,
            });
        }
    }
    let installed = parse_status(&status_text);
    let relations: Vec<_> = requests
        .iter()
        .map(|r| parse_relation(r, true).expect("a request"))
        .collect();
    let parse = started.elapsed();

    let started = Instant::now();
    let mut options = ResolveOptions::new("amd64");
    options.install_recommends = recommends;
    let resolution = resolve(&universe, &installed, &relations, &options)
        .unwrap_or_else(|e| panic!("{requests:?}: {e}"));
    let resolve = started.elapsed();
    Ours {
        parse,
        resolve,
        packages: resolution.packages.len(),
        peak_kib: peak_rss_kib(),
    }
}

/// Resets this process's peak RSS to its current RSS (Linux ≥ 4.0).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `VmHWM` of this process, KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

struct Theirs {
    wall: Duration,
    packages: usize,
    peak_kib: u64,
}

/// `apt-get install -s` on the host with the image's status, as the oracle test did
/// before it moved into a container; `pkgcache` turns apt's binary cache on there.
fn apt_get(status: &Path, pkgcache: Option<&Path>, requests: &[&str], recommends: bool) -> Theirs {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "@@peak %M", "apt-get", "install", "-s", "-qq"])
        .arg(format!("-o=Dir::State::status={}", status.display()))
        .arg("-o=Dir::Etc::Preferences=/dev/null")
        .arg("-o=Dir::Etc::PreferencesParts=/dev/null")
        .arg(format!("-o=APT::Install-Recommends={recommends}"));
    if let Some(dir) = pkgcache {
        cmd.arg(format!(
            "-o=Dir::Cache::pkgcache={}/pkgcache.bin",
            dir.display()
        ))
        .arg(format!(
            "-o=Dir::Cache::srcpkgcache={}/srcpkgcache.bin",
            dir.display()
        ));
    }
    cmd.args(requests);
    let started = Instant::now();
    let out = cmd.output().expect("/usr/bin/time apt-get");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "apt-get install -s {requests:?}:\n{stderr}"
    );
    let packages = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("Inst "))
        .count();
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("@@peak "))
        .and_then(|v| v.trim().parse().ok())
        .expect("/usr/bin/time reports the peak RSS");
    Theirs {
        wall,
        packages,
        peak_kib,
    }
}

fn median<T: Ord + Copy>(mut samples: Vec<T>) -> T {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn mb(kib: u64) -> String {
    format!("{:.0} MB", kib as f64 / 1024.0)
}
