//! Reading an image's filesystem from hand-made layers: whiteouts, opaque directories,
//! hard links, symlinks resolved inside the image root, and every kind of bad layer
//! (a `..` or absolute entry, a truncated or corrupt blob, a digest mismatch) giving a
//! clear error. Each image is a small OCI layout written here with the `tar` crate.

use std::io::Write;
use std::path::{Path, PathBuf};

use rtlock::image::rootfs::{Keep, Kind};
use rtlock::image::{ImageSource, OpenOptions, OpenedImage, RootFs};
use rtlock::oci::Digest;
use sha2::{Digest as _, Sha256};

/// One entry of a hand-made layer.
enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// A file whose name is written into the header as-is, bypassing the `tar` crate's
    /// own refusal of `..` and absolute paths (what a hostile tool would write).
    RawName(&'a str, &'a [u8]),
}

fn layer(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(0);
        match entry {
            E::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                builder.append_data(&mut h, path, &[][..]).unwrap();
            }
            E::File(path, data) => {
                h.set_size(data.len() as u64);
                builder.append_data(&mut h, path, *data).unwrap();
            }
            E::Symlink(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                builder.append_link(&mut h, path, target).unwrap();
            }
            E::HardLink(path, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                builder.append_link(&mut h, path, target).unwrap();
            }
            E::RawName(name, data) => {
                h.set_size(data.len() as u64);
                let field = &mut h.as_old_mut().name;
                field[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                builder.append(&h, *data).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn sha(bytes: &[u8]) -> Digest {
    Digest::from_sha256(&Sha256::digest(bytes).into())
}

/// A layer as stored in the layout: the blob bytes, what the descriptor says, the diff_id.
struct Blob {
    bytes: Vec<u8>,
    media_type: &'static str,
    digest: Digest,
    size: u64,
    diff_id: Digest,
}

fn gz_blob(tar: &[u8]) -> Blob {
    let bytes = gzip(tar);
    Blob {
        digest: sha(&bytes),
        size: bytes.len() as u64,
        diff_id: sha(tar),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes,
    }
}

/// Writes an OCI layout with these layers (bottom first), tagged `t`; returns its dir.
fn layout(dir: &Path, blobs: &[Blob]) -> PathBuf {
    let root = dir.join("layout");
    let blob_dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&blob_dir).unwrap();
    let put = |bytes: &[u8], digest: &Digest| {
        std::fs::write(blob_dir.join(digest.hex()), bytes).unwrap();
    };
    for b in blobs {
        put(&b.bytes, &b.digest);
    }
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/bin", "PIP_INDEX_URL=http://127.0.0.1:1/simple"]},
        "rootfs": {"type": "layers", "diff_ids": blobs.iter().map(|b| b.diff_id.to_string()).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).unwrap();
    put(&config, &sha(&config));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config).to_string(), "size": config.len()},
        "layers": blobs.iter().map(|b| serde_json::json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size})).collect::<Vec<_>>(),
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    put(&manifest, &sha(&manifest));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest).to_string(), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "t"}}],
    });
    std::fs::write(root.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    root
}

fn open(source: &str) -> Result<OpenedImage, rtlock::image::ImageError> {
    let source: ImageSource = source.parse().unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(rtlock::image::open(&source, &OpenOptions::default()))
}

fn read_all(root: &Path) -> Result<RootFs, rtlock::image::ImageError> {
    let image = open(&format!("oci:{}:t", root.display()))?;
    RootFs::read(&image.layers, &|_, _| Some(Keep::Whole))
}

fn text(fs: &RootFs, path: &str) -> Option<String> {
    fs.read_file(path)
        .unwrap()
        .map(|b| String::from_utf8(b).unwrap())
}

