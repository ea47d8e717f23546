//! The apt index face against real repositories: a signed apt repository built at test
//! time from real .deb files (`apt-get download`), indexed by `apt-ftparchive` and
//! signed by `gpg` with a throwaway key, served on 127.0.0.1; and, in the live group,
//! the `InRelease` of the machine's own configured Debian mirror.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::apt_repo::{self, BINARY, DIST, Key, Repo, deb_field, run};
use common::server::StaticServer;
use rtlock::apt::index::sources::{self, AptSource, SignedBy};
use rtlock::apt::index::{
    HostRoot, IndexError, IndexOptions, Repository, fetch_repository, read_keyring, signature,
};
use rtlock::fetch::{FetchSettings, Fetcher, RetryPolicy, sha256_hex};
use tempfile::TempDir;

/// Small real packages: two `amd64` ones and an `Architecture: all` one.
const PACKAGES: [&str; 3] = ["hello", "sl", "cowsay"];

fn debs() -> Vec<PathBuf> {
    apt_repo::debs(&PACKAGES)
}

/// An image root standing in for the base image: keyrings at the paths apt uses.
fn image_root(key: &Key) -> TempDir {
    let root = TempDir::new().unwrap();
    let keyrings = root.path().join("usr/share/keyrings");
    std::fs::create_dir_all(&keyrings).unwrap();
    std::fs::write(keyrings.join("test.gpg"), key.export(false)).unwrap();
    std::fs::write(keyrings.join("test.asc"), key.export(true)).unwrap();
    root
}

fn fetcher(cache: &Path) -> Fetcher {
    Fetcher::new(FetchSettings {
        retry: RetryPolicy {
            attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        ..FetchSettings::new(cache)
    })
    .unwrap()
}

fn source(srv: &StaticServer, options: &str) -> AptSource {
    let line = format!("deb [{options}] {} stable main", srv.base_url());
    sources::parse_one_line(&line, "test").unwrap().remove(0)
}

async fn fetch(
    srv: &StaticServer,
    options: &str,
    root: &Path,
    cache: &Path,
) -> Result<Repository, IndexError> {
    fetch_repository(
        &fetcher(cache),
        &source(srv, options),
        &HostRoot(root.to_path_buf()),
        &IndexOptions::new(&["amd64"]),
    )
    .await
}

#[test]
fn sources_in_both_forms() {
    let text = "# comment\n\
        deb http://127.0.0.1:1/debian bookworm main contrib\n\
        deb-src http://127.0.0.1:1/debian bookworm main\n\
        deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/a.gpg trusted=yes] http://127.0.0.1:1/x/ stable main # tail\n\
        deb [signed-by=/k.asc] http://127.0.0.1:1/flat ./\n";
    let s = sources::parse_one_line(text, "/etc/apt/sources.list").unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].uri, "http://127.0.0.1:1/debian/");
    assert_eq!(s[0].components, ["main", "contrib"]);
    assert_eq!(s[0].origin, "/etc/apt/sources.list:2");
    assert_eq!(s[0].dist_url(), "http://127.0.0.1:1/debian/dists/bookworm/");
    assert_eq!(s[1].architectures, ["amd64", "arm64"]);
    assert!(s[1].trusted);
    assert!(s[0].check_valid_until);
    assert_eq!(
        s[1].signed_by,
        Some(SignedBy::Keyrings(vec!["/usr/share/keyrings/a.gpg".into()]))
    );
    assert!(s[2].is_flat());
    assert_eq!(s[2].dist_url(), "http://127.0.0.1:1/flat/");

    let key = Key::new("ed25519");
    let armored = String::from_utf8(key.export(true)).unwrap();
    // An inline key is written as a folded field, an empty line as ` .`.
    let folded: String = armored
        .lines()
        .map(|l| {
            if l.is_empty() {
                " .\n".to_string()
            } else {
                format!(" {l}\n")
            }
        })
        .collect();
    let deb822 = format!(
        "Types: deb deb-src\nURIs: http://127.0.0.1:1/a http://127.0.0.1:1/b\n\
         Suites: bookworm bookworm-updates\n# a comment inside\nComponents: main\n\
         Architectures: arm64\nSigned-By:\n{folded}\n\
         Types: deb\nURIs: http://127.0.0.1:1/c\nSuites: x\nComponents: main\nEnabled: no\n\n\
         Types: deb-src\nURIs: http://127.0.0.1:1/d\nSuites: x\nComponents: main\n"
    );
    let s = sources::parse_deb822(&deb822, "/etc/apt/sources.list.d/x.sources").unwrap();
    assert_eq!(s.len(), 4, "{s:#?}");
    assert_eq!(s[3].uri, "http://127.0.0.1:1/b/");
    assert_eq!(s[3].suite, "bookworm-updates");
    assert_eq!(s[0].architectures, ["arm64"]);
    let Some(SignedBy::Inline(block)) = &s[0].signed_by else {
        panic!("expected an inline key: {:?}", s[0].signed_by);
    };
    // The unfolded block is the key again.
    let keyring = read_keyring("inline", block.as_bytes()).unwrap();
    assert_eq!(keyring.keys.len(), 1);

    // Bad lines are errors naming file and line, not silently dropped sources.
    let e = sources::parse_one_line("deb http://127.0.0.1:1/ bookworm\n", "f").unwrap_err();
    assert!(e.to_string().starts_with("f:1: "), "{e}");
    assert!(e.to_string().contains("component"), "{e}");
    assert!(sources::parse_one_line("deb [arch=amd64 http://x y z\n", "f").is_err());
    assert!(sources::parse_deb822("Types: deb\nURIs: http://x/\n", "f").is_err());
    let m = sources::from_manifest(&["deb http://127.0.0.1:1/d bookworm main".into()]).unwrap();
    assert_eq!(m[0].origin, "runtime.toml [apt] sources[0]");
}

