//! The cache never decides the digest (issue 11, points 1, 2 and 5): a cached layer is
//! found only by everything that decides its bytes; a corrupt cache entry is never
//! published (found by its stamp on the way in, or by the hash every output takes as
//! it copies); and a build never quietly leaves out the step that needs a Docker Engine.
//!
//! Real parts throughout: the bed's registry and base images, real `.deb` files
//! (`apt-get download`, served on 127.0.0.1), real wheels from the bed's local index,
//! the real Docker Engine for the maintainer scripts, `gzip -t` and `tar` as checkers.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::apt_repo::{deb_field, debs};
use common::cli::{rtlock, rtlock_env, stderr};
use common::pip_index::{PipIndex, exact};
use common::server::StaticServer;
use common::testbed::{lock_header, testbed};
use rtlock::lockfile::Lockfile;
use rtlock::oci::Digest;
use rtlock::{apt::layer as apt, pip::layer as pip};
use sha2::{Digest as _, Sha256};

/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;
/// tree (no scripts), procps (maintainer scripts) and the library procps needs, which
/// the python base does not have.
const APT: [&str; 3] = ["tree", "procps", "libproc2-0"];
const SIX: &str = "1.17.0";

// ------------------------------------------------------------------ fixtures

struct Fixture {
    index: PipIndex,
    /// `pool/*.deb` and `moved/…` copies, served by `server`.
    served: tempfile::TempDir,
    server: StaticServer,
    /// The `[[apt]]` blocks of the APT packages, served from `pool/`.
    apt_blocks: String,
    /// Where the locks of six are written (kept for the test binary's lifetime).
    locks: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let index = PipIndex::start(&[exact("six", &[SIX])]);
        let served = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(served.path().join("pool")).unwrap();
        let server = StaticServer::start(served.path());
        let mut apt_blocks = String::new();
        for deb in debs(&APT) {
            let (name, version, arch) = (
                deb_field(&deb, "Package"),
                deb_field(&deb, "Version"),
                deb_field(&deb, "Architecture"),
            );
            // As a pool names it: no epoch (apt-get download writes it as `%3a`).
            let plain = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
            let filename = format!("pool/{name}_{plain}_{arch}.deb");
            std::fs::copy(&deb, served.path().join(&filename)).unwrap();
            let bytes = std::fs::read(&deb).unwrap();
            apt_blocks.push_str(&format!(
                "\n[[apt]]\nname = \"{name}\"\nversion = \"{version}\"\narch = \"{arch}\"\nurl = \"{}\"\n\
                 filename = \"{filename}\"\nsha256 = \"{}\"\nsize = {}\nrequested = true\n",
                server.url(&filename),
                hex::encode(Sha256::digest(&bytes)),
                bytes.len(),
            ));
        }
        Fixture {
            index,
            served,
            server,
            apt_blocks,
            locks: tempfile::tempdir().unwrap(),
        }
    })
}

/// The lock `rtlock lock` writes for `six` on the python base, with
/// `SOURCE_DATE_EPOCH=sde` when given: its text.
fn six_lock(sde: Option<i64>) -> String {
    let fixture = fixture();
    let dir = fixture.locks.path().join(format!(
        "six-{}",
        sde.map_or("none".into(), |s| s.to_string())
    ));
    let lock = dir.join("runtime.lock");
    if let Ok(text) = std::fs::read_to_string(&lock) {
        return text;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("runtime.toml");
    std::fs::write(
        &manifest,
        format!(
            "[base]\nimage = \"{}\"\n[pip]\npackages = [\"six\"]\nindex-url = \"{}\"\n",
            testbed().image_python,
            fixture.index.url()
        ),
    )
    .unwrap();
    let sde_text = sde.map(|s| s.to_string());
    let env: Vec<(&str, &str)> = sde_text
        .as_deref()
        .map(|s| ("SOURCE_DATE_EPOCH", s))
        .into_iter()
        .collect();
    let out = rtlock_env(
        &dir.join("cache"),
        &[
            "lock",
            "-m",
            manifest.to_str().unwrap(),
            "-o",
            lock.to_str().unwrap(),
        ],
        &env,
    );
    assert!(out.status.success(), "rtlock lock: {}", stderr(&out));
    std::fs::read_to_string(&lock).unwrap()
}

/// A lock of the bed's `image` with the APT packages and no pip.
fn apt_lock(image: &str, packages: &[&str]) -> String {
    let mut text = lock_header(image, EPOCH);
    for block in fixture().apt_blocks.split("\n[[apt]]\n").skip(1) {
        let name = block.lines().next().unwrap();
        if packages.iter().any(|p| name == format!("name = \"{p}\"")) {
            text.push_str(&format!("\n[[apt]]\n{block}"));
        }
    }
    text
}

/// Writes `text` as a lock file in a new directory under `root`; its path.
fn write_lock(root: &Path, name: &str, text: &str) -> PathBuf {
    let path = root.join(format!("{name}.lock"));
    std::fs::write(&path, text).unwrap();
    path
}

// ------------------------------------------------------------------ builds

/// What a build printed with `--format json`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Built {
    digest: String,
    /// (digest, diff_id) of every layer, bottom first.
    layers: Vec<(String, String)>,
}