#[test]
fn whiteouts_and_opaque_directories_hide_lower_layers() {
    let dir = tempfile::tempdir().unwrap();
    let bottom = layer(&[
        E::Dir("etc/"),
        E::File("etc/keep", b"kept"),
        E::File("etc/gone", b"x"),
        E::Dir("etc/gonedir/"),
        E::File("etc/gonedir/inner", b"x"),
        E::Dir("opt/app/"),
        E::File("opt/app/old", b"old"),
        E::Dir("opt/app/sub/"),
        E::File("opt/app/sub/deep", b"old"),
        E::Dir("var/thing/"),
        E::File("var/thing/child", b"x"),
    ]);
    let top = layer(&[
        E::File("etc/.wh.gone", b""),
        E::File("etc/.wh.gonedir", b""),
        E::Dir("opt/app/"),
        E::File("opt/app/new", b"new"),
        E::File("opt/app/.wh..wh..opq", b""),
        // A file replacing a directory takes its children with it.
        E::File("var/thing", b"now a file"),
    ]);
    let root = layout(dir.path(), &[gz_blob(&bottom), gz_blob(&top)]);
    let fs = read_all(&root).unwrap();
    assert_eq!(text(&fs, "/etc/keep").as_deref(), Some("kept"));
    assert_eq!(text(&fs, "etc/gone"), None);
    assert!(!fs.exists("etc/gonedir"));
    assert!(!fs.exists("etc/gonedir/inner"));
    assert!(!fs.exists("etc/.wh.gone"), "whiteout markers are not files");
    assert_eq!(text(&fs, "opt/app/new").as_deref(), Some("new"));
    assert!(
        !fs.exists("opt/app/old"),
        "opaque dir hides the lower layer"
    );
    assert!(!fs.exists("opt/app/sub/deep"));
    assert!(!fs.exists("opt/app/.wh..wh..opq"));
    assert_eq!(text(&fs, "var/thing").as_deref(), Some("now a file"));
    assert!(!fs.exists("var/thing/child"));
    let names: Vec<String> = fs
        .list_dir("opt/app")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["new"]);
}

#[test]
fn hard_links_share_their_targets_data_across_layers() {
    let dir = tempfile::tempdir().unwrap();
    let bottom = layer(&[E::File("usr/bin/perl5.36", b"#!perl binary")]);
    let top = layer(&[
        E::HardLink("usr/bin/perl", "usr/bin/perl5.36"),
        E::File("a/original", b"same layer"),
        E::HardLink("a/linked", "a/original"),
    ]);
    let root = layout(dir.path(), &[gz_blob(&bottom), gz_blob(&top)]);
    let fs = read_all(&root).unwrap();
    assert_eq!(text(&fs, "usr/bin/perl").as_deref(), Some("#!perl binary"));
    assert_eq!(text(&fs, "a/linked").as_deref(), Some("same layer"));
    // Not kept in memory: the hard link is read again from the lower layer's entry.
    let image = open(&format!("oci:{}:t", root.display())).unwrap();
    let lean = RootFs::read(&image.layers, &|_, _| None).unwrap();
    assert_eq!(
        lean.read_file("usr/bin/perl").unwrap().as_deref(),
        Some(&b"#!perl binary"[..])
    );
}

