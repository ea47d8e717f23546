use std::io::Read;

use super::*;

/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;

fn small_layer() -> Vec<Entry> {
    // Given out of order on purpose: the writer sorts.
    vec![
        Entry::file(
            "etc/motd",
            0o644,
            Content::Bytes(b"reproducible\n".to_vec()),
        ),
        Entry::symlink("usr/bin/hello", "../lib/hello/hello.sh"),
        Entry::file(
            "usr/lib/hello/hello.sh",
            0o755,
            Content::Bytes(b"#!/bin/sh\necho hello\n".to_vec()),
        ),
        Entry::dir("usr/lib/hello/", 0o755),
        Entry::file(
            "etc/hello.conf",
            0o600,
            Content::Bytes(b"greeting=hi\n".to_vec()),
        )
        .owner(1000, 1000)
        .mtime(EPOCH + 86_400),
    ]
}

fn temp_cache() -> (tempfile::TempDir, LayerCache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = LayerCache::new(dir.path());
    (dir, cache)
}

fn tar_of(entries: Vec<Entry>) -> Vec<u8> {
    let mut out = Vec::new();
    write_tar(&normalize(entries).unwrap(), EPOCH, &mut out).unwrap();
    out
}

fn listing(tar: &[u8]) -> Vec<(String, char, u64, u32, String)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.entry_type().as_byte() as char,
                h.mtime().unwrap(),
                h.mode().unwrap(),
                e.link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// The digests of a fixed layer. If this fails, every layer rtlock builds changed
/// digest: a new flate2/miniz_oxide, a different backend (check
/// `cargo tree -e features -i flate2`), or a change of the tar format. That breaks the
/// promise that a lock builds the same image with every rtlock; change it only on
/// purpose, and say so in the release notes.
#[test]
fn a_known_layer_has_a_known_digest() {
    let (_dir, cache) = temp_cache();
    let layer = write_layer(small_layer(), EPOCH, Compression::Gzip, &cache, None).unwrap();
    assert_eq!(
        layer.diff_id.as_str(),
        "sha256:4fe7094bcc12fbe37f95d155288475e7ebfd93edd0808a60c7631bc205307c0d"
    );
    assert_eq!(
        layer.digest.as_str(),
        "sha256:b9b4865294736aad46a567e5bfc48eb2b389c6c9475e6bc060230f88e0a05e59"
    );
    assert_eq!(layer.size, 250);
    assert_eq!(layer.media_type, crate::oci::media_type::OCI_LAYER_GZIP);
}

#[test]
fn gzip_header_has_no_name_no_time_and_a_fixed_os() {
    let (_dir, cache) = temp_cache();
    let layer = write_layer(small_layer(), EPOCH, Compression::Gzip, &cache, None).unwrap();
    let bytes = std::fs::read(&layer.path).unwrap();
    assert_eq!(&bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(crate::oci::Digest::of(&tar), layer.diff_id);
}

#[test]
fn entries_are_sorted_parents_first_and_mtimes_clamped() {
    let tar = tar_of(small_layer());
    let names: Vec<_> = listing(&tar).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "etc/hello.conf",
            "etc/motd",
            "usr/bin/hello",
            "usr/lib/hello/",
            "usr/lib/hello/hello.sh"
        ]
    );
    assert!(listing(&tar).iter().all(|e| e.2 == EPOCH as u64));
    // ustar, no user names, two zero blocks at the end, nothing after.
    assert_eq!(&tar[257..265], b"ustar\x0000");
    assert_eq!(tar.len() % 512, 0);
    assert!(tar[tar.len() - 1024..].iter().all(|&b| b == 0));
    // "a/b" sorts before "a.b", "a-b" (component order, parents first).
    let tar = tar_of(vec![
        Entry::dir("a.b", 0o755),
        Entry::dir("a/b", 0o755),
        Entry::dir("a", 0o755),
        Entry::dir("a-b", 0o755),
    ]);
    let names: Vec<_> = listing(&tar).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["a/", "a/b/", "a-b/", "a.b/"]);
}