#[tokio::test]
async fn fetches_verifies_and_parses_a_signed_repository() {
    let key = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    let root = image_root(&key);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());

    let repository = fetch(
        &srv,
        "signed-by=/usr/share/keyrings/test.gpg",
        root.path(),
        cache.path(),
    )
    .await
    .unwrap();
    assert!(repository.verified);
    assert!(repository.release_url.path().ends_with("/InRelease"));
    assert_eq!(repository.release.suite.as_deref(), Some("stable"));
    assert_eq!(repository.release.architectures, ["amd64"]);
    assert_eq!(repository.packages.len(), 1);
    let index = &repository.packages[0];
    // `.gz` is preferred when the Release lists it.
    assert!(index.url.path().ends_with("main/binary-amd64/Packages.gz"));
    // The decompressed text is what apt-ftparchive wrote.
    let written = std::fs::read_to_string(repo.root().join(BINARY).join("Packages")).unwrap();
    assert_eq!(index.text, written);

    // Each record against the .deb it describes, read independently of the index.
    let records = index.records().unwrap();
    assert_eq!(records.len(), debs().len());
    for deb in &debs() {
        let name = deb_field(deb, "Package");
        let record = records
            .iter()
            .find(|r| r.package == name)
            .unwrap_or_else(|| panic!("{name} is not in the parsed index"));
        let bytes = std::fs::read(deb).unwrap();
        assert_eq!(record.version, deb_field(deb, "Version"));
        assert_eq!(record.architecture, deb_field(deb, "Architecture"));
        assert_eq!(record.sha256, sha256_hex(&bytes));
        assert_eq!(record.size, bytes.len() as u64);
        assert_eq!(
            record.filename,
            format!("pool/main/{}", deb.file_name().unwrap().to_string_lossy())
        );
        let depends = deb_field(deb, "Depends");
        assert_eq!(record.depends.unwrap_or(""), depends);
        let parsed = record
            .relations(rtlock::apt::index::RelationField::Depends)
            .unwrap();
        assert_eq!(
            parsed.len(),
            depends.split(',').filter(|g| !g.trim().is_empty()).count()
        );
    }
    assert!(records.iter().any(|r| r.architecture == "all"));
}