/// `rtlock build -l LOCK --format json ARGS…` with `cache`: what it built, or its
/// standard error when it failed.
fn build(cache: &Path, lock: &Path, args: &[&str]) -> Result<Built, String> {
    let mut all = vec!["build", "-l", lock.to_str().unwrap(), "--format", "json"];
    all.extend(args);
    let out = rtlock(cache, &all);
    if !out.status.success() {
        return Err(stderr(&out));
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("build --format json: {e}\n{}", stderr(&out)));
    let layers = json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["digest"].as_str().unwrap().to_string(),
                l["diff_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    Ok(Built {
        digest: json["digest"].as_str().unwrap().to_string(),
        layers,
    })
}

fn built(cache: &Path, lock: &Path, args: &[&str]) -> Built {
    build(cache, lock, args).unwrap_or_else(|e| panic!("build of {}: {e}", lock.display()))
}

/// `cp -al FROM TO`: a cache that starts as `from` is, without copying its blobs (every
/// write to a cache is a new file renamed into place, so the two never share a change).
fn copy_cache(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-al")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success(), "cp -al: {}", stderr(&out));
}

/// A cache holding only the fetch cache's blobs of `warm` (base layers, debs, wheels):
/// no layer of rtlock's, so a build in it is a fresh build, without downloading again.
fn fresh_cache(warm: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    copy_cache(&warm.join("blobs"), &to.join("blobs"));
}

// ------------------------------------------------------------------ outputs

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// Every blob of the OCI layout at `dir` hashes to its name, and every gzip blob
/// passes `gzip -t`; how many blobs there are.
fn assert_layout_blobs_intact(dir: &Path) -> usize {
    let blobs = dir.join("blobs/sha256");
    let mut count = 0;
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            sha256_file(&path),
            name,
            "{} hashes to another name",
            path.display()
        );
        if std::fs::read(&path).unwrap().starts_with(&[0x1f, 0x8b]) {
            let out = Command::new("gzip").arg("-t").arg(&path).output().unwrap();
            assert!(out.status.success(), "gzip -t {name}: {}", stderr(&out));
        }
        count += 1;
    }
    count
}

/// [`assert_layout_blobs_intact`] for the archive at `path` (unpacked with tar).
fn assert_archive_blobs_intact(path: &Path) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(path)
        .arg("-C")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -xf: {}", stderr(&out));
    assert_layout_blobs_intact(dir.path())
}

/// Flips one byte in the middle of `path`, keeping its size.
fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

/// Bit rot: `path` corrupted (one byte, same size) and its stamp rewritten to match
/// the file as it now is, as if it had been verified so: only a hash of the bytes
/// can tell.
fn rot(path: &Path, stamps: &Path) {
    let sha256 = sha256_file(path);
    flip_a_byte(path);
    rtlock::fetch::Stamps::new(stamps).record(path, &sha256);
    assert!(rtlock::fetch::Stamps::new(stamps).is_trusted(path, &sha256));
}

/// The file of the blob `digest` in a cache: the layer cache's (rtlock's layers, by
/// diff_id) or the fetch cache's (base layers, by digest).
fn cached_layer(cache: &Path, (digest, diff_id): &(String, String)) -> PathBuf {
    let hex = |d: &str| d.strip_prefix("sha256:").unwrap().to_string();
    let layer = cache.join("layers/gzip").join(hex(diff_id));
    if layer.is_file() {
        return layer;
    }
    let blob = cache
        .join("blobs/sha256")
        .join(&hex(digest)[..2])
        .join(hex(digest));
    assert!(blob.is_file(), "{digest} is in neither cache");
    blob
}

// ------------------------------------------------------------------ point 1

