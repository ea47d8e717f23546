//! `Contents-<arch>` indexes and the shared libraries they lead the apt lock to: a real
//! signed repository of real .debs served on 127.0.0.1 whose Contents index
//! `apt-ftparchive contents` wrote, and (live) the base images' own sources on the
//! machine's Debian mirror.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use common::apt_repo::{self, DIST, Key, Repo};
use common::server::StaticServer;
use common::testbed::testbed;
use rtlock::apt::index::contents::{self, soname_providers};
use rtlock::apt::index::{
    AptSource, HostRoot, IndexOptions, Repository, fetch_repository, sources,
};
use rtlock::apt::lock::{
    AptInputs, AptLockError, MissingLibrary, NeededLibrary, lock_apt, resolve_libraries_on,
};
use rtlock::apt::resolve::pins::Preferences;
use rtlock::fetch::{FetchSettings, Fetcher, RetryPolicy, error_chain};
use rtlock::image::rootfs::RootFs;
use rtlock::image::{ImageSource, OpenOptions};
use rtlock::manifest::AptSpec;

/// glpk's runtime library, its -dev package (which ships the unversioned `libglpk.so`)
/// and the libraries libglpk40 needs that the minimal base lacks.
const PACKAGES: [&str; 6] = [
    "libglpk40",
    "libglpk-dev",
    "libamd2",
    "libcolamd2",
    "libsuitesparseconfig5",
    "libltdl7",
];
const KEYRING: &str = "/usr/share/keyrings/test.gpg";

fn debs() -> Vec<PathBuf> {
    apt_repo::debs(&PACKAGES)
}

