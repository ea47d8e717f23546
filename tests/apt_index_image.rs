//! The apt index face on a real base image of the test bed (`scripts/test --bed-only`):
//! its own sources and trusted keyrings, read from its layers, then (live group) its
//! suite fetched from the configured Debian mirror those sources name.

mod common;

use common::testbed::{host_oci_arch, testbed};
use rtlock::apt::index::{IndexOptions, fetch_repository, keyrings_for, sources};
use rtlock::fetch::{FetchSettings, Fetcher};
use rtlock::image::{ImageSource, OpenOptions, RootFs};

#[tokio::test]
async fn live_the_minimal_base_images_own_sources_fetch_and_verify() {
    let source: ImageSource = format!("oci:{}", testbed().image_minimal_oci)
        .parse()
        .unwrap();
    let image = rtlock::image::open(&source, &OpenOptions::default())
        .await
        .unwrap();
    let rootfs = RootFs::read(&image.layers, &|_, _| None).unwrap();

    let configured = sources::from_image(&rootfs).unwrap();
    assert!(!configured.is_empty(), "the image has no apt sources");
    let source = configured
        .iter()
        .find(|s| s.components.iter().any(|c| c == "main"))
        .unwrap_or_else(|| panic!("no source with `main`: {configured:#?}"));
    assert!(
        source.origin.starts_with("/etc/apt/sources.list"),
        "{}",
        source.origin
    );

    // The keys come from the image (its signed-by keyring or trusted.gpg.d), not the host.
    let keyrings = keyrings_for(source, &rootfs).unwrap();
    assert!(!keyrings.is_empty(), "no keyring for {source:?}");
    assert!(keyrings.iter().all(|k| !k.keys.is_empty()));

    let cache = tempfile::TempDir::new().unwrap();
    let fetcher = Fetcher::new(FetchSettings::new(cache.path())).unwrap();
    let mut main_only = source.clone();
    main_only.components = vec!["main".into()];
    let repository = fetch_repository(
        &fetcher,
        &main_only,
        &rootfs,
        &IndexOptions::new(&[host_oci_arch()]),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", rtlock::fetch::error_chain(&e)));
    assert!(repository.verified);
    let records = repository.packages[0].records().unwrap();
    assert!(records.len() > 30_000, "only {} records", records.len());
    let libc6 = records
        .iter()
        .find(|r| r.package == "libc6")
        .expect("libc6 is in main");
    assert_eq!(libc6.source_name(), "glibc");
    assert!(
        libc6.filename.starts_with("pool/main/g/glibc/"),
        "{}",
        libc6.filename
    );
    assert!(libc6.pre_depends.is_some() || libc6.depends.is_some());
}