#[tokio::test]
async fn release_gpg_is_used_without_inrelease_and_trusted_keyrings_without_signed_by() {
    let key = Key::new("rsa3072");
    let repo = Repo::build(&key, &debs(), &[]);
    std::fs::remove_file(repo.root().join(DIST).join("InRelease")).unwrap();
    let root = image_root(&key);
    // No signed-by: the image's trusted keyrings, here an armoured one.
    let trusted = root.path().join("etc/apt/trusted.gpg.d");
    std::fs::create_dir_all(&trusted).unwrap();
    std::fs::write(trusted.join("test.asc"), key.export(true)).unwrap();
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());

    let repository = fetch(&srv, "arch=amd64", root.path(), cache.path())
        .await
        .unwrap();
    assert!(repository.verified);
    assert!(repository.release_url.path().ends_with("/Release"));
    assert_eq!(srv.requests("/dists/stable/Release.gpg"), 1);
    assert_eq!(
        repository.packages[0].records().unwrap().len(),
        debs().len()
    );
}

#[tokio::test]
async fn an_inline_key_and_a_fingerprint_name_the_signer() {
    let key = Key::new("ed25519");
    let other = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());
    let options = IndexOptions::new(&["amd64"]);

    // deb822 with the key block in the file itself; the image holds no keyring at all.
    let empty = TempDir::new().unwrap();
    let armored = String::from_utf8(key.export(true)).unwrap();
    let folded: String = armored
        .lines()
        .map(|l| {
            if l.is_empty() {
                " .\n".to_string()
            } else {
                format!(" {l}\n")
            }
        })
        .collect();
    let text = format!(
        "Types: deb\nURIs: {}\nSuites: stable\nComponents: main\nSigned-By:\n{folded}",
        srv.base_url()
    );
    let source = sources::parse_deb822(&text, "x.sources").unwrap().remove(0);
    let repository = fetch_repository(
        &fetcher(cache.path()),
        &source,
        &HostRoot(empty.path().to_path_buf()),
        &options,
    )
    .await
    .unwrap();
    assert!(repository.verified);

    // signed-by=FINGERPRINT: that key, taken from the trusted keyrings (which hold
    // another key too).
    let colons = String::from_utf8(run(key.gpg().args(["--with-colons", "--list-keys"]))).unwrap();
    let fingerprint = colons
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| f.len() == 40))
        .unwrap()
        .to_string();
    let root = TempDir::new().unwrap();
    let trusted = root.path().join("etc/apt/trusted.gpg.d");
    std::fs::create_dir_all(&trusted).unwrap();
    std::fs::write(trusted.join("a.gpg"), key.export(false)).unwrap();
    std::fs::write(trusted.join("b.asc"), other.export(true)).unwrap();
    let repository = fetch(
        &srv,
        &format!("signed-by={fingerprint}"),
        root.path(),
        cache.path(),
    )
    .await
    .unwrap();
    assert!(repository.verified);
    // The other key's fingerprint selects a key that did not sign.
    let colons =
        String::from_utf8(run(other.gpg().args(["--with-colons", "--list-keys"]))).unwrap();
    let other_fingerprint = colons
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| f.len() == 40))
        .unwrap()
        .to_string();
    let e = fetch(
        &srv,
        &format!("signed-by={other_fingerprint}"),
        root.path(),
        cache.path(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, IndexError::BadSignature { .. }), "{e}");
    assert!(e.to_string().contains("b.asc"), "{e}");
}

