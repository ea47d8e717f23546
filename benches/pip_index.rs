//! Parse time of big real project pages (numpy's and boto3's, thousands of files each),
//! as PEP 691 JSON and as PEP 503 HTML, and the time to load the pages of a 12-package
//! set through [`Index`] from a warm cache, offline.
//!
//! The pages are the real ones from this machine's configured Python index (pip's own
//! default, asked from pip at run time; no index host is written here), fetched through
//! rtlock's fetch layer into `target/rtlock-bench-cache`.
//! Run with `cargo bench --bench pip_index`; `RTLOCK_BENCH_RUNS` sets the repetitions.

#[allow(dead_code)]
#[path = "../tests/common/testbed.rs"]
mod testbed;
#[allow(dead_code)]
#[path = "../tests/common/uv.rs"]
mod uv;

#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use rtlock::fetch::{FetchSettings, Fetcher, header};
use rtlock::pip::PackageSource;
use rtlock::pip::index::{Index, parse_page};
use url::Url;

const BIG: [&str; 2] = ["numpy", "boto3"];
const SET: [&str; 12] = uv::TWELVE_PACKAGES;

fn main() {
    // `cargo bench` passes `--bench`; a test run of all targets must not download.
    let Some(runs) = support::runs("pip_index", 10) else {
        return;
    };
    let runs = runs as u32;
    let mut base = uv::configured_index();
    if !base.ends_with('/') {
        base.push('/');
    }
    let base = Url::parse(&base).unwrap();
    let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rtlock-bench-cache");
    let fetcher = Fetcher::new(FetchSettings::new(&cache)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    for project in BIG {
        let url = base.join(&format!("{project}/")).unwrap();
        for accept in ["application/vnd.pypi.simple.v1+json", "text/html"] {
            let mut headers = header::HeaderMap::new();
            headers.insert(header::ACCEPT, header::HeaderValue::from_static(accept));
            let blob = runtime
                .block_on(fetcher.fetch_index_with(&url, &headers))
                .unwrap();
            let body = std::fs::read(&blob.path).unwrap();
            let mut best = Duration::MAX;
            let mut files = 0;
            for _ in 0..runs {
                let started = Instant::now();
                files = parse_page(&body, &url).unwrap().len();
                best = best.min(started.elapsed());
            }
            println!(
                "parse {project} ({accept}, {} KB, {files} files): best of {runs} {:.2} ms",
                body.len() / 1024,
                best.as_secs_f64() * 1000.0
            );
        }
    }

    // Warm the cache online once, then load the set offline from it.
    let names: Vec<rtlock::pip::PackageName> = SET.iter().map(|n| n.parse().unwrap()).collect();
    let online = Index::new(fetcher.clone(), vec![base.clone()], None);
    runtime.block_on(async {
        for name in &names {
            online.project(name).await.unwrap();
        }
    });
    let mut settings = FetchSettings::new(&cache);
    settings.offline = true;
    let offline = Fetcher::new(settings).unwrap();
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let index = Index::new(offline.clone(), vec![base.clone()], None);
        let started = Instant::now();
        runtime.block_on(async {
            let loads = names.iter().map(|n| index.project(n));
            for project in futures_util::future::join_all(loads).await {
                project.unwrap();
            }
        });
        best = best.min(started.elapsed());
    }
    println!(
        "12 project pages from a warm cache, offline, concurrently: best of {runs} {:.1} ms",
        best.as_secs_f64() * 1000.0
    );
}