/// The reproduction: two locks of six that differ only in source-date-epoch,
/// the second built with the cache of the first, gets the digest a fresh build gets,
/// and `build --check` agrees with `build`.
#[test]
fn a_cache_of_another_source_date_epoch_gives_the_fresh_digest() {
    let root = tempfile::tempdir().unwrap();
    let first_text = six_lock(None);
    let second_text = six_lock(Some(1_700_000_000));
    let differing: Vec<(&str, &str)> = first_text
        .lines()
        .zip(second_text.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(differing.len(), 1, "{differing:?}");
    assert!(
        differing[0].1.starts_with("source-date-epoch = 1700000000"),
        "{differing:?}"
    );
    let first = write_lock(root.path(), "first", &first_text);
    let second = write_lock(root.path(), "second", &second_text);

    let shared = root.path().join("shared");
    built(&shared, &first, &[]);
    let cached = built(&shared, &second, &[]);
    let fresh = built(&root.path().join("fresh"), &second, &[]);
    assert_eq!(cached.digest, fresh.digest, "the cache decided the digest");
    let check = built(&root.path().join("check"), &second, &["--check"]);
    assert_eq!(
        check.digest, cached.digest,
        "build --check and build disagree"
    );
}

/// What a change of one lock field must do to a fresh build's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The field does not decide layer bytes (a location, a config-only field).
    Same,
    /// The field decides the bytes: the layer is another, or the build refuses the
    /// lock (a pin that no longer matches its artifact, a value this rtlock refuses).
    Changes,
    /// The build refuses the changed lock.
    Refused,
    /// A field the artifact itself says too (a .deb's architecture): the layer is made
    /// from the artifact's value, so it stays as it was, unless the build refuses an
    /// entry that disagrees with its artifact (issue 11, point 4).
    FromArtifact,
}

type Change = Box<dyn Fn(&mut toml::Table)>;

/// The `[[kind]]` entry named `name` of a lock table.
fn entry<'a>(lock: &'a mut toml::Table, kind: &str, name: &str) -> &'a mut toml::Table {
    lock[kind]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .map(|e| e.as_table_mut().unwrap())
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no [[{kind}]] {name}"))
}

fn set(table: &mut toml::Table, key: &str, value: impl Into<toml::Value>) {
    table.insert(key.to_string(), value.into());
}

fn image(lock: &mut toml::Table) -> &mut toml::Table {
    lock.entry("image")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .unwrap()
}

/// A row of a field table: the field, its change, what the change must do.
type Row = (String, Change, Expect);

fn row(field: &str, change: impl Fn(&mut toml::Table) + 'static, expect: Expect) -> Row {
    (field.to_string(), Box::new(change), expect)
}

/// Every field of a lock (top level, [base], [image], [[apt]], [[pip]]) with a change.
fn field_table() -> Vec<Row> {
    use Expect::*;
    let mut rows = vec![
        row("version", |l| set(l, "version", 2), Refused),
        row("manifest", |l| set(l, "manifest", digest('1')), Same),
        row("source-date-epoch", later_epoch, Changes),
        row("as-of", |l| set(l, "as-of", "2025-10-01T00:00:00Z"), Same),
        row(
            "[base] reference",
            |l| {
                let base = l["base"].as_table_mut().unwrap();
                let reference = base["reference"].as_str().unwrap().to_string();
                let (name, _) = reference.rsplit_once(':').unwrap();
                set(base, "reference", format!("{name}:another-tag"))
            },
            Same,
        ),
        row(
            "[base] digest",
            |l| set(base_of(l), "digest", digest('2')),
            Same,
        ),
        row(
            "[base] manifest",
            |l| set(base_of(l), "manifest", digest('3')),
            Refused,
        ),
        row(
            "[base] platform",
            |l| set(base_of(l), "platform", "linux/arm64"),
            Refused,
        ),
        row(
            "[image] env",
            |l| {
                set(
                    image(l),
                    "env",
                    toml::Table::from_iter([("TZ".into(), "UTC".into())]),
                )
            },
            Same,
        ),
        row(
            "[image] labels",
            |l| {
                set(
                    image(l),
                    "labels",
                    toml::Table::from_iter([("a".into(), "b".into())]),
                )
            },
            Same,
        ),
        row("[image] user", |l| set(image(l), "user", "8536"), Same),
        row(
            "[image] workdir",
            |l| set(image(l), "workdir", "/home/cdsw"),
            Same,
        ),
        row(
            "[image] entrypoint",
            |l| set(image(l), "entrypoint", vec!["/bin/sh"]),
            Same,
        ),
        row(
            "[image] cmd",
            |l| set(image(l), "cmd", vec!["-c", "true"]),
            Same,
        ),
        row(
            "[image] compression",
            |l| set(image(l), "compression", "zstd"),
            Changes,
        ),
        row(
            "[[apt]] arch",
            |l| set(entry(l, "apt", "tree"), "arch", "arm64"),
            FromArtifact,
        ),
        row(
            "[[apt]] filename",
            |l| {
                // Another directory of the archive: the file's name must stay the entry's.
                let tree = entry(l, "apt", "tree");
                let moved = format!("elsewhere/{}", tree["filename"].as_str().unwrap());
                set(tree, "filename", moved)
            },
            Same,
        ),
        row(
            "[[pip]] file",
            |l| {
                let six = entry(l, "pip", "six");
                let file = six["file"].as_str().unwrap().replace("py2.py3", "py3");
                set(six, "file", file)
            },
            FromArtifact,
        ),
    ];
    rows.push(row("[[apt]] (an entry less)", without_tree, Changes));
    // dpkg's database gets the package's name (its info files are named so) but the
    // version its control file says; `requested` is not written into an apt layer, while
    // a pip layer has a `REQUESTED` file.
    let apt = EntryExpect {
        name: Changes,
        version: FromArtifact,
        requested: Same,
    };
    rows.extend(entry_rows("apt", "tree", apt));
    // A wheel's dist-info is named by the wheel itself.
    let pip = EntryExpect {
        name: FromArtifact,
        version: FromArtifact,
        requested: Changes,
    };
    rows.extend(entry_rows("pip", "six", pip));
    rows
}