#[tokio::test]
async fn a_wrong_key_is_an_error_naming_the_url_and_keyrings() {
    let key = Key::new("ed25519");
    let other = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    let root = image_root(&other);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());

    let e = fetch(
        &srv,
        "signed-by=/usr/share/keyrings/test.gpg",
        root.path(),
        cache.path(),
    )
    .await
    .unwrap_err();
    let message = e.to_string();
    assert!(matches!(e, IndexError::BadSignature { .. }), "{message}");
    assert!(
        message.contains(srv.url("dists/stable/InRelease").as_str()),
        "{message}"
    );
    assert!(
        message.contains("/usr/share/keyrings/test.gpg"),
        "{message}"
    );
    assert!(message.contains("source test:1"), "{message}");
    // No Packages file is fetched from a repository that failed its check.
    assert_eq!(srv.requests(&format!("/{BINARY}/Packages.xz")), 0);
    assert_eq!(srv.requests(&format!("/{BINARY}/Packages.gz")), 0);

    // A named keyring that is not in the image is an error of its own.
    let e = fetch(
        &srv,
        "signed-by=/usr/share/keyrings/missing.gpg",
        root.path(),
        cache.path(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("missing.gpg named by signed-by is not in the image"),
        "{e}"
    );
}

#[tokio::test]
async fn an_unsigned_repository_is_refused_unless_trusted() {
    let key = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    for name in ["InRelease", "Release.gpg"] {
        std::fs::remove_file(repo.root().join(DIST).join(name)).unwrap();
    }
    let root = image_root(&key);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());

    let e = fetch(&srv, "arch=amd64", root.path(), cache.path())
        .await
        .unwrap_err();
    assert!(matches!(e, IndexError::Unsigned { .. }), "{e}");
    assert!(
        e.to_string()
            .contains(srv.url("dists/stable/Release").as_str()),
        "{e}"
    );
    assert!(e.to_string().contains("trusted=yes"), "{e}");

    let repository = fetch(&srv, "trusted=yes", root.path(), cache.path())
        .await
        .unwrap();
    assert!(!repository.verified);
    assert_eq!(
        repository.packages[0].records().unwrap().len(),
        debs().len()
    );

    // The caller's explicit allow-unsigned option does the same.
    let repository = fetch_repository(
        &fetcher(cache.path()),
        &source(&srv, "arch=amd64"),
        &HostRoot(root.path().to_path_buf()),
        &IndexOptions {
            allow_unsigned: true,
            ..IndexOptions::new(&["amd64"])
        },
    )
    .await
    .unwrap();
    assert!(!repository.verified);
}

#[tokio::test]
async fn a_tampered_packages_file_is_a_hash_error_naming_its_url() {
    let key = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    // After signing, someone slips a package into the index. The `.gz` the reader
    // prefers is gone, so the `.xz` it falls back to is the one read.
    let binary = repo.root().join(BINARY);
    std::fs::remove_file(binary.join("Packages.gz")).unwrap();
    let original = std::fs::read(binary.join("Packages.xz")).unwrap();
    let mut text = std::fs::read_to_string(binary.join("Packages")).unwrap();
    text.push_str("\nPackage: evil\nVersion: 1\nArchitecture: all\nFilename: pool/evil.deb\nSize: 1\nSHA256: 00\n");
    std::fs::write(binary.join("Packages"), text).unwrap();
    std::fs::remove_file(binary.join("Packages.xz")).unwrap();
    run(Command::new("xz")
        .args(["-k", "Packages"])
        .current_dir(&binary));
    let root = image_root(&key);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());

    let e = fetch(
        &srv,
        "signed-by=/usr/share/keyrings/test.asc",
        root.path(),
        cache.path(),
    )
    .await
    .unwrap_err();
    let message = rtlock::fetch::error_chain(&e);
    assert!(matches!(e, IndexError::Fetch { .. }), "{message}");
    assert!(
        message.contains(srv.url(&format!("{BINARY}/Packages.xz")).as_str()),
        "{message}"
    );
    assert!(message.contains("size mismatch"), "{message}");
    assert!(message.contains("does not match the signed"), "{message}");

    // Same size, one byte changed: the sha256 catches it.
    let xz = binary.join("Packages.xz");
    std::fs::remove_file(&xz).unwrap();
    let mut bad = original;
    let middle = bad.len() / 2;
    bad[middle] ^= 0x01;
    std::fs::write(&xz, &bad).unwrap();
    let e = fetch(
        &srv,
        "signed-by=/usr/share/keyrings/test.asc",
        root.path(),
        cache.path(),
    )
    .await
    .unwrap_err();
    let message = rtlock::fetch::error_chain(&e);
    assert!(message.contains("sha256 mismatch"), "{message}");
    assert!(
        message.contains(srv.url(&format!("{BINARY}/Packages.xz")).as_str()),
        "{message}"
    );
}