#[test]
fn symlinks_resolve_inside_the_image_root() {
    let dir = tempfile::tempdir().unwrap();
    let fs_layer = layer(&[
        E::File("usr/lib/os-release", b"ID=rtlock-test-image\n"),
        // Debian's own relative link, and an absolute one: both stay in the image.
        E::Symlink("etc/os-release", "../usr/lib/os-release"),
        E::Symlink("abs/os-release", "/etc/os-release"),
        // A chain: c -> b -> a -> file, through a linked directory.
        E::Symlink("lib", "usr/lib"),
        E::Symlink("chain/a", "/lib/os-release"),
        E::Symlink("chain/b", "a"),
        E::Symlink("chain/c", "./b"),
        E::File("etc/passwd", b"imageuser:x:1:1::/:/bin/sh\n"),
        // `..` beyond the root stays at the root, as in a chroot.
        E::Symlink("deep/escape", "../../../../../../../etc/passwd"),
        E::Symlink("deep/shadow", "../../../../../../../etc/shadow"),
        E::Symlink("loop/x", "y"),
        E::Symlink("loop/y", "x"),
    ]);
    let root = layout(dir.path(), &[gz_blob(&fs_layer)]);
    let fs = read_all(&root).unwrap();
    assert_eq!(
        text(&fs, "etc/os-release").as_deref(),
        Some("ID=rtlock-test-image\n")
    );
    assert_eq!(
        text(&fs, "/abs/os-release").as_deref(),
        Some("ID=rtlock-test-image\n")
    );
    assert_eq!(fs.resolve("chain/c").unwrap(), "usr/lib/os-release");
    assert_eq!(
        text(&fs, "chain/c").as_deref(),
        Some("ID=rtlock-test-image\n")
    );
    assert_eq!(
        text(&fs, "deep/escape").as_deref(),
        Some("imageuser:x:1:1::/:/bin/sh\n"),
        "a `..` escape reads the image's /etc/passwd, never the host's"
    );
    assert_eq!(fs.resolve("deep/shadow").unwrap(), "etc/shadow");
    assert_eq!(
        text(&fs, "deep/shadow"),
        None,
        "the host's /etc/shadow is never read"
    );
    let (path, node) = fs.lstat("etc/os-release").unwrap().unwrap();
    assert_eq!(
        (path.as_str(), node.kind),
        ("etc/os-release", Kind::Symlink)
    );
    let err = fs.read_file("loop/x").unwrap_err().to_string();
    assert!(err.contains("too many levels of symbolic links"), "{err}");
}

fn assert_layer_error(result: Result<RootFs, rtlock::image::ImageError>, wanted: &[&str]) {
    let err = result.expect_err("the layer must be refused").to_string();
    for w in wanted {
        assert!(err.contains(w), "error {err:?} should contain {w:?}");
    }
}

#[test]
fn an_entry_with_dotdot_is_refused_naming_layer_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let bad = layer(&[
        E::File("etc/ok", b"x"),
        E::RawName("../../etc/passwd", b"evil"),
    ]);
    let blob = gz_blob(&bad);
    let digest = blob.digest.to_string();
    let root = layout(dir.path(), &[blob]);
    assert_layer_error(
        read_all(&root),
        &[
            "layer 1/1",
            &digest,
            "`../../etc/passwd`",
            "outside the image root",
        ],
    );
}

/// The layers are scanned on several threads at once; the error is still the lowest
/// bad layer's, as one pass bottom first would find it.
#[test]
fn of_several_bad_layers_the_lowest_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = gz_blob(&layer(&[E::File("etc/ok", b"x")]));
    let first_bad = gz_blob(&layer(&[E::RawName("/etc/absolute", b"evil")]));
    let second_bad = gz_blob(&layer(&[E::RawName("../escape", b"evil")]));
    let root = layout(dir.path(), &[good, first_bad, second_bad]);
    let err = read_all(&root)
        .expect_err("the image must be refused")
        .to_string();
    assert!(err.contains("layer 2/3"), "{err}");
    assert!(err.contains("`/etc/absolute`"), "{err}");
    assert!(!err.contains("../escape"), "{err}");
}

#[test]
fn an_absolute_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = layer(&[E::RawName("/etc/passwd", b"evil")]);
    let root = layout(dir.path(), &[gz_blob(&bad)]);
    assert_layer_error(read_all(&root), &["`/etc/passwd`", "absolute path"]);
}

#[test]
fn a_hard_link_out_of_the_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    h.set_path("etc/passwd-link").unwrap();
    h.as_old_mut().linkname[..16].copy_from_slice(b"../../etc/passwd");
    h.set_cksum();
    builder.append(&h, &[][..]).unwrap();
    let root = layout(dir.path(), &[gz_blob(&builder.into_inner().unwrap())]);
    assert_layer_error(read_all(&root), &["`etc/passwd-link`", "hard link target"]);
}

