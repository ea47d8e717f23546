//! The pip layer of about 27 pinned wheels (pandas, scikit-learn, matplotlib,
//! psycopg2-binary, sqlalchemy, requests and their dependencies), side by side:
//! `docker build --no-cache --network host` of `pip install --require-hashes --no-deps
//! -r requirements.txt` on the test bed's python base, from the same find-links
//! directory served on 127.0.0.1, against `rtlock build -o docker-daemon:` of a lock of
//! the same wheels: cold (empty cache: base layers and wheels downloaded) and with the
//! downloads cached but no layer cache. rtlock's peak RSS comes from `/usr/bin/time -v`.
//!
//! Needs the test bed (`scripts/test --bed-only`), skopeo, python3, and this machine's pip and
//! its configured index (the wheels are downloaded with `pip download` into
//! /var/cache/rtlock-testbed/pip-wheels/bench). Run with
//! `cargo bench --bench pip_build -- --bench`; `RTLOCK_BENCH_RUNS` sets the repetitions.

#[allow(dead_code)]
#[path = "../tests/common/testbed.rs"]
mod testbed;

#[allow(dead_code)]
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

const REQUESTS: [&str; 6] = [
    "pandas==2.2.3",
    "scikit-learn==1.5.2",
    "matplotlib==3.9.2",
    "psycopg2-binary==2.9.10",
    "sqlalchemy==2.0.36",
    "requests==2.32.3",
];
const WHEELS: &str = "/var/cache/rtlock-testbed/pip-wheels/bench";
/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;

fn main() {
    let Some(runs) = support::runs("pip_build", 3) else {
        return;
    };
    let base = testbed::testbed().image_python.clone();
    let wheels = download();
    let server = Server::start(Path::new(WHEELS));
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    write_lock(dir, &base, &wheels, server.port);

    let mut cold = Vec::new();
    let mut downloaded = Vec::new();
    let mut peak_kb = 0u64;
    for run in 0..runs {
        let cache = dir.join(format!("cache-{run}"));
        let tag = format!("docker-daemon:rtlock-bench/pip:{run}");
        let (took, rss) = rtlock_build(dir, &cache, &tag);
        cold.push(took);
        peak_kb = peak_kb.max(rss);
        std::fs::remove_dir_all(cache.join("layers")).unwrap();
        let (took, rss) = rtlock_build(dir, &cache, &tag);
        downloaded.push(took);
        peak_kb = peak_kb.max(rss);
        let _ = Command::new("docker")
            .args(["rmi", &format!("rtlock-bench/pip:{run}")])
            .output();
        let _ = std::fs::remove_dir_all(&cache);
    }

    let context = dir.join("docker");
    std::fs::create_dir_all(&context).unwrap();
    let requirements: String = wheels
        .iter()
        .map(|w| format!("{}=={} --hash=sha256:{}\n", w.name, w.version, w.sha256))
        .collect();
    std::fs::write(context.join("requirements.txt"), requirements).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!(
            "FROM {base}\nCOPY requirements.txt /tmp/\n\
             RUN pip install --require-hashes --no-deps -r /tmp/requirements.txt \
             --break-system-packages --no-index --find-links http://127.0.0.1:{}/\n",
            server.port
        ),
    )
    .unwrap();
    let mut docker = Vec::new();
    for _ in 0..runs {
        let mut cmd = Command::new("docker");
        cmd.args(["build", "--no-cache", "--network", "host", "-q"])
            .args(["-t", "rtlock-bench/docker-pip"])
            .arg(&context);
        docker.push(support::time(cmd));
    }
    let _ = Command::new("docker")
        .args(["rmi", "rtlock-bench/docker-pip"])
        .output();

    let docker = support::median(&mut docker);
    println!(
        "{} wheels ({:.0} MB) on the python base, median of {runs}:",
        wheels.len(),
        wheels.iter().map(|w| w.size).sum::<u64>() as f64 / 1e6
    );
    println!("  docker build --no-cache (pip install --require-hashes)  {docker:>7.2} s");
    for (name, times) in [
        ("rtlock build, cold cache (downloads included)", &mut cold),
        (
            "rtlock build, wheels downloaded, no layer cache",
            &mut downloaded,
        ),
    ] {
        let t = support::median(times);
        println!("  {name:<55} {t:>7.2} s  ({:.2}x docker build)", t / docker);
    }
    println!("  rtlock peak RSS {:.0} MB", peak_kb as f64 / 1024.0);
}

/// One downloaded wheel, as a lock and a requirements file name it.
struct WheelFile {
    name: String,
    version: String,
    file: String,
    sha256: String,
    size: u64,
}

fn download() -> Vec<WheelFile> {
    std::fs::create_dir_all(WHEELS).unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "pip", "download", "-q", "--only-binary=:all:"])
        .args(["--python-version", "3.11", "--implementation", "cp"])
        .args([
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
        ])
        .args(["-d", WHEELS])
        .args(REQUESTS);
    support::time(cmd);
    let mut wheels: Vec<WheelFile> = std::fs::read_dir(WHEELS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .map(|path| {
            let file = path.file_name().unwrap().to_str().unwrap().to_string();
            let mut parts = file.split('-');
            let (name, version) = (parts.next().unwrap(), parts.next().unwrap());
            let bytes = std::fs::read(&path).unwrap();
            WheelFile {
                name: name.replace('_', "-").to_lowercase(),
                version: version.to_string(),
                sha256: hex::encode(Sha256::digest(&bytes)),
                size: bytes.len() as u64,
                file,
            }
        })
        .collect();
    wheels.sort_by(|a, b| a.name.cmp(&b.name));
    wheels
}

fn write_lock(dir: &Path, base: &str, wheels: &[WheelFile], port: u16) {
    let mut text = testbed::lock_header(base, EPOCH);
    for w in wheels {
        text.push_str(&format!(
            "\n[[pip]]\nname = \"{}\"\nversion = \"{}\"\nfile = \"{}\"\n\
             url = \"http://127.0.0.1:{port}/{}\"\nsha256 = \"{}\"\nsize = {}\n",
            w.name, w.version, w.file, w.file, w.sha256, w.size
        ));
    }
    std::fs::write(dir.join("runtime.lock"), text).unwrap();
}

/// `rtlock build` under `/usr/bin/time -v`: how long it took and its peak RSS in kB.
fn rtlock_build(dir: &Path, cache: &Path, destination: &str) -> (Duration, u64) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    cmd.current_dir(dir)
        .args(["-q", "--cache-dir"])
        .arg(cache)
        .args(["build", "-o", destination]);
    support::time_rss(&cmd)
}

/// `python3 -m http.server` on a free port of 127.0.0.1: the find-links directory for
/// both sides.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg::<PathBuf>(dir.into())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        // Dropped (killed) if it never listens.
        let server = Server { child, port };
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("python3 -m http.server did not listen on 127.0.0.1:{port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
