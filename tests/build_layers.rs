//! Layers written by rtlock's layer writer, in a built image, are what peers read:
//! `docker run` sees their files, links and modes, umoci unpacks them, and two builds
//! (fresh layer caches) agree. Uses the library's `build_with`, the seam the apt, pip
//! and R installers plug into.

mod common;

use std::path::Path;

use common::testbed::{docker, ok, registry_digest, testbed};
use rtlock::base::step::created_by;
use rtlock::build::layers::PlannedLayer;
use rtlock::build::{BuildContext, build_with, write_outputs};
use rtlock::fetch::{FetchSettings, Fetcher};
use rtlock::lockfile::Lockfile;
use rtlock::oci::layer::{Content, Entry, LayerCache, LayerInputs};
use rtlock::oci::output::Destination;
use rtlock::oci::registry::{Registry, RegistryOptions};

fn lock(dir: &Path) -> Lockfile {
    let image = &testbed().image_minimal;
    let digest = registry_digest(image);
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
"#
        ),
    )
    .unwrap();
    Lockfile::read(&path).unwrap()
}

fn planned(big: &Path) -> Vec<PlannedLayer> {
    vec![
        PlannedLayer {
            name: "apt",
            created_by: created_by("apt", 2),
            entries: vec![
                Entry::dir("opt/rtlock", 0o755),
                Entry::file(
                    "opt/rtlock/hello.sh",
                    0o755,
                    Content::Bytes(b"#!/bin/sh\necho hello from rtlock\n".to_vec()),
                ),
                Entry::symlink("usr/local/bin/hello", "/opt/rtlock/hello.sh"),
                Entry::file("opt/rtlock/secret", 0o600, Content::Bytes(b"s".to_vec()))
                    .owner(8536, 8536),
            ],
            key: None,
        },
        PlannedLayer {
            name: "pip",
            created_by: created_by("pip", 1),
            entries: vec![
                Entry::dir("opt/data", 0o755),
                Entry::file("opt/data/big.bin", 0o644, Content::Path(big.to_path_buf())),
                Entry::hard_link("opt/data/again.bin", "opt/data/big.bin"),
            ],
            key: Some(
                LayerInputs {
                    kind: "test-pip".into(),
                    format: "test-pip-layer/1".into(),
                    base_manifest: rtlock::oci::Digest::of(b""),
                    source_date_epoch: 0,
                    below: Vec::new(),
                    step: None,
                    packages: Vec::new(),
                }
                .key(),
            ),
        },
    ]
}

fn context(cache: &Path, layers: &Path) -> BuildContext {
    let fetcher = Fetcher::new(FetchSettings::new(cache)).unwrap();
    let registry = Registry::new(&fetcher, RegistryOptions::default()).unwrap();
    BuildContext {
        fetcher,
        registry,
        layer_cache: LayerCache::new(layers),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rtlock_layers_run_in_docker_and_build_the_same_twice() {
    let bed = testbed();
    for (key, value) in bed.env() {
        // SAFETY: set before any thread of this test reads the environment.
        unsafe { std::env::set_var(key, value) };
    }
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(
        &big,
        (0..5_000_000u32)
            .map(|i| (i * 7 % 256) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let lock = lock(dir.path());

    let first_ctx = context(&dir.path().join("cache"), &dir.path().join("layers-1"));
    let first = build_with(&lock, &first_ctx, planned(&big)).await.unwrap();
    let second_ctx = context(&dir.path().join("cache"), &dir.path().join("layers-2"));
    let second = build_with(&lock, &second_ctx, planned(&big)).await.unwrap();
    assert_eq!(first.image.manifest_digest, second.image.manifest_digest);
    assert_eq!(first.image.layers.len(), first.base_layers + 2);

    let config: serde_json::Value = serde_json::from_slice(&first.image.config).unwrap();
    let history: Vec<_> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["created_by"].as_str())
        .collect();
    assert!(history.contains(&"rtlock: apt (2 packages)"), "{history:?}");
    assert!(history.contains(&"rtlock: pip (1 package)"), "{history:?}");

    let tag = format!("rtlock-test/layers:{}", std::process::id());
    let archive = dir.path().join("image.tar");
    let layout = dir.path().join("layout");
    write_outputs(
        &first,
        &[
            format!("docker-archive:{}:{tag}", archive.display())
                .parse::<Destination>()
                .unwrap(),
            format!("oci:{}:t", layout.display())
                .parse::<Destination>()
                .unwrap(),
        ],
        &first_ctx,
    )
    .await
    .unwrap();
    ok(
        "docker load",
        docker(&["load", "-q", "-i", &archive.display().to_string()]),
    );
    let out = ok(
        "docker run",
        docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &tag,
            "sh",
            "-c",
            "hello; stat -c '%a %u' /opt/rtlock/secret; stat -c '%h %s' /opt/data/big.bin; stat -c %Y /opt/rtlock/hello.sh",
        ]),
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["hello from rtlock", "600 8536", "2 5000000", "1761955200"]
    );
    let _ = docker(&["rmi", "-f", &tag]);

    let bundle = dir.path().join("bundle");
    let unpacked = std::process::Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:t", layout.display())])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        unpacked.status.success(),
        "{}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    assert_eq!(
        std::fs::read_link(bundle.join("rootfs/usr/local/bin/hello")).unwrap(),
        Path::new("/opt/rtlock/hello.sh")
    );
}
