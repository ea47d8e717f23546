//! Parse time of a full Debian `main` `Packages` index (about 60,000 stanzas, 45 MB):
//! the target is under 300 ms in release.
//!
//! The index is the real one, fetched at bench time through rtlock's own index face
//! from the first source of this machine's apt configuration (no mirror is written
//! here), verified with the keyring that source names, and cached under
//! `target/rtlock-bench-cache` so later runs revalidate instead of downloading.
//! Run with `cargo bench --bench apt_index`; `RTLOCK_BENCH_RUNS` sets the repetitions.

#[allow(dead_code)]
mod support;

use std::time::Instant;

use rtlock::apt::index::{self, HostRoot, IndexOptions, sources};
use rtlock::fetch::{FetchSettings, Fetcher};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this target without
    // it, and must not download a 9 MB index.
    let Some(runs) = support::runs("apt_index", 10) else {
        return;
    };

    let host = HostRoot("/".into());
    let mut configured = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        configured.extend(sources::parse_one_line(&text, "/etc/apt/sources.list").unwrap());
    }
    let mut names: Vec<_> = std::fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    for path in names {
        let shown = path.display().to_string();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if shown.ends_with(".sources") {
            configured.extend(sources::parse_deb822(&text, &shown).unwrap());
        } else if shown.ends_with(".list") {
            configured.extend(sources::parse_one_line(&text, &shown).unwrap());
        }
    }
    let mut source = configured
        .into_iter()
        .find(|s| s.components.iter().any(|c| c == "main"))
        .expect("this machine's apt sources have a `main` component");
    source.components = vec!["main".into()];
    source.architectures = vec!["amd64".into()];

    let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rtlock-bench-cache");
    let fetcher = Fetcher::new(FetchSettings::new(cache)).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let repository = runtime
        .block_on(index::fetch_repository(
            &fetcher,
            &source,
            &host,
            &IndexOptions::new(&["amd64"]),
        ))
        .unwrap_or_else(|e| panic!("{}", rtlock::fetch::error_chain(&e)));
    let fetched = started.elapsed();
    let packages = &repository.packages[0];
    println!(
        "fetched and verified {} ({} MB uncompressed, signature {}) in {:.0} ms",
        packages.url,
        packages.text.len() >> 20,
        if repository.verified {
            "ok"
        } else {
            "unchecked"
        },
        fetched.as_secs_f64() * 1000.0
    );

    let mut times = Vec::with_capacity(runs);
    let mut count = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let records = index::parse_packages(std::hint::black_box(&packages.text)).unwrap();
        times.push(started.elapsed());
        count = std::hint::black_box(records).len();
    }
    times.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "parse_packages: {count} stanzas, min {:.1} ms, median {:.1} ms, max {:.1} ms over {runs} runs (target < 300 ms)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1])
    );

    // What the resolver does next: every Depends field parsed into relations.
    let records = index::parse_packages(&packages.text).unwrap();
    let started = Instant::now();
    let mut groups = 0;
    for record in &records {
        groups += record
            .relations(index::RelationField::Depends)
            .map(|g| g.len())
            .unwrap_or(0);
    }
    println!(
        "Depends of every stanza parsed into {groups} groups in {:.1} ms",
        ms(started.elapsed())
    );
}
