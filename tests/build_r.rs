//! The R layer: real R packages from the test bed's CRAN-like repository (binaries made
//! of Debian's `r-cran-*.deb`, CRAN source tarballs) and hand-written source packages,
//! served on 127.0.0.1; the bed's R images (`image_r`: r-base-core only; `image_r_dev`:
//! with compilers), the real Docker Engine. R itself is the oracle: `library()` in the
//! built image, and `R CMD INSTALL` of the same tarballs in a container of the base.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::cli::{assert_same_lines, last_line, rtlock, rtlock_env, run_in, stderr};
use common::cran::{CranRepo, description, pull};
use common::server::StaticServer;
use common::testbed::{docker, lock_header, ok, testbed};
use sha2::{Digest as _, Sha256};

/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;
/// The date R writes into `Built:` for [`EPOCH`].
const STAMP: &str = "2025-11-01 00:00:00 UTC";

/// One tarball, as a lock names it.
#[derive(Debug, Clone)]
struct Pkg {
    name: String,
    version: String,
    kind: &'static str,
    file: PathBuf,
    url: String,
    sha256: String,
    size: u64,
    requires: Vec<String>,
}

fn repo() -> &'static CranRepo {
    static REPO: OnceLock<CranRepo> = OnceLock::new();
    REPO.get_or_init(CranRepo::serve)
}

/// A package of the bed's repository at `relative` (under `src/contrib/`).
fn from_repo(relative: &str, requires: &[&str]) -> Pkg {
    let file = repo().contrib().join(relative);
    let url = repo()
        .url()
        .join(&format!("src/contrib/{relative}"))
        .unwrap()
        .to_string();
    described(&file, url, requires)
}

fn described(file: &Path, url: String, requires: &[&str]) -> Pkg {
    let fields = description(file);
    let bytes = std::fs::read(file).unwrap();
    Pkg {
        name: fields["Package"].clone(),
        version: fields["Version"].clone(),
        kind: if fields.contains_key("Built") {
            "binary"
        } else {
            "source"
        },
        file: file.to_path_buf(),
        url,
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        requires: requires.iter().map(|s| s.to_string()).collect(),
    }
}

/// Hand-written source packages (a tree of `(path, text)` under `NAME/`), tarred at test
/// time and served from a directory of their own.
struct HandMade {
    server: StaticServer,
    _dir: tempfile::TempDir,
}

fn hand_made() -> &'static HandMade {
    static MADE: OnceLock<HandMade> = OnceLock::new();
    MADE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // A C file that does not compile, with system requirements to show.
        source_package(
            dir.path(),
            "Broken",
            "1.0",
            &[
                (
                    "DESCRIPTION",
                    "Package: Broken\nVersion: 1.0\nTitle: Does Not Compile\n\
                     Description: A package whose C code has a syntax error.\n\
                     License: MIT\nAuthor: rtlock\nMaintainer: rtlock <r@example.org>\n\
                     SystemRequirements: libbroken-dev (>= 2.1), GNU make\n\
                     NeedsCompilation: yes\n",
                ),
                ("NAMESPACE", "useDynLib(Broken)\n"),
                (
                    "src/broken.c",
                    "#include <R.h>\nint rtlock_broken(void) { return 1 +; }\n",
                ),
            ],
        );
        HandMade {
            server: StaticServer::start(dir.path()),
            _dir: dir,
        }
    })
}