#[test]
fn the_same_entries_in_any_order_give_the_same_bytes() {
    let mut reversed = small_layer();
    reversed.reverse();
    assert_eq!(tar_of(small_layer()), tar_of(reversed));
}

#[test]
fn long_names_links_ids_and_xattrs_survive_a_round_trip() {
    let deep = format!("opt/{}/{}", "d".repeat(150), "f".repeat(90));
    let very_long = format!("opt/{}", "x".repeat(300));
    let long_target = format!("/{}", "t".repeat(200));
    let tar = tar_of(vec![
        Entry::file(&deep, 0o644, Content::Bytes(vec![1, 2, 3])),
        Entry::file(&very_long, 0o4755, Content::Bytes(vec![])).owner(3_000_000, 7),
        Entry::symlink("opt/link", &long_target),
        Entry::file("opt/ping", 0o755, Content::Bytes(b"x".to_vec()))
            .xattr("security.capability", &[1, 0, 0, 2]),
        Entry::file("opt/caf\u{e9}", 0o644, Content::Bytes(b"x".to_vec())),
    ]);
    let mut archive = tar::Archive::new(&tar[..]);
    let mut seen = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if path == very_long {
            assert_eq!(entry.header().mode().unwrap(), 0o4755);
            // tar reads the PAX uid.
            let pax: Vec<_> = entry
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|e| e.unwrap().key().unwrap().to_string())
                .collect();
            assert!(pax.contains(&"uid".to_string()), "{pax:?}");
        }
        if path == "opt/link" {
            assert_eq!(
                entry.link_name().unwrap().unwrap().to_str().unwrap(),
                long_target
            );
        }
        if path == "opt/ping" {
            let xattr = entry
                .pax_extensions()
                .unwrap()
                .unwrap()
                .map(|e| e.unwrap())
                .find(|e| e.key().unwrap() == "SCHILY.xattr.security.capability")
                .map(|e| e.value_bytes().to_vec());
            assert_eq!(xattr, Some(vec![1, 0, 0, 2]));
        }
        seen.push(path);
    }
    assert!(seen.contains(&deep) && seen.contains(&very_long));
    assert!(seen.contains(&"opt/caf\u{e9}".to_string()));
}

#[test]
fn a_hard_link_sorting_before_its_file_carries_the_content() {
    let tar = tar_of(vec![
        Entry::file("z/python3.11", 0o755, Content::Bytes(b"ELF".to_vec())),
        Entry::hard_link("a/python3", "z/python3.11"),
        Entry::hard_link("m/python", "z/python3.11"),
    ]);
    let list = listing(&tar);
    assert_eq!(list[0].0, "a/python3");
    assert_eq!(list[0].1, '0');
    assert_eq!((list[1].1, list[1].4.as_str()), ('1', "a/python3"));
    assert_eq!((list[2].1, list[2].4.as_str()), ('1', "a/python3"));
}