/// A repository of [`PACKAGES`] with `main/Contents-amd64.gz` listed in its signed
/// Release, and an image root holding its key.
fn repository() -> (Key, Repo, TempDir) {
    let key = Key::new("ed25519");
    let repo = Repo::build(&key, &debs(), &[]);
    repo.write_contents();
    repo.sign_with(&key, &[]);
    let release = std::fs::read_to_string(repo.root().join(DIST).join("Release")).unwrap();
    assert!(
        release.contains("main/Contents-amd64.gz"),
        "apt-ftparchive did not list the Contents index: {release}"
    );
    let root = TempDir::new().unwrap();
    let keyrings = root.path().join("usr/share/keyrings");
    std::fs::create_dir_all(&keyrings).unwrap();
    std::fs::write(keyrings.join("test.gpg"), key.export(false)).unwrap();
    (key, repo, root)
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

fn source(srv: &StaticServer) -> AptSource {
    let line = format!("deb [signed-by={KEYRING}] {} stable main", srv.base_url());
    sources::parse_one_line(&line, "test").unwrap().remove(0)
}

async fn fetch(fetcher: &Fetcher, srv: &StaticServer, root: &Path) -> Repository {
    fetch_repository(
        fetcher,
        &source(srv),
        &HostRoot(root.to_path_buf()),
        &IndexOptions::new(&["amd64"]),
    )
    .await
    .unwrap_or_else(|e| panic!("{}", error_chain(&e)))
}

fn sonames(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn needed(soname: &str, by: &[&str]) -> NeededLibrary {
    NeededLibrary {
        soname: soname.into(),
        needed_by: by.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_signed_contents_index_names_the_packages_of_each_soname() {
    let (_key, repo, root) = repository();
    let srv = StaticServer::start(repo.root());
    let cache = TempDir::new().unwrap();
    let fetcher = fetcher(cache.path());
    let repository = fetch(&fetcher, &srv, root.path()).await;

    let asked = sonames(&[
        "libglpk.so.40",
        "libglpk.so",
        "libamd.so.2",
        "libnothere.so.1",
    ]);
    let found = soname_providers(&fetcher, std::slice::from_ref(&repository), "amd64", &asked)
        .await
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    assert_eq!(found.indexes, 1);
    assert_eq!(found.providers["libglpk.so.40"], ["libglpk40"]);
    assert_eq!(found.providers["libglpk.so"], ["libglpk-dev"]);
    assert_eq!(found.providers["libamd.so.2"], ["libamd2"]);
    assert!(!found.providers.contains_key("libnothere.so.1"));

    // Warm: the reduction is cached by the Contents file's sha256, so the file itself is
    // not read again (here: no longer there at all).
    std::fs::remove_file(repo.root().join(DIST).join("main/Contents-amd64.gz")).unwrap();
    let again = soname_providers(&fetcher, &[repository], "amd64", &asked)
        .await
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    assert_eq!(again, found);
}

#[tokio::test]
async fn a_contents_index_that_does_not_match_the_signed_release_is_refused() {
    let (_key, repo, root) = repository();
    // Another Contents file put in place after signing: its hash is not the Release's.
    let dir = repo.root().join(DIST).join("main");
    let forged = "usr/lib/x86_64-linux-gnu/libglpk.so.40 libs/evil\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, forged.as_bytes()).unwrap();
    std::fs::write(dir.join("Contents-amd64.gz"), gz.finish().unwrap()).unwrap();

    let srv = StaticServer::start(repo.root());
    let cache = TempDir::new().unwrap();
    let fetcher = fetcher(cache.path());
    let repository = fetch(&fetcher, &srv, root.path()).await;
    let e = soname_providers(
        &fetcher,
        &[repository],
        "amd64",
        &sonames(&["libglpk.so.40"]),
    )
    .await
    .unwrap_err();
    let chain = error_chain(&e);
    assert!(
        chain.starts_with("main/Contents-amd64.gz does not match the signed http://127.0.0.1:"),
        "{chain}"
    );
    assert!(chain.contains("/dists/stable/InRelease"), "{chain}");
    // Nothing was cached for it.
    assert!(!cache.path().join("apt-contents").exists());
}

/// The minimal base's dpkg status, as the apt lock reads it.
async fn minimal_base() -> RootFs {
    let source: ImageSource = format!("oci:{}", testbed().image_minimal_oci)
        .parse()
        .unwrap();
    let image = rtlock::image::open(&source, &OpenOptions::default())
        .await
        .unwrap();
    RootFs::read(&image.layers, &rtlock::apt::lock::keep).unwrap()
}

fn status(rootfs: &RootFs) -> String {
    String::from_utf8(rootfs.read_file("var/lib/dpkg/status").unwrap().unwrap()).unwrap()
}

/// On the local repository and the minimal base: `libglpk.so.40` adds libglpk40 (never
/// its -dev) and what it depends on, in one solve with `[apt] packages`; only libglpk40
/// is marked `needed-by`, also when the manifest asks for it itself.
#[tokio::test]
async fn a_needed_soname_adds_its_runtime_library_to_the_solve() {
    let (_key, repo, root) = repository();
    let srv = StaticServer::start(repo.root());
    let cache = TempDir::new().unwrap();
    let fetcher = fetcher(cache.path());
    let repositories = vec![fetch(&fetcher, &srv, root.path()).await];
    let rootfs = minimal_base().await;
    let status = status(&rootfs);
    let preferences = Preferences::default();
    let libraries = [
        needed("libglpk.so.40", &["r:igraph"]),
        needed("libglpk.so.40", &["r:Rglpk", "r:igraph"]),
        needed("libamd.so.2", &["r:Matrix"]),
    ];
    let asked: BTreeSet<String> = libraries.iter().map(|l| l.soname.clone()).collect();
    let providers = soname_providers(&fetcher, &repositories, "amd64", &asked)
        .await
        .unwrap();

    let spec = AptSpec::default();
    let inputs = AptInputs {
        spec: &spec,
        native_arch: "amd64",
        keep: &[],
        libraries: &libraries[..2],
        add_libraries: true,
    };
    let locked =
        resolve_libraries_on(&repositories, &status, &preferences, &inputs, &providers).unwrap();
    let names: Vec<&str> = locked.entries.iter().map(|p| p.name.as_str()).collect();
    for name in [
        "libglpk40",
        "libamd2",
        "libcolamd2",
        "libsuitesparseconfig5",
    ] {
        assert!(names.contains(&name), "{name} not locked: {names:?}");
    }
    assert!(!names.contains(&"libglpk-dev"), "{names:?}");
    assert!(locked.warnings.is_empty());
    for entry in &locked.entries {
        assert!(!entry.requested, "{} is marked requested", entry.name);
        if entry.name == "libglpk40" {
            assert_eq!(entry.needed_by, ["r:Rglpk", "r:igraph"]);
        } else {
            assert!(entry.needed_by.is_empty(), "{entry:?}");
        }
    }

    // The manifest asks for libglpk40 itself: still marked, and requested.
    let spec = AptSpec {
        packages: vec![rtlock::apt::relation::parse_relation("libglpk40", false).unwrap()],
        ..AptSpec::default()
    };
    let inputs = AptInputs {
        spec: &spec,
        libraries: &libraries,
        ..inputs
    };
    let asked_too =
        resolve_libraries_on(&repositories, &status, &preferences, &inputs, &providers).unwrap();
    let glpk = asked_too
        .entries
        .iter()
        .find(|p| p.name == "libglpk40")
        .unwrap();
    assert!(glpk.requested);
    assert_eq!(glpk.needed_by, ["r:Rglpk", "r:igraph"]);
    // libamd2 comes in through libglpk40's Depends and ships a needed soname too: it
    // is marked as well.
    let amd = asked_too
        .entries
        .iter()
        .find(|p| p.name == "libamd2")
        .unwrap();
    assert!(!amd.requested);
    assert_eq!(amd.needed_by, ["r:Matrix"]);
    assert_eq!(
        asked_too
            .entries
            .iter()
            .map(|p| &p.name)
            .collect::<Vec<_>>(),
        locked.entries.iter().map(|p| &p.name).collect::<Vec<_>>()
    );

    // Additions off: nothing added, one warning per soname naming its package and all
    // that need it.
    let inputs = AptInputs {
        spec: &AptSpec::default(),
        add_libraries: false,
        libraries: &libraries,
        ..inputs
    };
    let warned =
        resolve_libraries_on(&repositories, &status, &preferences, &inputs, &providers).unwrap();
    assert!(warned.entries.is_empty(), "{:?}", warned.entries);
    let missing = |soname: &str, by: &[&str], package: &str| MissingLibrary {
        soname: soname.into(),
        needed_by: by.iter().map(|s| s.to_string()).collect(),
        package: Some(package.into()),
    };
    assert_eq!(
        warned.warnings,
        [
            missing("libamd.so.2", &["r:Matrix"], "libamd2"),
            missing("libglpk.so.40", &["r:Rglpk", "r:igraph"], "libglpk40"),
        ]
    );
    insta::assert_snapshot!(warned.warnings[1].to_string(), @r#"
    r:Rglpk, r:igraph need the shared library libglpk.so.40, which the base image lacks; the apt package libglpk40 provides it
    help: add "libglpk40" to [apt] packages, or let rtlock add it ([r] system-requirements = true)
    "#);
}

/// Live: the minimal base's own sources on the machine's mirror. Its suite lists
/// `main/Contents-amd64.gz` in the signed Release; a lock with no `[apt] packages` and
/// one needed soname adds libglpk40 marked `needed-by`; an unknown soname is an error
/// naming it and what needs it. Cold and warm reading of the real Contents are timed.
#[tokio::test]
async fn live_the_mirror_serves_contents_and_a_lock_adds_the_library() {
    let rootfs = minimal_base().await;
    let cache = TempDir::new().unwrap();
    let fetcher = fetcher(cache.path());

    let configured = sources::from_image(&rootfs).unwrap();
    let main = configured
        .iter()
        .find(|s| s.components.iter().any(|c| c == "main") && s.suite == testbed().debian_suite)
        .unwrap_or_else(|| {
            panic!(
                "no `{} main` source: {configured:#?}",
                testbed().debian_suite
            )
        });
    let repository = fetch_repository(&fetcher, main, &rootfs, &IndexOptions::new(&["amd64"]))
        .await
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    assert!(repository.verified);
    let listed = repository
        .release
        .file("main/Contents-amd64.gz")
        .expect("the mirror's Release lists main/Contents-amd64.gz");
    assert!(listed.size > 1_000_000, "{listed:?}");

    let started = Instant::now();
    let cold = contents::libraries(&fetcher, std::slice::from_ref(&repository), "amd64")
        .await
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    let cold_time = started.elapsed();
    let started = Instant::now();
    let warm = contents::libraries(&fetcher, std::slice::from_ref(&repository), "amd64")
        .await
        .unwrap();
    let warm_time = started.elapsed();
    eprintln!(
        "{} main/Contents-amd64.gz ({} bytes): cold {cold_time:?}, warm {warm_time:?}, \
         {} shared-object names",
        testbed().debian_suite,
        listed.size,
        cold.len()
    );
    assert_eq!(cold.indexes, 1);
    assert_eq!(cold, warm);
    let count = cold.len();
    assert!(count > 20_000, "only {count} shared objects");
    assert_eq!(cold.providers("libglpk.so.40"), ["libglpk40"]);
    assert!(warm_time < cold_time);

    let spec = AptSpec::default();
    let libraries = [needed("libglpk.so.40", &["r:igraph"])];
    let inputs = AptInputs {
        spec: &spec,
        native_arch: "amd64",
        keep: &[],
        libraries: &libraries,
        add_libraries: true,
    };
    let locked = lock_apt(&rootfs, &fetcher, &inputs)
        .await
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    let glpk = locked
        .entries
        .iter()
        .find(|p| p.name == "libglpk40")
        .unwrap_or_else(|| panic!("libglpk40 not added: {:#?}", locked.entries));
    assert_eq!(glpk.needed_by, ["r:igraph"]);
    assert!(!glpk.requested);
    assert!(
        glpk.url.ends_with(&glpk.filename) && glpk.filename.contains("/glpk/"),
        "{glpk:?}"
    );
    assert!(locked.warnings.is_empty());

    let libraries = [
        needed("libglpk.so.40", &["r:igraph"]),
        needed("librtlock-nothere.so.9", &["r:ghost", "r:spooky"]),
    ];
    let inputs = AptInputs {
        libraries: &libraries,
        ..inputs
    };
    let e = lock_apt(&rootfs, &fetcher, &inputs).await.unwrap_err();
    assert!(matches!(e, AptLockError::UnknownSonames { .. }), "{e:?}");
    let message = e.to_string();
    assert!(
        message.starts_with(
            "r:ghost, r:spooky need the shared library librtlock-nothere.so.9, and no \
             package of the apt sources ships it (searched "
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "help: add the apt repository that ships it to [apt] sources, or use a base \
             image that has it"
        ),
        "{message}"
    );
}
