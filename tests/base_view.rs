//! The apt installer's stored view of the base (`base-files/apt-view-v1/`): on the test
//! bed's python base, it must describe exactly the filesystem the layers give (every
//! path's kind, mode, size and link, and the dpkg files the installer reads), a damaged
//! one must be ignored and replaced, and `lock` must store it, changing nothing in what
//! `build` makes.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{last_line, rtlock, stderr};
use common::testbed::{split_oci, testbed};
use rtlock::apt::install::base_keep;
use rtlock::apt::layer::read_base;
use rtlock::apt::layer::{apt_view_path, read_apt_view, store_apt_view};
use rtlock::image::rootfs::Kind;
use rtlock::image::{ImageSource, OpenOptions, OpenedImage, RootFs};
use rtlock::lockfile::Lockfile;
use rtlock::oci::Digest;
use rtlock::oci::output::ImageLayer;

fn python_base() -> (OpenedImage, PathBuf) {
    let oci = &testbed().image_python_oci;
    let source: ImageSource = format!("oci:{oci}").parse().unwrap();
    let image = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(rtlock::image::open(&source, &OpenOptions::default()))
        .unwrap();
    (image, PathBuf::from(split_oci(oci).0))
}

/// What a filesystem says of every path: (path, kind, mode, size, link, kept content).
type Described = Vec<(String, Kind, u32, u64, Option<String>, Option<Vec<u8>>)>;

fn describe(fs: &RootFs) -> Described {
    fs.paths()
        .map(|(path, node)| {
            (
                path.to_string(),
                node.kind,
                node.mode,
                node.size,
                node.link.as_deref().map(str::to_string),
                base_keep(path, node.size).and(node.kept().map(<[u8]>::to_vec)),
            )
        })
        .collect()
}

/// The two filesystems agree on every path and every file the installer keeps; on
/// failure, the first paths that differ.
fn assert_same(expected: &RootFs, actual: &RootFs) {
    let (expected, actual) = (describe(expected), describe(actual));
    if expected != actual {
        let first: Vec<_> = expected
            .iter()
            .zip(&actual)
            .filter(|(a, b)| a != b)
            .take(3)
            .map(|(a, b)| format!("{:?} vs {:?}", &a.0, &b.0))
            .collect();
        panic!(
            "{} paths from the layers, {} from the view; first differences: {first:?}",
            expected.len(),
            actual.len()
        );
    }
}

fn manifest_digest(image: &OpenedImage) -> Digest {
    image
        .manifest_digest
        .clone()
        .expect("a layout has a manifest")
}

/// The base's layers as a build has them: verified blobs on disk.
fn image_layers(image: &OpenedImage, layout: &Path) -> Vec<ImageLayer> {
    let manifest = image.manifest.as_ref().expect("a layout has a manifest");
    manifest
        .layers
        .iter()
        .zip(&image.config.rootfs.diff_ids)
        .map(|(descriptor, diff_id)| ImageLayer {
            descriptor: descriptor.clone(),
            diff_id: diff_id.clone(),
            path: layout.join("blobs/sha256").join(descriptor.digest.hex()),
        })
        .collect()
}

#[test]
fn the_view_holds_what_the_layers_give() {
    let (image, _) = python_base();
    let from_layers = RootFs::read(&image.layers, &base_keep).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let manifest = manifest_digest(&image);
    assert!(read_apt_view(cache.path(), &manifest).is_none());

    store_apt_view(cache.path(), &manifest, &from_layers);
    let view = read_apt_view(cache.path(), &manifest).expect("the stored view reads back");
    assert_same(&from_layers, &view);

    // What the installer needs is there: merged-/usr, the dpkg database, file lists.
    assert_eq!(view.resolve("bin/sh").unwrap(), "usr/bin/dash");
    assert!(view.is_dir("lib/x86_64-linux-gnu") || view.is_dir("lib/aarch64-linux-gnu"));
    let status = view.read_file("var/lib/dpkg/status").unwrap().unwrap();
    assert!(String::from_utf8_lossy(&status).contains("Package: dpkg\n"));
    assert!(
        view.read_file("var/lib/dpkg/info/dpkg.list")
            .unwrap()
            .is_some()
    );
    // Anything else has its metadata only, and asking for its content says so.
    let err = view.read_file("usr/bin/dpkg").unwrap_err().to_string();
    assert!(err.contains("/usr/bin/dpkg"), "{err}");
}