#[test]
fn content_is_streamed_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let tar = tar_of(vec![Entry::file("big", 0o644, Content::Path(big))]);
    let mut archive = tar::Archive::new(&tar[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    let mut read = Vec::new();
    entry.read_to_end(&mut read).unwrap();
    assert_eq!(read, data);
}

#[test]
fn bad_entries_are_refused_with_their_path() {
    for (entries, needle) in [
        (vec![Entry::dir("usr/../etc", 0o755)], "`..`"),
        (vec![Entry::dir("/", 0o755)], "root"),
        (
            vec![Entry::dir("a", 0o755), Entry::dir("/a/", 0o755)],
            "twice",
        ),
        (vec![Entry::hard_link("a", "b")], "not in the layer"),
        (vec![Entry::dir("a", 0o40755)], "7777"),
    ] {
        let err = normalize(entries).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    }
}

fn key(name: &str) -> LayerKey {
    LayerInputs {
        kind: name.to_string(),
        format: "test/1".into(),
        base_manifest: crate::oci::Digest::of(b""),
        source_date_epoch: EPOCH,
        below: Vec::new(),
        step: None,
        packages: Vec::new(),
    }
    .key()
}

#[test]
fn a_cached_layer_is_found_by_key_without_reading_entries() {
    let (_dir, cache) = temp_cache();
    let (k1, k2) = (key("k1"), key("k2"));
    let first = write_layer(small_layer(), EPOCH, Compression::Gzip, &cache, Some(&k1)).unwrap();
    // Entries that could not be read: the key alone finds the layer.
    let unreadable = vec![Entry::file(
        "x",
        0o644,
        Content::Path("/nonexistent".into()),
    )];
    let again = write_layer(unreadable, EPOCH, Compression::Gzip, &cache, Some(&k1)).unwrap();
    assert_eq!(first, again);
    // Same diff_id from another key: cached by diff_id too.
    let third = write_layer(small_layer(), EPOCH, Compression::Gzip, &cache, Some(&k2)).unwrap();
    assert_eq!(first, third);
    // The key is filed per compression: a plain tar of the same key is another entry.
    assert!(cache.lookup_key(&k1, Compression::None).is_none());
}

/// Flips one byte of `path`, keeping its size.
fn flip_a_byte(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupt_cached_layer_is_not_used_and_is_made_again() {
    let (_dir, cache) = temp_cache();
    let k = key("k");
    let first = write_layer(small_layer(), EPOCH, Compression::Gzip, &cache, Some(&k)).unwrap();
    assert!(cache.stamps().is_trusted(&first.path, first.digest.hex()));
    flip_a_byte(&first.path);
    // The stamp no longer matches: re-hashed, found corrupt, dropped.
    assert!(cache.lookup_key(&k, Compression::Gzip).is_none());
    assert!(!first.path.exists());
    let again = write_layer(small_layer(), EPOCH, Compression::Gzip, &cache, Some(&k)).unwrap();
    assert_eq!(again, first);
    let bytes = std::fs::read(&again.path).unwrap();
    assert_eq!(crate::oci::Digest::of(&bytes), first.digest);
}

#[test]
fn zstd_and_plain_layers_have_the_same_diff_id() {
    let (_dir, cache) = temp_cache();
    let gz = write_layer(small_layer(), EPOCH, Compression::Gzip, &cache, None).unwrap();
    let zst = write_layer(small_layer(), EPOCH, Compression::Zstd, &cache, None).unwrap();
    let tar = write_layer(small_layer(), EPOCH, Compression::None, &cache, None).unwrap();
    assert_eq!(gz.diff_id, zst.diff_id);
    assert_eq!(tar.diff_id, gz.diff_id);
    assert_eq!(tar.digest, tar.diff_id);
    assert_eq!(zst.media_type, crate::oci::media_type::OCI_LAYER_ZSTD);
}

#[test]
fn a_lock_without_a_compression_means_gzip() {
    assert_eq!(Compression::from_lock(""), Some(Compression::Gzip));
    assert_eq!(Compression::from_lock("gzip"), Some(Compression::Gzip));
    assert_eq!(Compression::from_lock("zstd"), Some(Compression::Zstd));
    assert_eq!(Compression::from_lock("lz4"), None);
}

#[test]
fn a_whiteout_is_told_by_its_name_alone() {
    assert!(Entry::whiteout("etc/motd").is_whiteout());
    assert!(Entry::whiteout("motd").is_whiteout());
    assert_eq!(Entry::whiteout("usr/bin/gone").path, "usr/bin/.wh.gone");
    assert!(!Entry::dir("etc/.wh", 0o755).is_whiteout());
    assert!(
        !Entry::file("usr/share/doc/x.wh.txt", 0o644, Content::Bytes(Vec::new())).is_whiteout()
    );
}
