//! Reading and writing a large lock (2,000 entries, about the size of a data-science
//! runtime with a big apt closure), and parsing a manifest. Run with `cargo bench`.

use std::path::Path;

use rtlock::lockfile::{AptPackage, BaseLock, ImageLock, Lockfile, PipPackage};
use rtlock::manifest::Manifest;

fn main() {
    divan::main();
}

fn big_lock() -> Lockfile {
    let sha = |i: usize| format!("{:064x}", i);
    let apt = (0..1500)
        .map(|i| AptPackage {
            name: format!("lib{i}-dev"),
            version: format!("1.{i}-1+deb12u1").parse().unwrap(),
            arch: "amd64".into(),
            url: format!(
                "http://mirror/debian/pool/main/l/lib{i}/lib{i}-dev_1.{i}-1+deb12u1_amd64.deb"
            ),
            filename: format!("pool/main/l/lib{i}/lib{i}-dev_1.{i}-1+deb12u1_amd64.deb"),
            sha256: sha(i),
            size: 100_000 + i as u64,
            requested: i % 50 == 0,
            requires: vec!["libc6".into(), format!("lib{}", i / 2)],
            needed_by: vec![],
        })
        .collect();
    let pip = (0..500)
        .map(|i| PipPackage {
            name: format!("package-{i}"),
            version: format!("{i}.0.1").parse().unwrap(),
            file: format!("package_{i}-{i}.0.1-py3-none-any.whl"),
            url: format!("http://127.0.0.1/files/package_{i}-{i}.0.1-py3-none-any.whl"),
            sha256: sha(10_000 + i),
            size: 50_000,
            requested: i % 20 == 0,
            requires: vec!["numpy".into()],
        })
        .collect();
    Lockfile {
        version: 1,
        manifest: format!("sha256:{}", sha(1)),
        source_date_epoch: 1_793_491_200,
        as_of: None,
        base: BaseLock {
            reference: "registry.example.com/ml/runtime:1".into(),
            digest: format!("sha256:{}", sha(2)).parse().unwrap(),
            manifest: format!("sha256:{}", sha(3)).parse().unwrap(),
            platform: "linux/amd64".parse().unwrap(),
        },
        image: ImageLock::default(),
        apt,
        pip,
        r: vec![],
    }
}

#[divan::bench]
fn write_lock_2000_entries(bencher: divan::Bencher) {
    let lock = big_lock();
    bencher.bench(|| lock.to_toml());
}

#[divan::bench]
fn read_lock_2000_entries(bencher: divan::Bencher) {
    let text = big_lock().to_toml();
    bencher.bench(|| rtlock::lockfile::parse(&text, Path::new("runtime.lock")).unwrap());
}

#[divan::bench]
fn parse_and_hash_manifest(bencher: divan::Bencher) {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/manifests/good/full.toml"
    ))
    .unwrap();
    bencher.bench(|| {
        Manifest::parse(&text, Path::new("runtime.toml"))
            .unwrap()
            .normalized_hash()
    });
}