#[tokio::test]
async fn a_second_run_revalidates_the_release_and_reuses_packages_by_hash() {
    let key = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    let root = image_root(&key);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());
    let options = "signed-by=/usr/share/keyrings/test.gpg";

    let first = fetch(&srv, options, root.path(), cache.path())
        .await
        .unwrap();
    let second = fetch(&srv, options, root.path(), cache.path())
        .await
        .unwrap();
    assert_eq!(first.packages[0].text, second.packages[0].text);
    assert_eq!(srv.requests("/dists/stable/InRelease"), 2);
    assert_eq!(srv.responses("/dists/stable/InRelease", 200), 1);
    assert_eq!(srv.responses("/dists/stable/InRelease", 304), 1);
    // The Packages file is pinned by the signed hash: found in the cache, not asked for.
    assert_eq!(srv.requests(&format!("/{BINARY}/Packages.gz")), 1);
}

#[tokio::test]
async fn acquire_by_hash_asks_for_the_file_by_its_signed_hash() {
    let key = Key::new("ed25519");
    let repo = Repo::build(
        &key,
        &debs(),
        &["APT::FTPArchive::Release::Acquire-By-Hash=yes"],
    );
    let binary = repo.root().join(BINARY);
    // Only the `.xz` form, so that the request by hash is the first one made.
    std::fs::remove_file(binary.join("Packages.gz")).unwrap();
    let xz = std::fs::read(binary.join("Packages.xz")).unwrap();
    let by_hash = format!("{BINARY}/by-hash/SHA256/{}", sha256_hex(&xz));
    std::fs::create_dir_all(repo.root().join(&by_hash).parent().unwrap()).unwrap();
    std::fs::write(repo.root().join(&by_hash), &xz).unwrap();
    // The mirror moved on: the named path already holds something else.
    std::fs::write(binary.join("Packages.xz"), b"the next index").unwrap();
    let root = image_root(&key);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());

    let repository = fetch(
        &srv,
        "signed-by=/usr/share/keyrings/test.gpg",
        root.path(),
        cache.path(),
    )
    .await
    .unwrap();
    assert!(repository.release.acquire_by_hash);
    assert_eq!(srv.requests(&format!("/{by_hash}")), 1);
    assert_eq!(srv.requests(&format!("/{BINARY}/Packages.xz")), 0);
    assert_eq!(
        repository.packages[0].records().unwrap().len(),
        debs().len()
    );
}