#[test]
fn a_damaged_view_is_ignored_and_stored_again() {
    let (image, layout) = python_base();
    let cache = tempfile::tempdir().unwrap();
    let manifest = manifest_digest(&image);
    let layers = image_layers(&image, &layout);
    let view_key = Some((cache.path(), &manifest));

    // The first build reads the layers and stores the view.
    let first = read_base(&layers, view_key).unwrap();
    let path = apt_view_path(cache.path(), &manifest);
    let stored = std::fs::read(&path).expect("read_base stored the view");

    // Damaged: one byte changed, then cut short. Each is ignored, and replaced by the
    // view of the layers read again.
    let mut flipped = stored.clone();
    flipped[stored.len() / 2] ^= 0x40;
    for damaged in [flipped, stored[..stored.len() / 3].to_vec()] {
        std::fs::write(&path, &damaged).unwrap();
        assert!(read_apt_view(cache.path(), &manifest).is_none());
        let again = read_base(&layers, view_key).unwrap();
        assert_same(&first, &again);
        assert!(
            again.read_file("usr/bin/dpkg").unwrap().is_some(),
            "not from the layers"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            stored,
            "the view was not stored again"
        );
    }
    // With the view in place, read_base takes the base from it (a base read from the
    // layers can give any file's content; one from the view only the kept files').
    let from_view = read_base(&layers, view_key).unwrap();
    assert_same(&first, &from_view);
    assert!(first.read_file("usr/bin/dpkg").unwrap().is_some());
    assert!(from_view.read_file("usr/bin/dpkg").is_err());
}

#[test]
fn lock_stores_the_view_and_the_build_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("runtime.toml");
    let lock = dir.path().join("runtime.lock");
    std::fs::write(
        &manifest,
        format!(
            "[base]\nimage = \"{}\"\n\n[apt]\npackages = [\"tree\"]\n",
            testbed().image_python
        ),
    )
    .unwrap();
    let (manifest, lock) = (manifest.to_str().unwrap(), lock.to_str().unwrap());
    let warm = dir.path().join("warm");
    let out = rtlock(&warm, &["-q", "lock", "-m", manifest]);
    assert!(out.status.success(), "lock: {}", stderr(&out));

    // The lock read the base's layers once, and stored the installer's view of them.
    let locked = Lockfile::read(Path::new(lock)).unwrap();
    let base: Digest = locked.base.manifest.clone();
    let view = read_apt_view(&warm, &base).expect("lock stored the apt view");
    let (image, _) = python_base();
    assert_eq!(
        manifest_digest(&image),
        base,
        "the bed's layout is the registry's image"
    );
    assert_same(&RootFs::read(&image.layers, &base_keep).unwrap(), &view);

    let build = |cache: &Path, name: &str| {
        let dest = format!("oci:{}:x", dir.path().join(name).display());
        let out = rtlock(cache, &["build", "--no-daemon", "-l", lock, "-o", &dest]);
        assert!(out.status.success(), "build ({name}): {}", stderr(&out));
        last_line(&out)
    };
    let after_lock = build(&warm, "after-lock");
    let empty = dir.path().join("empty-cache");
    let cold = build(&empty, "cold");
    assert!(after_lock.contains("sha256:"), "{after_lock}");
    assert_eq!(after_lock, cold);
    // The build on an empty cache read the layers, and stored the same view for the
    // next one.
    let stored = std::fs::read(apt_view_path(&empty, &base)).expect("build stored the view");
    assert_eq!(stored, std::fs::read(apt_view_path(&warm, &base)).unwrap());
}