/// `[base]` of a lock table.
fn base_of(lock: &mut toml::Table) -> &mut toml::Table {
    lock["base"].as_table_mut().unwrap()
}

/// `sha256:` and 64 times `c`.
fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// A day later.
fn later_epoch(lock: &mut toml::Table) {
    let epoch = lock["source-date-epoch"].as_integer().unwrap();
    set(lock, "source-date-epoch", epoch + 86_400)
}

/// Removes the `[[apt]]` entry `tree`.
fn without_tree(lock: &mut toml::Table) {
    lock["apt"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["name"].as_str() != Some("tree"));
}

/// What a change of an entry's name, version and `requested` must do.
struct EntryExpect {
    name: Expect,
    version: Expect,
    requested: Expect,
}

/// The rows of the fields `[[apt]]` and `[[pip]]` entries share, for the entry `name`
/// of `kind`.
fn entry_rows(kind: &'static str, name: &'static str, expect: EntryExpect) -> Vec<Row> {
    use Expect::*;
    let field = move |f: &str| format!("[[{kind}]] {f}");
    vec![
        row(
            &field("name"),
            move |l| set(entry(l, kind, name), "name", format!("{name}-renamed")),
            expect.name,
        ),
        row(
            &field("version"),
            move |l| set(entry(l, kind, name), "version", "9.9.9"),
            expect.version,
        ),
        row(
            &field("url"),
            move |l| {
                // The same file, served from another directory.
                let e = entry(l, kind, name);
                let file = e
                    .get("file")
                    .or(e.get("filename"))
                    .unwrap()
                    .as_str()
                    .unwrap();
                let file = file.rsplit('/').next().unwrap().to_string();
                set(
                    e,
                    "url",
                    fixture().server.url(&format!("moved/{file}")).to_string(),
                )
            },
            Same,
        ),
        row(
            &field("sha256"),
            move |l| set(entry(l, kind, name), "sha256", "4".repeat(64)),
            Refused,
        ),
        row(
            &field("size"),
            move |l| {
                let e = entry(l, kind, name);
                let size = e["size"].as_integer().unwrap();
                set(e, "size", size + 1)
            },
            Refused,
        ),
        row(
            &field("requested"),
            move |l| set(entry(l, kind, name), "requested", false),
            expect.requested,
        ),
        row(
            &field("requires"),
            move |l| set(entry(l, kind, name), "requires", vec!["libc6"]),
            Same,
        ),
    ]
}

/// The names the layer cache files rtlock's layers of `lock` under (apt files, apt
/// scripts, pip: their keys with the lock's compression), the pip one made on the apt
/// layer of diff_id `apt`.
fn keys(lock: &Path, apt_diff_id: &str) -> [String; 3] {
    let lock = Lockfile::read(lock).unwrap();
    let compression = lock.image.compression;
    let apt_diff_id: Digest = apt_diff_id.parse().unwrap();
    [
        apt::layer_inputs(&lock).key(),
        apt::scripts_inputs(&lock, apt::CONTAINER_CONFIGURE).key(),
        pip::layer_inputs(&lock, &[apt_diff_id]).key(),
    ]
    .map(|key| key.with_compression(compression))
}

/// A lock the field table changes, built once with a cache of its own.
struct Original {
    root: PathBuf,
    table: toml::Table,
    /// The cache of its build: what a cached build of a changed lock starts from.
    warm: PathBuf,
    first: Built,
    /// How many base layers come before rtlock's.
    ours: usize,
    /// For each of rtlock's layers, bottom first, the index of its key in [`keys`].
    key_of_layer: Vec<usize>,
    keys: [String; 3],
    args: Vec<&'static str>,
}