#[test]
fn a_truncated_gzip_layer_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let tar = layer(&[E::File("etc/big", &vec![7u8; 200_000])]);
    let mut blob = gz_blob(&tar);
    blob.bytes.truncate(blob.bytes.len() / 2);
    // The descriptor still names the whole blob: the size check says "truncated".
    let root = layout(dir.path(), &[blob]);
    assert_layer_error(read_all(&root), &["truncated"]);

    // A descriptor that agrees with the short blob: gzip itself finds the cut.
    let dir = tempfile::tempdir().unwrap();
    let mut blob = gz_blob(&tar);
    blob.bytes.truncate(blob.bytes.len() / 2);
    blob.digest = sha(&blob.bytes);
    blob.size = blob.bytes.len() as u64;
    let root = layout(dir.path(), &[blob]);
    assert_layer_error(read_all(&root), &["layer 1/1", "truncated or corrupt"]);
}

#[test]
fn a_layer_whose_digest_does_not_match_its_descriptor_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = layer(&[E::File("etc/x", b"good")]);
    let evil = layer(&[E::File("etc/x", b"evil")]);
    // Same size, other bytes, stored under the good blob's name.
    let mut blob = gz_blob(&good);
    let other = gzip(&evil);
    assert_eq!(other.len(), blob.bytes.len());
    blob.bytes = other;
    let expected = blob.digest.to_string();
    let root = layout(dir.path(), &[blob]);
    assert_layer_error(read_all(&root), &["the blob hashes to", &expected]);

    // Right blob, wrong diff_id in the config.
    let dir = tempfile::tempdir().unwrap();
    let mut blob = gz_blob(&good);
    blob.diff_id = sha(b"something else");
    let root = layout(dir.path(), &[blob]);
    assert_layer_error(read_all(&root), &["diff_id"]);
}

#[test]
fn a_corrupt_layer_is_an_error() {
    // Not a tar at all (an uncompressed media type, so tar sees the bytes).
    let dir = tempfile::tempdir().unwrap();
    let junk: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let blob = Blob {
        digest: sha(&junk),
        size: junk.len() as u64,
        diff_id: sha(&junk),
        media_type: "application/vnd.oci.image.layer.v1.tar",
        bytes: junk.clone(),
    };
    let root = layout(dir.path(), &[blob]);
    assert_layer_error(read_all(&root), &["cannot be read as a tar layer"]);

    // Labelled gzip but not gzip.
    let dir = tempfile::tempdir().unwrap();
    let blob = Blob {
        digest: sha(&junk),
        size: junk.len() as u64,
        diff_id: sha(&junk),
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes: junk,
    };
    let root = layout(dir.path(), &[blob]);
    assert_layer_error(read_all(&root), &["layer 1/1", "truncated or corrupt"]);
}

#[test]
fn zstd_and_uncompressed_layers_read_like_gzip_ones() {
    let dir = tempfile::tempdir().unwrap();
    let a = layer(&[E::File("a", b"zstd")]);
    let b = layer(&[E::File("b", b"plain")]);
    let z = zstd::encode_all(&a[..], 3).unwrap();
    let blobs = [
        Blob {
            digest: sha(&z),
            size: z.len() as u64,
            diff_id: sha(&a),
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd",
            bytes: z,
        },
        Blob {
            digest: sha(&b),
            size: b.len() as u64,
            diff_id: sha(&b),
            media_type: "application/vnd.oci.image.layer.v1.tar",
            bytes: b,
        },
    ];
    let root = layout(dir.path(), &blobs);
    let fs = read_all(&root).unwrap();
    assert_eq!(text(&fs, "a").as_deref(), Some("zstd"));
    assert_eq!(text(&fs, "b").as_deref(), Some("plain"));
}