#[tokio::test]
async fn an_expired_release_is_refused_unless_check_valid_until_is_off() {
    let key = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    let release = std::fs::read_to_string(repo.root().join(DIST).join("Release")).unwrap();
    let stale = format!("Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC\n{release}");
    repo.sign_release(&key, stale.as_bytes());
    let root = image_root(&key);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(repo.root());
    let keyring = "signed-by=/usr/share/keyrings/test.gpg";

    let e = fetch(&srv, keyring, root.path(), cache.path())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    assert!(
        e.to_string()
            .contains(srv.url("dists/stable/InRelease").as_str()),
        "{e}"
    );
    assert!(e.to_string().contains("check-valid-until=no"), "{e}");

    let options = format!("{keyring} check-valid-until=no");
    let repository = fetch(&srv, &options, root.path(), cache.path())
        .await
        .unwrap();
    assert_eq!(
        repository.release.valid_until.as_deref(),
        Some("Sat, 01 Jan 2000 00:00:00 UTC")
    );

    // A Valid-Until ahead is fine.
    let fresh = format!("Valid-Until: Fri, 01 Jan 2100 00:00:00 UTC\n{release}");
    repo.sign_release(&key, fresh.as_bytes());
    fetch(&srv, keyring, root.path(), cache.path())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_flat_repository_is_read_from_its_directory() {
    let key = Key::new("ed25519");
    let dir = TempDir::new().unwrap();
    let flat = dir.path().join("flat");
    std::fs::create_dir_all(&flat).unwrap();
    for deb in &debs() {
        std::fs::copy(deb, flat.join(deb.file_name().unwrap())).unwrap();
    }
    let packages = run(Command::new("apt-ftparchive")
        .args(["packages", "."])
        .current_dir(&flat));
    std::fs::write(flat.join("Packages"), packages).unwrap();
    run(Command::new("gzip")
        .args(["-k", "-n", "Packages"])
        .current_dir(&flat));
    let release = run(Command::new("apt-ftparchive")
        .args(["release", "."])
        .current_dir(&flat));
    std::fs::write(flat.join("Release"), release).unwrap();
    run(key
        .gpg()
        .args(["--clearsign", "-o", "InRelease", "Release"])
        .current_dir(&flat));
    let root = image_root(&key);
    let cache = TempDir::new().unwrap();
    let srv = StaticServer::start(dir.path());

    let line = format!(
        "deb [signed-by=/usr/share/keyrings/test.gpg] {}flat ./",
        srv.base_url()
    );
    let source = sources::parse_one_line(&line, "flat").unwrap().remove(0);
    let repository = fetch_repository(
        &fetcher(cache.path()),
        &source,
        &HostRoot(root.path().to_path_buf()),
        &IndexOptions::new(&["amd64"]),
    )
    .await
    .unwrap();
    assert_eq!(repository.packages.len(), 1);
    assert!(
        repository.packages[0]
            .url
            .path()
            .ends_with("/flat/Packages.gz")
    );
    assert_eq!(
        repository.packages[0].records().unwrap().len(),
        debs().len()
    );
}

/// Live group: the `InRelease` of this machine's configured Debian mirror (read from its
/// apt sources, never written here), verified with Debian's archive keyring (RSA-4096
/// and ed25519 keys).
#[tokio::test]
async fn live_verifies_the_configured_mirrors_inrelease() {
    let keyring_path = "/usr/share/keyrings/debian-archive-keyring.gpg";
    let keyring = read_keyring(keyring_path, &std::fs::read(keyring_path).unwrap()).unwrap();
    let mut configured = Vec::new();
    if let Ok(text) = std::fs::read_to_string("/etc/apt/sources.list") {
        configured.extend(sources::parse_one_line(&text, "/etc/apt/sources.list").unwrap());
    }
    for entry in std::fs::read_dir("/etc/apt/sources.list.d").unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = path.display().to_string();
        if shown.ends_with(".sources") {
            configured.extend(sources::parse_deb822(&text, &shown).unwrap());
        } else if shown.ends_with(".list") {
            configured.extend(sources::parse_one_line(&text, &shown).unwrap());
        }
    }
    let source = configured
        .iter()
        .find(|s| {
            s.signed_by
                .as_ref()
                .is_none_or(|k| *k == SignedBy::Keyrings(vec![keyring_path.into()]))
        })
        .expect("this machine has a Debian source");
    let cache = TempDir::new().unwrap();
    let url = url::Url::parse(&source.dist_url())
        .unwrap()
        .join("InRelease")
        .unwrap();
    let blob = fetcher(cache.path()).fetch_index(&url).await.unwrap();
    let text = std::fs::read_to_string(&blob.path).unwrap();
    let signed = signature::verify_cleartext(&text, std::slice::from_ref(&keyring))
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let release = rtlock::apt::index::parse_release(&signed).unwrap();
    assert!(release.codename.is_some());
    assert!(
        release.no_support_for_architecture_all || !release.architectures.contains(&"all".into())
    );
    assert!(release.file("main/binary-amd64/Packages.xz").is_some());

    // A flipped byte in the signed text breaks it.
    let tampered = text.replacen("Codename:", "Codename: x", 1);
    assert_eq!(
        signature::verify_cleartext(&tampered, &[keyring]).unwrap_err(),
        signature::SignatureError::NoMatchingKey
    );
}