impl Original {
    fn build(root: &Path, text: &str, key_of_layer: Vec<usize>, args: &[&'static str]) -> Original {
        let lock = write_lock(root, "original", text);
        let warm = root.join("original-cache");
        let first = built(&warm, &lock, args);
        let ours = first.layers.len() - key_of_layer.len();
        Original {
            root: root.to_path_buf(),
            table: toml::from_str(text).unwrap(),
            keys: keys(&lock, &first.layers[ours].1),
            warm,
            first,
            ours,
            key_of_layer,
            args: args.to_vec(),
        }
    }

    /// Row `n` of a field table: the changed lock built fresh (a cache holding only
    /// fetched files) and then with a copy of the original's cache. Checks `expect`;
    /// that a changed layer has a changed key; that the cached build is the fresh one.
    /// Which of rtlock's layers changed, or `None` when the build refused the lock.
    fn check(&self, n: usize, field: &str, change: Change, expect: Expect) -> Option<Vec<usize>> {
        let mut changed = self.table.clone();
        change(&mut changed);
        assert_ne!(changed, self.table, "{field}: the change changes nothing");
        let text = toml::to_string(&changed).unwrap();
        let lock = write_lock(&self.root, &format!("case-{n}"), &text);
        let fresh_cache_dir = self.root.join(format!("fresh-{n}"));
        fresh_cache(&self.warm, &fresh_cache_dir);
        let fresh = match build(&fresh_cache_dir, &lock, &self.args) {
            Ok(fresh) => fresh,
            Err(e) => {
                assert_ne!(
                    expect,
                    Expect::Same,
                    "{field}: the changed lock does not build: {e}"
                );
                return None;
            }
        };
        assert_ne!(expect, Expect::Refused, "{field}: the changed lock builds");
        let (first, ours) = (&self.first, self.ours);
        assert_eq!(fresh.layers.len(), first.layers.len(), "{field}");
        assert_eq!(
            fresh.layers[..ours],
            first.layers[..ours],
            "{field}: the base layers changed"
        );
        let changed_layers: Vec<usize> = (0..self.key_of_layer.len())
            .filter(|&i| fresh.layers[ours + i] != first.layers[ours + i])
            .collect();
        match expect {
            Expect::Same | Expect::FromArtifact => assert!(
                changed_layers.is_empty(),
                "{field} changed layers {changed_layers:?} of a fresh build"
            ),
            _ => assert!(!changed_layers.is_empty(), "{field}: no layer changed"),
        }
        let changed_keys = keys(&lock, &fresh.layers[ours].1);
        for &i in &changed_layers {
            let key = self.key_of_layer[i];
            assert_ne!(
                changed_keys[key], self.keys[key],
                "{field} changed layer {i} but not its key"
            );
        }
        // A cache that holds the original's layers (and everything else it fetched).
        let cache = self.root.join(format!("cached-{n}"));
        copy_cache(&self.warm, &cache);
        let cached = built(&cache, &lock, &self.args);
        assert_eq!(
            cached, fresh,
            "{field}: the original's cache decided the image"
        );
        Some(changed_layers)
    }
}

/// For every lock field: a real fresh build of the changed lock, compared with the
/// original's. A change that changes a layer changes that layer's key, and the changed
/// lock built with a cache holding the original's layers gets the fresh digest; a field
/// that does not decide layer bytes leaves every layer digest as it was. Without an
/// engine: the apt files layer and the pip layer (the scripts layer: below).
#[test]
fn every_lock_field_that_decides_a_layer_is_in_its_key() {
    let root = tempfile::tempdir().unwrap();
    let fixture = fixture();
    // The moved copies the location-only changes point to.
    let moved = fixture.served.path().join("moved");
    std::fs::create_dir_all(&moved).unwrap();
    for entry in std::fs::read_dir(fixture.served.path().join("pool")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, moved.join(path.file_name().unwrap())).unwrap();
    }
    let text = format!("{}{}", six_lock(None), fixture.apt_blocks);
    // rtlock's layers: apt files (key 0), pip (key 2).
    let original = Original::build(root.path(), &text, vec![0, 2], &["--no-daemon"]);
    let six = Lockfile::read(&write_lock(root.path(), "six", &text))
        .unwrap()
        .pip[0]
        .clone();
    let wheel = original
        .warm
        .join("blobs/sha256")
        .join(&six.sha256[..2])
        .join(&six.sha256);
    std::fs::copy(&wheel, moved.join(&six.file)).unwrap();

    let mut report = Vec::new();
    for (n, (field, change, expect)) in field_table().into_iter().enumerate() {
        let outcome = original.check(n, &field, change, expect);
        report.push(format!("{field}: {outcome:?}"));
    }
    eprintln!("changed layers (None: refused):\n{}", report.join("\n"));
}