#[test]
fn an_oci_archive_is_read_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let root = layout(
        dir.path(),
        &[gz_blob(&layer(&[E::File("etc/os-release", b"ID=arch\n")]))],
    );
    let archive = dir.path().join("image.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    builder.append_dir_all(".", &root).unwrap();
    builder.into_inner().unwrap();
    let image = open(&format!("oci-archive:{}:t", archive.display())).unwrap();
    let fs = RootFs::read(&image.layers, &|_, _| None).unwrap();
    assert_eq!(text(&fs, "etc/os-release").as_deref(), Some("ID=arch\n"));
    let err = open(&format!("oci-archive:{}:nope", archive.display()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no image tagged `nope`") && err.contains("t"),
        "{err}"
    );
}

/// A synthetic image with every face the inventory reads, through the command line:
/// `rtlock inspect oci:DIR:t --format json`.
#[test]
fn inspect_reports_every_face_of_a_synthetic_image() {
    let dir = tempfile::tempdir().unwrap();
    let status = b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.31-13+deb11u5\n\n\
Package: r-base-core\nStatus: install ok installed\nArchitecture: amd64\nVersion: 4.0.4-1\n\n\
Package: removed\nStatus: purge ok not-installed\nArchitecture: amd64\nVersion: 1\n";
    let base = layer(&[
        E::File("usr/lib/os-release", b"PRETTY_NAME=\"Test OS 11\"\nID=testos\nVERSION_ID=\"11\"\nVERSION_CODENAME=bull\n"),
        E::Symlink("etc/os-release", "../usr/lib/os-release"),
        E::Symlink("lib", "usr/lib"),
        // glibc before 2.34: libc.so.6 links to libc-2.31.so.
        E::File("usr/lib/x86_64-linux-gnu/libc-2.31.so", b"\x7fELF"),
        E::Symlink("usr/lib/x86_64-linux-gnu/libc.so.6", "libc-2.31.so"),
        E::File("var/lib/dpkg/status", status),
        E::File("etc/apt/sources.list", b"deb http://127.0.0.1:9/debian bull main\n"),
        E::File("etc/apt/sources.list.d/extra.sources", b"Types: deb\nURIs: http://127.0.0.1:9/extra\nSuites: bull\nComponents: main contrib\nSigned-By: /etc/apt/keyrings/extra.gpg\n"),
        E::File("etc/apt/keyrings/extra.gpg", b"key"),
        E::File("usr/share/keyrings/test-archive.gpg", b"key"),
    ]);
    let python = layer(&[
        E::File("usr/local/bin/python3.12", b"\x7fELF"),
        E::Symlink("usr/local/bin/python3", "python3.12"),
        E::File("usr/local/lib/python3.12/os.py", b""),
        E::File("usr/local/include/python3.12/patchlevel.h", b"#define PY_MINOR_VERSION 12\n#define PY_VERSION              \"3.12.7\"\n"),
        E::File("usr/local/lib/python3.12/site-packages/Requests-2.32.3.dist-info/METADATA", b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.32.3\n\nA long description\nName: not-this\n"),
        E::File("usr/local/lib/python3.12/site-packages/Requests-2.32.3.dist-info/INSTALLER", b"pip\n"),
        E::File("usr/local/lib/python3.12/site-packages/legacy-1.0.egg-info", b"Metadata-Version: 1.0\nName: legacy\nVersion: 1.0\n"),
        E::File("etc/pip.conf", b"[global]\nindex-url = http://127.0.0.1:2/simple\nextra-index-url =\n    http://127.0.0.1:3/simple\nuser = true\n"),
    ]);
    let r = layer(&[
        E::File("usr/lib/R/etc/Renviron", b"R_LIBS_SITE=${R_LIBS_SITE-'/usr/local/lib/R/site-library/:/usr/lib/R/site-library:/usr/lib/R/library'}\n"),
        E::File("usr/lib/R/etc/Rprofile.site", b"## options(repos = c(CRAN = \"http://127.0.0.1:4/old\"))\nlocal({\n  r <- getOption(\"repos\")\n  r[\"CRAN\"] <- \"http://127.0.0.1:4/cran/2026-11-01\"\n  options(repos = r)\n})\n"),
        E::File("usr/lib/R/library/base/DESCRIPTION", b"Package: base\nVersion: 4.0.4\nPriority: base\nBuilt: R 4.0.4; ; 2021-02-15; unix\n"),
        E::File("usr/lib/R/library/MASS/DESCRIPTION", b"Package: MASS\nPriority: recommended\nVersion: 7.3-53\n"),
        E::File("usr/lib/R/site-library/data.table/DESCRIPTION", b"Package: data.table\nVersion: 1.14.0\nTitle: Extension of\n  data.frame\n"),
        // What R CMD INSTALL leaves in every installed package; a DESCRIPTION without it
        // (a source tree, an install cut short) is not an installed package.
        E::File("usr/lib/R/library/base/Meta/package.rds", b"rds"),
        E::File("usr/lib/R/library/MASS/Meta/package.rds", b"rds"),
        E::File("usr/lib/R/site-library/data.table/Meta/package.rds", b"rds"),
        E::File("usr/lib/R/site-library/unfinished/DESCRIPTION", b"Package: unfinished\nVersion: 1.0\n"),
    ]);
    let root = layout(dir.path(), &[gz_blob(&base), gz_blob(&python), gz_blob(&r)]);
    let out = assert_cmd::Command::cargo_bin("rtlock")
        .unwrap()
        .args([
            "inspect",
            &format!("oci:{}:t", root.display()),
            "--format",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();

    let os = &json["os"];
    assert_eq!(os["id"], "testos");
    assert_eq!(os["version_id"], "11");
    assert_eq!(os["version_codename"], "bull");
    assert_eq!(os["architecture"], "amd64");
    assert_eq!(os["glibc"]["version"], "2.31");
    assert_eq!(
        os["glibc"]["source"],
        "/usr/lib/x86_64-linux-gnu/libc-2.31.so"
    );

    let apt = &json["apt"];
    assert_eq!(apt["sources"].as_array().unwrap().len(), 2);
    assert_eq!(apt["sources"][0]["format"], "one-line");
    assert_eq!(apt["sources"][1]["format"], "deb822");
    assert_eq!(
        apt["sources"][1]["components"],
        serde_json::json!(["main", "contrib"])
    );
    assert_eq!(
        apt["sources"][1]["signed_by"],
        serde_json::json!(["/etc/apt/keyrings/extra.gpg"])
    );
    assert_eq!(
        apt["keyrings"],
        serde_json::json!([
            "/etc/apt/keyrings/extra.gpg",
            "/usr/share/keyrings/test-archive.gpg"
        ])
    );
    let names: Vec<&str> = apt["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["libc6", "r-base-core"]);

    let py = &json["python"];
    assert_eq!(py["interpreters"].as_array().unwrap().len(), 1);
    let i = &py["interpreters"][0];
    assert_eq!(i["path"], "/usr/local/bin/python3.12");
    assert_eq!(i["aliases"], serde_json::json!(["/usr/local/bin/python3"]));
    assert_eq!(i["version"], "3.12.7");
    assert_eq!(i["purelib"], "/usr/local/lib/python3.12/site-packages");
    assert_eq!(i["dist_packages"], serde_json::Value::Null);
    // PIP_INDEX_URL in the image env wins over /etc/pip.conf, as with pip.
    assert_eq!(py["pip"]["index_url"], "http://127.0.0.1:1/simple");
    assert_eq!(
        py["pip"]["extra_index_urls"],
        serde_json::json!(["http://127.0.0.1:3/simple"])
    );
    assert_eq!(py["pip"]["files"][0]["path"], "/etc/pip.conf");
    assert_eq!(py["pip"]["files"][0]["settings"]["global.user"], "true");
    let dists: Vec<(String, String)> = py["distributions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().into(),
                d["version"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        dists,
        [
            ("legacy".to_string(), "1.0".to_string()),
            ("Requests".into(), "2.32.3".into())
        ]
    );
    assert_eq!(py["distributions"][1]["installer"], "pip");

    let r = &json["r"][0];
    assert_eq!(r["home"], "/usr/lib/R");
    assert_eq!(r["version"], "4.0.4");
    // /usr/local/lib/R/site-library does not exist in the image, so R drops it too.
    assert_eq!(
        r["library_paths"],
        serde_json::json!(["/usr/lib/R/site-library", "/usr/lib/R/library"])
    );
    assert_eq!(
        r["repos"],
        serde_json::json!([{"name": "CRAN", "url": "http://127.0.0.1:4/cran/2026-11-01"}])
    );
    let pkgs: Vec<&str> = r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(pkgs, ["data.table", "MASS", "base"]);

    // The text form names the same facts.
    let out = assert_cmd::Command::cargo_bin("rtlock")
        .unwrap()
        .args(["inspect", &format!("oci:{}:t", root.display())])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for needle in [
        "Test OS 11",
        "glibc         2.31",
        "/usr/local/bin/python3.12 3.12.7",
        "data.table",
        "CRAN=http://127.0.0.1:4/cran/2026-11-01",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn inspect_of_a_bad_source_says_what_to_write() {
    let out = assert_cmd::Command::cargo_bin("rtlock")
        .unwrap()
        .args(["inspect", "oci:/nonexistent/rtlock-layout:x"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("not an OCI image layout"), "{err}");
}

/// Rewrites a layout's `index.json` so that its tag names an image index holding the
/// image for `platform` and, for another platform, a manifest that does not exist (it
/// must never be read). Returns the nested index.
fn nest_in_index(root: &Path, platform: (&str, &str)) -> Vec<u8> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap();
    let mut manifest = index["manifests"][0].clone();
    manifest.as_object_mut().unwrap().remove("annotations");
    manifest["platform"] = serde_json::json!({"os": platform.0, "architecture": platform.1});
    let other = serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(b"not here").to_string(), "size": 8,
        "platform": {"os": "linux", "architecture": "s390x"},
    });
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [other, manifest],
    }))
    .unwrap();
    retag(root, &nested, "application/vnd.oci.image.index.v1+json");
    nested
}

#[test]
fn a_multi_platform_layout_opens_the_image_for_the_platform() {
    let dir = tempfile::tempdir().unwrap();
    let root = layout(
        dir.path(),
        &[gz_blob(&layer(&[E::File("etc/hostname", b"amd64\n")]))],
    );
    nest_in_index(&root, ("linux", "amd64"));
    let fs = read_all(&root).unwrap();
    assert_eq!(text(&fs, "etc/hostname").as_deref(), Some("amd64\n"));

    let dir = tempfile::tempdir().unwrap();
    let root = layout(dir.path(), &[gz_blob(&layer(&[E::File("a", b"")]))]);
    nest_in_index(&root, ("linux", "arm64"));
    let err = open(&format!("oci:{}:t", root.display()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no image for linux/amd64") && err.contains("linux/arm64"),
        "{err}"
    );
}

/// Points the layout's tag at `document` under the descriptor media type `declared`.
fn retag(root: &Path, document: &[u8], declared: &str) {
    std::fs::write(
        root.join("blobs/sha256").join(sha(document).hex()),
        document,
    )
    .unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": declared, "digest": sha(document).to_string(),
                       "size": document.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "t"}}],
    });
    std::fs::write(root.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
}