fn source_package(dir: &Path, name: &str, version: &str, files: &[(&str, &str)]) {
    let tree = dir.join("tree");
    for (path, text) in files {
        let path = tree.join(name).join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    ok(
        "tar",
        Command::new("tar")
            .arg("-czf")
            .arg(dir.join(format!("{name}_{version}.tar.gz")))
            .arg("-C")
            .arg(&tree)
            .arg(name)
            .output()
            .unwrap(),
    );
}

fn broken() -> Pkg {
    let made = hand_made();
    let file = made.server.root().join("Broken_1.0.tar.gz");
    let url = made.server.url("Broken_1.0.tar.gz").to_string();
    described(&file, url, &[])
}

fn r6() -> Pkg {
    from_repo("R6_2.5.1.tar.gz", &[])
}

/// glue: a binary with a shared object.
fn glue() -> Pkg {
    from_repo("glue_1.6.2.tar.gz", &[])
}

/// Sources: foreach needs iterators (also a source, built first although its name sorts
/// after) and codetools (a binary); bitops has C code.
fn sources() -> Vec<Pkg> {
    vec![
        from_repo("bitops_1.0-9.tar.gz", &[]),
        from_repo("codetools_0.2-19.tar.gz", &[]),
        from_repo("foreach_1.5.2.tar.gz", &["codetools", "iterators"]),
        from_repo("iterators_1.0.14.tar.gz", &[]),
    ]
}

/// A lock of `image` (a plain-registry reference) with `pkgs`.
fn write_lock(dir: &Path, image: &str, pkgs: &[Pkg]) -> PathBuf {
    let mut text = lock_header(image, EPOCH);
    for p in pkgs {
        text.push_str(&format!(
            "\n[[r]]\nname = \"{}\"\nversion = \"{}\"\nkind = \"{}\"\nurl = \"{}\"\n\
             sha256 = \"{}\"\nsize = {}\nrequested = true\nrequires = {:?}\n",
            p.name, p.version, p.kind, p.url, p.sha256, p.size, p.requires
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("runtime.lock");
    std::fs::write(&path, text).unwrap();
    rtlock::lockfile::Lockfile::read(&path).expect("the hand-written lock parses");
    path
}

/// `rtlock build -l LOCK ARGS…`, which must succeed; its output.
fn build(cache: &Path, lock: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["build", "-l", lock.to_str().unwrap()];
    all.extend(args);
    let out = rtlock(cache, &all);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// A tag for the engine no other test of this run uses.
fn fresh_tag(name: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "rtlock-test-r-{name}:{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Every path under the given package directories of the site library, with its type
/// (and a file's size), the executable files, and the md5 of each file.
fn tree_script(packages: &[&str]) -> String {
    let dirs = packages.join(" ");
    format!(
        "set -e; cd /usr/local/lib/R/site-library; \
         find {dirs} \\( -type f -printf '%p f %s\\n' \\) -o -printf '%p %y\\n' | sort; \
         find {dirs} -type f -perm /111 -printf 'exec %p\\n' | sort; \
         find {dirs} -type f -exec md5sum {{}} + | sort -k2"
    )
}

#[test]
fn binaries_unpack_as_r_installs_them_and_load() {
    let bed = testbed();
    let root = tempfile::tempdir().unwrap();
    let (r6, glue) = (r6(), glue());
    let lock = write_lock(
        &root.path().join("p"),
        &bed.image_r,
        &[glue.clone(), r6.clone()],
    );
    let tag = fresh_tag("binaries");
    build(
        &root.path().join("cache"),
        &lock,
        &["-o", &format!("docker-daemon:{tag}")],
    );

    let loaded = run_in(
        &tag,
        &[],
        "Rscript -e 'library(R6); library(glue); \
         cat(.libPaths()[1], as.character(packageVersion(\"R6\")), \
         as.character(packageVersion(\"glue\")), glue(\"{1 + 1}\"), \"\\n\"); \
         Counter <- R6Class(\"Counter\", public = list(n = 0, add = function() { self$n <- self$n + 1; invisible(self) })); \
         cat(Counter$new()$add()$add()$n, \"\\n\")'; \
         stat -c '%a %U %G %n' /usr/local/lib/R/site-library/glue /usr/local/lib/R/site-library/glue/libs/glue.so /usr/local/lib/R/site-library/R6/DESCRIPTION",
    );
    assert!(
        loaded.starts_with("/usr/local/lib/R/site-library 2.5.1 1.6.2 2 \n2 \n"),
        "{loaded}"
    );
    assert!(
        loaded.contains("755 root root /usr/local/lib/R/site-library/glue\n")
            // As the tarball has it (Debian ships shared objects without exec bits).
            && loaded.contains("644 root root /usr/local/lib/R/site-library/glue/libs/glue.so\n")
            && loaded.contains("644 root root /usr/local/lib/R/site-library/R6/DESCRIPTION"),
        "{loaded}"
    );

    // The oracle: R's own installer, given the same tarballs in a container of the base.
    pull(&bed.image_r);
    let dir = tempfile::tempdir().unwrap();
    for p in [&r6, &glue] {
        std::fs::copy(&p.file, dir.path().join(p.file.file_name().unwrap())).unwrap();
    }
    let mount = format!("{}:/tarballs:ro", dir.path().display());
    let script = tree_script(&["R6", "glue"]);
    let oracle = run_in(
        &bed.image_r,
        &[&mount],
        &format!(
            "R CMD INSTALL /tarballs/R6_2.5.1.tar.gz /tarballs/glue_1.6.2.tar.gz >/dev/null 2>&1 && {script}"
        ),
    );
    let ours = run_in(&tag, &[], &script);
    assert!(ours.contains("glue/libs/glue.so f "), "{ours}");
    assert_same_lines(&oracle, &ours, "R CMD INSTALL", "installed files");
    let _ = docker(&["rmi", "-f", &tag]);
}

#[test]
fn the_same_binary_lock_builds_one_digest_and_a_rebuild_reads_nothing() {
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(&root.path().join("p"), &testbed().image_r, &[r6(), glue()]);
    let layout = root.path().join("layout");
    let first = build(
        &root.path().join("c1"),
        &lock,
        &["-o", &format!("oci:{}:v1", layout.display())],
    );
    assert!(layout.join("index.json").exists());
    let second = build(&root.path().join("c2"), &lock, &[]);
    assert_eq!(last_line(&first), last_line(&second));
    assert!(
        last_line(&first).starts_with("sha256:"),
        "{}",
        last_line(&first)
    );

    // A rebuild with the first cache finds the layer by its key.
    let cached = build(&root.path().join("c1"), &lock, &[]);
    assert_eq!(last_line(&cached), last_line(&first));
    let check = build(&root.path().join("c3"), &lock, &["--check"]);
    assert_eq!(last_line(&check), last_line(&first));
}

#[test]
fn sources_build_in_dependency_order_reproducibly_and_load() {
    let bed = testbed();
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(&root.path().join("p"), &bed.image_r_dev, &sources());
    let tag = fresh_tag("sources");
    // Compressed, as the second build (a docker-daemon: output alone is not).
    let layout = root.path().join("layout");
    let first = build(
        &root.path().join("c1"),
        &lock,
        &[
            "-o",
            &format!("docker-daemon:{tag}"),
            "-o",
            &format!("oci:{}:v1", layout.display()),
        ],
    );
    // Another cache, so built again from the sources.
    let second = build(&root.path().join("c2"), &lock, &[]);
    assert_eq!(
        last_line(&first),
        last_line(&second),
        "two builds of the same source packages differ"
    );
    // A rebuild finds the layer by its key: no engine is asked, no source built.
    let cached = rtlock_env(
        &root.path().join("c1"),
        &["build", "-l", lock.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/rtlock/docker.sock")],
    );
    assert!(cached.status.success(), "{}", stderr(&cached));
    assert_eq!(last_line(&cached), last_line(&first));

    let loaded = run_in(
        &tag,
        &[],
        "Rscript -e 'library(foreach); library(bitops); \
         cat(unlist(foreach(i = 1:3) %do% (i * 2)), bitAnd(12L, 10L), \"\\n\"); \
         ip <- installed.packages(lib.loc = .libPaths()[1]); \
         cat(paste(ip[, \"Package\"], ip[, \"Version\"], ip[, \"Built\"]), sep = \"\\n\")'; \
         grep '^Built:' /usr/local/lib/R/site-library/*/DESCRIPTION; \
         ls -a /usr/local/lib/R/site-library",
    );
    assert!(loaded.starts_with("2 4 6 8 \n"), "{loaded}");
    for line in [
        "bitops 1.0-9 4.2.2",
        "codetools 0.2-19 4.2.2",
        "foreach 1.5.2 4.2.2",
        "iterators 1.0.14 4.2.2",
    ] {
        assert!(loaded.contains(line), "{line} not in {loaded}");
    }
    // Each source build's date is the lock's epoch; the binary keeps the one Debian
    // built it on.
    for source in ["bitops", "foreach", "iterators"] {
        let built = format!("/usr/local/lib/R/site-library/{source}/DESCRIPTION:Built: R 4.2.2; ");
        let line = loaded
            .lines()
            .find(|l| l.starts_with(&built))
            .unwrap_or_else(|| panic!("no Built: of {source} in {loaded}"));
        assert!(line.contains(&format!("; {STAMP}; unix")), "{line}");
    }
    assert!(
        !loaded.contains("00LOCK"),
        "R's lock directories are not in the layer: {loaded}"
    );
    let _ = docker(&["rmi", "-f", &tag]);
}

/// A build that must fail with `expected` in its message, writing no output.
fn assert_fails(root: &Path, lock: &Path, extra: &[&str], env: &[(&str, &str)], expected: &[&str]) {
    let layout = root.join("never");
    let dest = format!("oci:{}:v1", layout.display());
    let mut args = vec!["build", "-l", lock.to_str().unwrap(), "-o", &dest];
    args.extend(extra);
    let out = rtlock_env(&root.join("cache"), &args, env);
    assert!(!out.status.success(), "built anyway");
    for text in expected {
        assert!(
            stderr(&out).contains(text),
            "`{text}` not in: {}",
            stderr(&out)
        );
    }
    assert!(!layout.exists(), "an output was written");
}

#[test]
fn a_wrong_sha256_names_the_package_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let mut bad = r6();
    bad.sha256 = "1".repeat(64);
    let lock = write_lock(&root.path().join("p"), &testbed().image_r, &[glue(), bad]);
    assert_fails(
        root.path(),
        &lock,
        &[],
        &[],
        &["cannot download the R package R6 2.5.1", "sha256"],
    );
}

#[test]
fn a_source_package_that_does_not_compile_shows_its_compiler_output_and_system_requirements() {
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(&root.path().join("p"), &testbed().image_r_dev, &[broken()]);
    assert_fails(
        root.path(),
        &lock,
        &[],
        &[],
        &[
            "the R source package Broken 1.0 failed to build",
            // gcc's own words, from the build's output.
            "broken.c:2:",
            "error: expected expression",
            "its SystemRequirements: libbroken-dev (>= 2.1), GNU make",
        ],
    );
}

#[test]
fn a_source_lock_without_an_engine_fails_naming_the_source_packages() {
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(&root.path().join("p"), &testbed().image_r_dev, &sources());
    let expected = [
        "built with `R CMD INSTALL` in a Docker Engine",
        "source packages: bitops, iterators, foreach",
    ];
    assert_fails(
        root.path(),
        &lock,
        &[],
        &[("DOCKER_HOST", "unix:///nonexistent/rtlock/docker.sock")],
        &[
            &expected[..],
            &["none answers", "/nonexistent/rtlock/docker.sock"],
        ]
        .concat(),
    );
    assert_fails(
        root.path(),
        &lock,
        &["--no-daemon"],
        &[],
        &[&expected[..], &["--no-daemon was given"]].concat(),
    );
    // A lock of binaries alone needs no engine.
    let binaries = write_lock(&root.path().join("b"), &testbed().image_r, &[r6()]);
    let out = rtlock_env(
        &root.path().join("cache"),
        &["build", "--no-daemon", "-l", binaries.to_str().unwrap()],
        &[("DOCKER_HOST", "unix:///nonexistent/rtlock/docker.sock")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_dead_url_falls_back_to_a_cran_like_mirror_and_its_archive() {
    let root = tempfile::tempdir().unwrap();
    let dead = |mut p: Pkg| {
        p.url = format!(
            "{}gone/{}",
            repo().url(),
            p.file.file_name().unwrap().to_str().unwrap()
        );
        p
    };
    // R6 2.5.0 is only in src/contrib/Archive/R6/.
    let old = dead(from_repo("Archive/R6/R6_2.5.0.tar.gz", &[]));
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_r,
        &[dead(glue()), old],
    );
    let mirror = repo().url().to_string();
    let tag = fresh_tag("mirror");
    build(
        &root.path().join("cache"),
        &lock,
        &["--mirror", &mirror, "-o", &format!("docker-daemon:{tag}")],
    );
    let version = run_in(
        &tag,
        &[],
        "Rscript -e 'cat(as.character(packageVersion(\"R6\")))'",
    );
    assert_eq!(version, "2.5.0");
    let _ = docker(&["rmi", "-f", &tag]);
}

#[test]
fn an_upgrade_of_a_package_the_library_holds_leaves_no_old_file() {
    let bed = testbed();
    let root = tempfile::tempdir().unwrap();
    // The base: R6 2.5.0 installed by R itself, plus a file only the old install has.
    pull(&bed.image_r);
    let dir = tempfile::tempdir().unwrap();
    let old = from_repo("Archive/R6/R6_2.5.0.tar.gz", &[]);
    std::fs::copy(&old.file, dir.path().join("R6_2.5.0.tar.gz")).unwrap();
    let container = format!("rtlock-test-r-old-{}", std::process::id());
    let _ = docker(&["rm", "-f", &container]);
    ok(
        "R CMD INSTALL R6 2.5.0",
        docker(&[
            "run",
            "--name",
            &container,
            "-v",
            &format!("{}:/tarballs:ro", dir.path().display()),
            &bed.image_r,
            "sh",
            "-c",
            "R CMD INSTALL /tarballs/R6_2.5.0.tar.gz && \
             echo old > /usr/local/lib/R/site-library/R6/html/only-in-2.5.0.html",
        ]),
    );
    let base = format!("{}:old-r6", bed.fresh_repo("r-upgrade-base"));
    ok("docker commit", docker(&["commit", &container, &base]));
    let _ = docker(&["rm", "-f", &container]);
    ok("docker push", docker(&["push", "-q", &base]));

    let lock = write_lock(&root.path().join("p"), &base, &[r6()]);
    let tag = fresh_tag("upgrade");
    build(
        &root.path().join("cache"),
        &lock,
        &["-o", &format!("docker-daemon:{tag}")],
    );
    let upgraded = run_in(
        &tag,
        &[],
        "Rscript -e 'library(R6); cat(as.character(packageVersion(\"R6\")), \"\\n\")'; \
         ls /usr/local/lib/R/site-library/R6/html",
    );
    assert!(upgraded.starts_with("2.5.1 \n"), "{upgraded}");
    assert!(!upgraded.contains("only-in-2.5.0"), "{upgraded}");

    // Exactly the new version's files, as a fresh install of it has them.
    let script = tree_script(&["R6"]);
    let fresh_dir = tempfile::tempdir().unwrap();
    std::fs::copy(r6().file, fresh_dir.path().join("R6_2.5.1.tar.gz")).unwrap();
    let fresh = run_in(
        &bed.image_r,
        &[&format!("{}:/tarballs:ro", fresh_dir.path().display())],
        &format!("R CMD INSTALL /tarballs/R6_2.5.1.tar.gz >/dev/null 2>&1 && {script}"),
    );
    let ours = run_in(&tag, &[], &script);
    assert_same_lines(
        &fresh,
        &ours,
        "R CMD INSTALL",
        "the upgraded package's files",
    );
    let _ = docker(&["rmi", "-f", &tag, &base]);
}

/// The claim behind rtlock's rewrite of the build date (src/r/layer/normalize.rs),
/// checked against R: a package installed without a stamp, its date rewritten by rtlock,
/// is what R writes when given the stamp, and R reads the rewritten `package.rds` as the
/// identical object.
#[test]
fn the_rewritten_build_date_is_what_r_writes_with_the_stamp() {
    let bed = testbed();
    pull(&bed.image_r_dev);
    let out = tempfile::tempdir().unwrap();
    let bitops = from_repo("bitops_1.0-9.tar.gz", &[]);
    std::fs::copy(&bitops.file, out.path().join("bitops.tar.gz")).unwrap();
    run_in(
        &bed.image_r_dev,
        &[&format!("{}:/out", out.path().display())],
        &format!(
            "set -e; mkdir -p /build /plain /stamped; cd /build; tar xzf /out/bitops.tar.gz; \
             R CMD INSTALL -l /plain /build/bitops >/dev/null 2>&1; \
             R CMD INSTALL -l /stamped --built-timestamp='{STAMP}' /build/bitops >/dev/null 2>&1; \
             for d in plain stamped; do mkdir -p /out/$d; \
             cp /$d/bitops/DESCRIPTION /$d/bitops/Meta/package.rds /out/$d/; done"
        ),
    );
    let read = |p: &str| std::fs::read(out.path().join(p)).unwrap();
    let plain_description = String::from_utf8(read("plain/DESCRIPTION")).unwrap();
    let date = rtlock::r::layer::normalize::built_date(&plain_description).unwrap();
    assert_ne!(date, STAMP);

    let mut entries = vec![
        rtlock::oci::layer::Entry::file(
            "lib/bitops/DESCRIPTION",
            0o644,
            rtlock::oci::layer::Content::Bytes(read("plain/DESCRIPTION")),
        ),
        rtlock::oci::layer::Entry::file(
            "lib/bitops/Meta/package.rds",
            0o644,
            rtlock::oci::layer::Content::Bytes(read("plain/package.rds")),
        ),
    ];
    rtlock::r::layer::normalize::rewrite_built(&mut entries, "lib", "bitops", STAMP).unwrap();
    let bytes = |e: &rtlock::oci::layer::Entry| match &e.kind {
        rtlock::oci::layer::EntryKind::File(rtlock::oci::layer::Content::Bytes(b)) => b.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        String::from_utf8(bytes(&entries[0])).unwrap(),
        String::from_utf8(read("stamped/DESCRIPTION")).unwrap()
    );
    let gunzip = |b: &[u8]| {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(b), &mut plain).unwrap();
        plain
    };
    assert_eq!(
        gunzip(&bytes(&entries[1])),
        gunzip(&read("stamped/package.rds")),
        "the decompressed package.rds differs from R's"
    );
    std::fs::write(out.path().join("rewritten.rds"), bytes(&entries[1])).unwrap();
    let same = run_in(
        &bed.image_r_dev,
        &[&format!("{}:/out:ro", out.path().display())],
        "Rscript -e 'a <- readRDS(\"/out/rewritten.rds\"); b <- readRDS(\"/out/stamped/package.rds\"); \
         cat(identical(a, b), a$Built$Date, \"\\n\")'",
    );
    assert_eq!(same, format!("TRUE {STAMP}"));
}