/// The scripts layer, made in the Docker Engine: its key holds what the apt layer's
/// does and how the scripts ran; a change that changes it changes its key, and a cache
/// of the original gives the fresh digest; a config-only change leaves it.
#[test]
fn the_scripts_layer_key_holds_what_decides_it() {
    let root = tempfile::tempdir().unwrap();
    let text = apt_lock(&testbed().image_python, &APT);
    // rtlock's layers: apt files (key 0), the scripts' changes (key 1).
    let original = Original::build(root.path(), &text, vec![0, 1], &[]);
    let cases = vec![
        row("source-date-epoch", later_epoch, Expect::Changes),
        row("[[apt]] (an entry less)", without_tree, Expect::Changes),
        row(
            "[[apt]] requested",
            |l| set(entry(l, "apt", "procps"), "requested", false),
            Expect::Same,
        ),
        row(
            "[image] user",
            |l| set(image(l), "user", "8536"),
            Expect::Same,
        ),
    ];
    for (n, (field, change, expect)) in cases.into_iter().enumerate() {
        let changed = original.check(n, &field, change, expect);
        if expect == Expect::Changes {
            assert!(
                changed.unwrap().contains(&1),
                "{field}: the scripts layer is the same"
            );
        }
    }
}

/// Every kind of lock the bed makes, built with an empty cache and with caches that
/// already hold the other locks' layers (built in one order into one cache, in the
/// other order into another, so each lock comes after every other once): one digest.
#[test]
fn a_cache_of_other_locks_never_changes_a_digest() {
    let root = tempfile::tempdir().unwrap();
    let bed = testbed();
    let six = six_lock(None);
    let locks: Vec<(&str, String, &[&str])> = vec![
        (
            "minimal base, no packages",
            lock_header(&bed.image_minimal, EPOCH),
            &[],
        ),
        (
            "python base, no packages",
            lock_header(&bed.image_python, EPOCH),
            &[],
        ),
        ("python base, six", six.clone(), &[]),
        (
            "python base, six, another epoch",
            six_lock(Some(1_700_000_000)),
            &[],
        ),
        (
            "minimal base, tree",
            apt_lock(&bed.image_minimal, &["tree"]),
            &["--no-daemon"],
        ),
        (
            "python base, tree",
            apt_lock(&bed.image_python, &["tree"]),
            &["--no-daemon"],
        ),
        (
            "python base, apt, no engine",
            apt_lock(&bed.image_python, &APT),
            &["--no-daemon"],
        ),
        (
            "python base, apt, scripts run",
            apt_lock(&bed.image_python, &APT),
            &[],
        ),
        (
            "python base, apt and six",
            format!("{six}{}", fixture().apt_blocks),
            &["--no-daemon"],
        ),
    ];
    let paths: Vec<PathBuf> = locks
        .iter()
        .enumerate()
        .map(|(n, (_, text, _))| write_lock(root.path(), &format!("lock-{n}"), text))
        .collect();
    let fresh: Vec<Built> = locks
        .iter()
        .zip(&paths)
        .enumerate()
        .map(|(n, ((_, _, args), path))| built(&root.path().join(format!("fresh-{n}")), path, args))
        .collect();
    for (order, cache) in [
        ("forward", "shared-forward"),
        ("backward", "shared-backward"),
    ] {
        let cache = root.path().join(cache);
        let mut indices: Vec<usize> = (0..locks.len()).collect();
        if order == "backward" {
            indices.reverse();
        }
        for i in indices {
            let (what, _, args) = &locks[i];
            let shared = built(&cache, &paths[i], args);
            assert_eq!(shared, fresh[i], "{what}, built {order} in a shared cache");
        }
    }
}

// ------------------------------------------------------------------ point 2

/// A lock with a layer of rtlock's (the pip layer of six) on the python base.
fn six_lock_file(root: &Path) -> PathBuf {
    write_lock(root, "six", &six_lock(None))
}