/// The document's own `mediaType` decides what it is, as for a manifest from a registry
/// or the cache: a descriptor that calls an index a manifest (the layout used to believe
/// the descriptor and fail to parse an index as a manifest) still opens the image.
#[test]
fn a_layout_reads_a_document_by_its_own_media_type() {
    let dir = tempfile::tempdir().unwrap();
    let root = layout(
        dir.path(),
        &[gz_blob(&layer(&[E::File("etc/hostname", b"doc\n")]))],
    );
    let nested = nest_in_index(&root, ("linux", "amd64"));
    retag(&root, &nested, "application/vnd.oci.image.manifest.v1+json");
    let fs = read_all(&root).unwrap();
    assert_eq!(text(&fs, "etc/hostname").as_deref(), Some("doc\n"));
}

/// Without a `mediaType`, a manifest is known by its two required fields, `config` and
/// `layers`: a document with only `config` is neither (the layout used to take any JSON
/// for a manifest), and the error says which blob and what it is not.
#[test]
fn a_layout_document_of_no_known_shape_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = layout(dir.path(), &[gz_blob(&layer(&[E::File("a", b"")]))]);
    let document = br#"{"schemaVersion":2,"config":{}}"#;
    retag(&root, document, "application/json");
    let err = open(&format!("oci:{}:t", root.display()))
        .unwrap_err()
        .to_string()
        .replace(&root.display().to_string(), "[layout]");
    insta::assert_snapshot!(err);
}