/// Builds `lock` with `cache` to a new OCI layout and a new docker archive, and checks
/// every blob of both; the digest.
fn build_and_check_outputs(root: &Path, cache: &Path, lock: &Path, name: &str) -> String {
    let layout = root.join(format!("{name}-layout"));
    let archive = root.join(format!("{name}.tar"));
    let out = rtlock(
        cache,
        &[
            "build",
            "-l",
            lock.to_str().unwrap(),
            "-o",
            &format!("oci:{}", layout.display()),
            "-o",
            &format!("docker-archive:{}", archive.display()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(assert_layout_blobs_intact(&layout) > 2);
    assert!(assert_archive_blobs_intact(&archive) > 2);
    common::cli::last_line(&out)
}

/// The reproduction: one byte flipped (same size) in a cached layer of rtlock's
/// and in a cached base layer. The changed file no longer matches its stamp, so it is
/// hashed, found corrupt and made again (the layer rebuilt, the base layer downloaded
/// again): the outputs hold only blobs that hash to their names.
#[test]
fn a_flipped_byte_in_a_cached_layer_is_never_published() {
    let root = tempfile::tempdir().unwrap();
    let lock = six_lock_file(root.path());
    let cache = root.path().join("cache");
    let first = built(&cache, &lock, &[]);
    let digest = build_and_check_outputs(root.path(), &cache, &lock, "clean");
    assert_eq!(digest, first.digest);

    let ours = cached_layer(&cache, first.layers.last().unwrap());
    assert!(
        ours.starts_with(cache.join("layers/gzip")),
        "{}",
        ours.display()
    );
    flip_a_byte(&ours);
    let base = cached_layer(&cache, &first.layers[0]);
    assert!(base.starts_with(cache.join("blobs")), "{}", base.display());
    flip_a_byte(&base);

    let again = build_and_check_outputs(root.path(), &cache, &lock, "flipped");
    assert_eq!(again, first.digest);
    // The cache healed: both entries hash to their names again.
    assert_eq!(
        format!("sha256:{}", sha256_file(&ours)),
        first.layers.last().unwrap().0
    );
    assert_eq!(format!("sha256:{}", sha256_file(&base)), first.layers[0].0);
}

/// Bit rot that leaves the stamp alone (the file corrupted, then its stamp rewritten to
/// match): trusted on the way in, caught by the hash each output takes as it copies
/// (a registry checks what it is sent). Nothing is published, the error names the blob
/// and says to build again, the entry is removed, and the next build heals. A base
/// layer is checked by the file outputs; a registry mounts it from the base's
/// repository and an engine that has it is not sent it, so neither reads the cache's
/// copy.
#[test]
fn bit_rot_under_a_valid_stamp_is_caught_when_the_outputs_are_written() {
    let root = tempfile::tempdir().unwrap();
    let lock = six_lock_file(root.path());
    let cache = root.path().join("cache");
    let first = built(&cache, &lock, &[]);
    let stamps = cache.join("stamps");
    let ours: &[&str] = &["oci", "docker-archive", "docker", "docker-daemon"];
    let cases = [
        (first.layers.last().unwrap(), ours),
        (&first.layers[0], &["oci", "docker-archive"][..]),
    ];
    for (n, (layer, destinations)) in cases.into_iter().enumerate() {
        for destination in destinations {
            let (path, named) = match *destination {
                "docker-daemon" => (plain_layer(&cache, &lock, layer), &layer.1),
                _ => (cached_layer(&cache, layer), &layer.0),
            };
            rot(&path, &stamps);
            let (target, published) = output_target(root.path(), destination, n);
            let out = rtlock(
                &cache,
                &["build", "-l", lock.to_str().unwrap(), "-o", &target],
            );
            let text = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{destination}: {text}");
            assert!(text.contains(named), "the error names the blob: {text}");
            assert!(text.contains("run the build again"), "{text}");
            if *destination == "docker" {
                // rtlock's own hash of the bytes it sent stopped the upload, not the
                // registry's check.
                assert!(text.contains("the upload was not completed"), "{text}");
            }
            assert!(!published(), "{target} was published");
            assert!(!path.exists(), "the corrupt entry is still in the cache");
            let healed = build_and_check_outputs(
                root.path(),
                &cache,
                &lock,
                &format!("healed-{destination}-{n}"),
            );
            assert_eq!(healed, first.digest);
        }
    }
}

/// The plain-tar copy of rtlock's `layer` in the layer cache, which a build for the
/// engine alone sends (the engine stores layers uncompressed), made by such a build.
fn plain_layer(cache: &Path, lock: &Path, layer: &(String, String)) -> PathBuf {
    let tag = format!("rtlock-test-rot-plain:{}", std::process::id());
    let target = format!("docker-daemon:{tag}");
    let out = rtlock(
        cache,
        &["build", "-l", lock.to_str().unwrap(), "-o", &target],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = common::testbed::docker(&["rmi", "-f", &tag]);
    let path = cache
        .join("layers/tar")
        .join(layer.1.strip_prefix("sha256:").unwrap());
    assert!(path.is_file(), "{} is not cached", path.display());
    path
}

/// A new `-o` target of kind `destination` for case `n`, and whether something was
/// published there (an OCI layout's index, a file, a manifest in the registry, an
/// image in the engine).
fn output_target(root: &Path, destination: &str, n: usize) -> (String, Box<dyn Fn() -> bool>) {
    let path = root.join(format!("{destination}-{n}"));
    match destination {
        "oci" => (
            format!("oci:{}", path.display()),
            Box::new(move || {
                if path.exists() {
                    assert_layout_blobs_intact(&path);
                }
                path.join("index.json").exists()
            }),
        ),
        "docker-archive" => (
            format!("docker-archive:{}", path.display()),
            Box::new(move || path.exists()),
        ),
        "docker" => {
            let repo = format!("docker://{}:rot", testbed().fresh_repo("rot"));
            let shown = repo.clone();
            (
                repo,
                Box::new(move || {
                    common::testbed::skopeo(&["inspect", "--tls-verify=false", &shown])
                        .status
                        .success()
                }),
            )
        }
        _ => {
            let tag = format!("rtlock-test-rot:{}-{n}", std::process::id());
            let shown = tag.clone();
            (
                format!("docker-daemon:{tag}"),
                Box::new(move || {
                    let present = common::testbed::docker(&["image", "inspect", &shown])
                        .status
                        .success();
                    let _ = common::testbed::docker(&["rmi", "-f", &shown]);
                    present
                }),
            )
        }
    }
}

/// `build --verify` hashes every cached blob on the way in, whatever its stamp says:
/// bit rot under a valid stamp, in a layer of rtlock's and in a base layer, is found
/// before the outputs, the layer made again and the base layer downloaded again.
#[test]
fn verify_hashes_cached_blobs_whatever_their_stamps_say() {
    let root = tempfile::tempdir().unwrap();
    let lock = six_lock_file(root.path());
    let cache = root.path().join("cache");
    let first = built(&cache, &lock, &[]);
    let ours = cached_layer(&cache, first.layers.last().unwrap());
    let base = cached_layer(&cache, &first.layers[0]);
    for path in [&ours, &base] {
        rot(path, &cache.join("stamps"));
    }
    let verified = built(&cache, &lock, &["--verify"]);
    assert_eq!(verified, first);
    for (path, layer) in [
        (&ours, first.layers.last().unwrap()),
        (&base, &first.layers[0]),
    ] {
        assert_eq!(
            format!("sha256:{}", sha256_file(path)),
            layer.0,
            "not healed"
        );
    }
}

/// The error a corrupt blob gives, pinned: what, where, and what to do.
#[test]
fn the_corrupt_blob_error_says_what_and_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let lock = six_lock_file(root.path());
    let cache = root.path().join("cache");
    let first = built(&cache, &lock, &[]);
    let layer = first.layers.last().unwrap();
    let path = cached_layer(&cache, layer);
    rot(&path, &cache.join("stamps"));
    let target = root.path().join("out.tar");
    let out = rtlock(
        &cache,
        &[
            "build",
            "-q",
            "-l",
            lock.to_str().unwrap(),
            "-o",
            &format!("docker-archive:{}", target.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = redact(&stderr(&out), root.path(), &[("LAYER", &layer.0)]);
    insta::assert_snapshot!(text);
}

/// `text` with `dir`, the named digests and every other run of 64 hex digits (a
/// digest, a diff_id in a path) replaced by stable names.
fn redact(text: &str, dir: &Path, names: &[(&str, &str)]) -> String {
    let mut text = text.replace(&dir.display().to_string(), "[TMP]");
    for (name, value) in names {
        text = text.replace(value, &format!("[{name}]"));
    }
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('\n')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() == 64 { "[HEX]" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

// ------------------------------------------------------------------ point 5

/// No Docker Engine: a lock whose apt packages have maintainer scripts fails, naming
/// the engine it tried and the way out, instead of building another image with exit 0.
#[test]
fn without_an_engine_a_lock_with_maintainer_scripts_fails() {
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(root.path(), "apt", &apt_lock(&testbed().image_python, &APT));
    let nowhere = [("DOCKER_HOST", "unix:///nonexistent")];
    let args = ["build", "-q", "-l", lock.to_str().unwrap()];
    let out = rtlock_env(&root.path().join("cache"), &args, &nowhere);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    insta::assert_snapshot!(stderr(&out));

    let out: Output = rtlock_env(
        &root.path().join("cache"),
        &["build", "--no-daemon", "-l", lock.to_str().unwrap()],
        &nowhere,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("maintainer scripts did not run for: procps"),
        "{}",
        stderr(&out)
    );
}

/// A lock whose apt packages have no maintainer scripts fails without an engine too:
/// with one, `dpkg --configure -a` (and the triggers the packages activate) still gives
/// the image a layer that a build without it lacks.
#[test]
fn without_an_engine_even_a_lock_without_scripts_fails() {
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(
        root.path(),
        "tree",
        &apt_lock(&testbed().image_python, &["tree"]),
    );
    let cache = root.path().join("cache");
    let with_engine = built(&cache, &lock, &[]);
    let without = built(&cache, &lock, &["--no-daemon"]);
    assert_eq!(with_engine.layers.len(), without.layers.len() + 1);
    assert_ne!(with_engine.digest, without.digest);

    let out = rtlock_env(
        &cache,
        &["build", "-q", "-l", lock.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("packages with maintainer scripts: none"),
        "{}",
        stderr(&out)
    );
}