/// Hashes what is written through it (the diff_id of a tar streamed into gzip).
struct Tee<W: Write> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A gzip layer holding one file of `size` zero bytes at `path` (plus os-release), made
/// without ever holding the tar in memory.
fn big_file_blob(path: &str, size: u64) -> Blob {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(Tee {
        inner: gz,
        hasher: Sha256::new(),
    });
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(size);
    builder
        .append_data(&mut h, path, std::io::Read::take(std::io::repeat(0), size))
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(8);
    builder
        .append_data(&mut h, "etc/os-release", &b"ID=big\n\n"[..])
        .unwrap();
    let tee = builder.into_inner().unwrap();
    let diff_id = Digest::from_sha256(&tee.hasher.finalize().into());
    let bytes = tee.inner.finish().unwrap();
    Blob {
        digest: sha(&bytes),
        size: bytes.len() as u64,
        diff_id,
        media_type: "application/vnd.oci.image.layer.v1.tar+gzip",
        bytes,
    }
}

/// Peak resident memory of a child process, in KiB: its `VmHWM`, polled until it exits
/// (the last value read is the peak up to then).
fn run_measuring_peak(cmd: &mut std::process::Command) -> (std::process::Output, u64) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(&status_file)
                    && let Some(kb) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let output = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.join().unwrap();
    (output, peak.load(std::sync::atomic::Ordering::Relaxed))
}

#[test]
fn memory_does_not_grow_with_layer_size() {
    const SIZE: u64 = 256 << 20;
    let dir = tempfile::tempdir().unwrap();
    let root = layout(dir.path(), &[big_file_blob("usr/share/big.bin", SIZE)]);
    let (out, peak_kib) = run_measuring_peak(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("rtlock")).args([
            "inspect",
            &format!("oci:{}:t", root.display()),
            "--format",
            "json",
        ]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["os"]["id"], "big");
    eprintln!("inspect of a {SIZE}-byte layer: peak {peak_kib} KiB");
    assert!(peak_kib > 0, "could not measure the peak");
    assert!(
        peak_kib < 100 * 1024,
        "reading a {SIZE}-byte layer peaked at {peak_kib} KiB"
    );
}

#[test]
fn a_file_too_large_to_read_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let size = rtlock::image::rootfs::MAX_KEPT + 1;
    let root = layout(dir.path(), &[big_file_blob("var/lib/dpkg/status", size)]);
    let fs = read_all(&root).unwrap();
    let err = fs.read_file("var/lib/dpkg/status").unwrap_err().to_string();
    assert!(
        err.contains("/var/lib/dpkg/status") && err.contains("more than rtlock reads"),
        "{err}"
    );
}
