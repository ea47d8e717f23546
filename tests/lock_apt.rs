//! `rtlock lock` with `[apt] packages`: against a real signed apt repository of real
//! .deb files served on 127.0.0.1, on the test bed's python base image extended with the
//! repository's key (and an apt pin) by `docker build`, so the keyring and preferences
//! are read from the image as apt reads them.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use tempfile::TempDir;

use common::apt_repo::{self, Key, Repo, deb_field, run};
use common::cli::run_in;
use common::server::StaticServer;
use common::testbed::{docker, ok, testbed};
use rtlock::fetch::sha256_hex;
use rtlock::lockfile::{AptPackage, Lockfile};

/// jq and the libraries it needs that the python base lacks; hello is pinned by the
/// image's preferences.
const PACKAGES: [&str; 4] = ["jq", "libjq1", "libonig5", "hello"];
const KEYRING: &str = "/usr/share/keyrings/rtlock-test.gpg";

struct Fixture {
    key: Key,
    debs: Vec<PathBuf>,
    /// The python base with the key and a pin of hello at its real version.
    image: String,
    _context: TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let key = Key::new("ed25519");
        let debs = apt_repo::debs(&PACKAGES);
        let hello_version = deb_field(&debs[3], "Version");
        let context = TempDir::new().unwrap();
        std::fs::write(context.path().join("rtlock-test.gpg"), key.export(false)).unwrap();
        std::fs::write(
            context.path().join("pin"),
            format!("Package: hello\nPin: version {hello_version}\nPin-Priority: 990\n"),
        )
        .unwrap();
        std::fs::write(
            context.path().join("Dockerfile"),
            format!(
                "FROM {}\nCOPY rtlock-test.gpg {KEYRING}\nCOPY pin /etc/apt/preferences.d/rtlock-test\n",
                testbed().image_python
            ),
        )
        .unwrap();
        let image = build_and_push(&context, "python-aptkey");
        Fixture {
            key,
            debs,
            image,
            _context: context,
        }
    })
}

/// `docker build` of `context` pushed to the bed's registry as `rtlock-test/NAME`, tagged
/// by this test process so parallel runs do not share it.
fn build_and_push(context: &TempDir, name: &str) -> String {
    let image = format!(
        "{}/rtlock-test/{name}:{}",
        testbed().registry,
        std::process::id()
    );
    let context_path = context.path().to_str().unwrap();
    ok(
        "docker build",
        docker(&["build", "-q", "-t", &image, context_path]),
    );
    ok("docker push", docker(&["push", &image]));
    image
}

/// A copy of `deb` at `version` (the same files, a new control `Version`), as a newer
/// upload to the archive would be.
fn rebuild_with_version(deb: &Path, version: &str, into: &Path) -> PathBuf {
    let tree = TempDir::new().unwrap();
    run(std::process::Command::new("dpkg-deb")
        .arg("-R")
        .arg(deb)
        .arg(tree.path()));
    let control = tree.path().join("DEBIAN/control");
    let old = deb_field(deb, "Version");
    // Exact-version dependencies between the binaries of one source move together.
    let text = std::fs::read_to_string(&control)
        .unwrap()
        .replace(&format!("(= {old})"), &format!("(= {version})"));
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("Version:") {
                format!("Version: {version}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&control, text).unwrap();
    let name = deb_field(deb, "Package");
    let out = into.join(format!("{name}_{version}_amd64.deb"));
    run(std::process::Command::new("dpkg-deb")
        .args(["-Zxz", "-b"])
        .arg(tree.path())
        .arg(&out));
    out
}

fn rtlock(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rtlock").unwrap();
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("--cache-dir")
        .arg(dir.join("cache"));
    cmd
}

fn manifest(dir: &Path, srv: &StaticServer, packages: &[&str], extra: &str) {
    let packages: Vec<String> = packages.iter().map(|p| format!("{p:?}")).collect();
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}\"\n[apt]\npackages = [{}]\nsources = [\"deb [signed-by={KEYRING}] {} stable main\"]\n{extra}",
            fixture().image,
            packages.join(", "),
            srv.base_url()
        ),
    )
    .unwrap();
}

fn locked(dir: &Path) -> Vec<AptPackage> {
    Lockfile::read(&dir.join("runtime.lock")).unwrap().apt
}

fn find<'a>(apt: &'a [AptPackage], name: &str) -> &'a AptPackage {
    apt.iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} is not locked: {apt:#?}"))
}

#[test]
fn locks_the_dependency_closure_pinned_by_sha256() {
    let f = fixture();
    let repo = Repo::build(&f.key, &f.debs, &[]);
    let srv = StaticServer::start(repo.root());
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &srv, &["jq"], "");
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .success()
        .stderr(predicates::str::contains(
            "apt 3 packages (1 requested, 2 pulled in)",
        ));

    let apt = locked(dir.path());
    let names: Vec<&str> = apt.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["jq", "libjq1", "libonig5"],
        "libc6 comes from the base"
    );
    for (package, deb) in PACKAGES.iter().zip(&f.debs).take(3) {
        let entry = find(&apt, package);
        let bytes = std::fs::read(deb).unwrap();
        assert_eq!(entry.sha256, sha256_hex(&bytes), "{package}");
        assert_eq!(entry.size, bytes.len() as u64);
        assert_eq!(entry.version, deb_field(deb, "Version"));
        assert_eq!(entry.arch, "amd64");
        let file = deb.file_name().unwrap().to_str().unwrap();
        assert_eq!(entry.filename, format!("pool/main/{file}"));
        assert_eq!(entry.url, srv.url(&entry.filename).to_string());
        assert_eq!(entry.requested, *package == "jq");
    }
    assert_eq!(find(&apt, "jq").requires, ["libc6", "libjq1"]);
    assert_eq!(find(&apt, "libjq1").requires, ["libc6", "libonig5"]);

    // `why` explains a pulled-in package from the lock alone.
    let why = rtlock(dir.path())
        .args(["why", "libonig5"])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&why.get_output().stdout).into_owned();
    assert!(out.contains("jq") && out.contains("libjq1"), "{out}");

    // Locking again changes nothing.
    let before = std::fs::read(dir.path().join("runtime.lock")).unwrap();
    rtlock(dir.path())
        .arg("lock")
        .assert()
        .success()
        .stderr(predicates::str::contains("unchanged"));
    assert_eq!(
        std::fs::read(dir.path().join("runtime.lock")).unwrap(),
        before
    );
}

#[test]
fn locked_versions_stay_until_update_names_them_and_pins_are_honoured() {
    let f = fixture();
    let repo = Repo::build(&f.key, &f.debs, &[]);
    let srv = StaticServer::start(repo.root());
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &srv, &["jq"], "");
    rtlock(dir.path()).arg("lock").assert().success();
    let old = find(&locked(dir.path()), "jq").version.clone();

    // A newer jq and libjq1 reach the archive (jq needs libjq1 of its own version).
    let newer = format!("{old}+rtlock1");
    let pool = repo.root().join("pool/main");
    rebuild_with_version(&f.debs[0], &newer, &pool);
    rebuild_with_version(&f.debs[1], &newer, &pool);
    // hello's newer version too: the image's pin keeps the real one.
    let hello = deb_field(&f.debs[3], "Version");
    rebuild_with_version(&f.debs[3], &format!("{hello}+rtlock1"), &pool);
    repo.index();
    repo.sign_with(&f.key, &[]);

    // A new request: the locked jq stays, hello is the pinned version.
    manifest(dir.path(), &srv, &["jq", "hello"], "");
    rtlock(dir.path()).arg("lock").assert().success();
    let apt = locked(dir.path());
    assert_eq!(find(&apt, "jq").version, old);
    assert_eq!(find(&apt, "libjq1").version, old);
    assert_eq!(
        find(&apt, "hello").version,
        hello,
        "the image pins hello at 990"
    );

    // `--update jq` moves jq; libjq1 must follow (jq depends on its exact version).
    rtlock(dir.path())
        .args(["lock", "--update", "jq", "--update", "libjq1"])
        .assert()
        .success();
    let apt = locked(dir.path());
    assert_eq!(find(&apt, "jq").version, newer);
    assert_eq!(find(&apt, "libjq1").version, newer);
    assert_eq!(find(&apt, "hello").version, hello);

    // A name that is not locked is an error.
    rtlock(dir.path())
        .args(["lock", "--update", "curl"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("`curl` is not in"));
}

/// Each bad input is an error naming what is wrong, and the lock is not written.
#[test]
fn bad_inputs_are_clear_errors_and_write_nothing() {
    let f = fixture();
    let cases: [(&[&str], &str, &str); 3] = [
        (&["no-such-package-rtlock"], "", "no-such-package-rtlock"),
        (&["jq (>= 99)"], "", "jq (>= 99)"),
        (&["jq", "libjq1 (<< 1.0)"], "", "libjq1"),
    ];
    let repo = Repo::build(&f.key, &f.debs, &[]);
    let srv = StaticServer::start(repo.root());
    for (packages, extra, named) in cases {
        let dir = TempDir::new().unwrap();
        manifest(dir.path(), &srv, packages, extra);
        let assert = rtlock(dir.path()).arg("lock").assert().failure();
        let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
        // Refused by the resolver (not by a fetch or a parse), naming the request.
        assert!(
            err.contains("cannot resolve [apt] packages"),
            "{packages:?}: {err}"
        );
        assert!(err.contains(named), "{packages:?}: {err}");
        assert!(!dir.path().join("runtime.lock").exists(), "{packages:?}");
    }

    // A tampered Packages file (after signing): the hash check names its URL.
    let tampered = Repo::build(&f.key, &f.debs, &[]);
    let index = tampered.root().join(apt_repo::BINARY).join("Packages.gz");
    let mut bytes = std::fs::read(&index).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&index, bytes).unwrap();
    let srv = StaticServer::start(tampered.root());
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &srv, &["jq"], "");
    let assert = rtlock(dir.path()).arg("lock").assert().failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(err.contains("Packages.gz"), "{err}");
    assert!(!dir.path().join("runtime.lock").exists());

    // Signed by a key the image does not trust: refused, naming the keyring.
    let stranger = Key::new("ed25519");
    let unsigned = Repo::build(&stranger, &f.debs, &[]);
    let srv = StaticServer::start(unsigned.root());
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &srv, &["jq"], "");
    let assert = rtlock(dir.path()).arg("lock").assert().failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(err.contains(KEYRING) && err.contains("InRelease"), "{err}");
    assert!(!dir.path().join("runtime.lock").exists());

    // No signature at all.
    for name in ["InRelease", "Release.gpg"] {
        std::fs::remove_file(unsigned.root().join(apt_repo::DIST).join(name)).unwrap();
    }
    let assert = rtlock(dir.path()).arg("lock").assert().failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(err.contains("Release"), "{err}");
    assert!(!dir.path().join("runtime.lock").exists());
}

/// A repository whose pool names a .deb against Debian's `NAME_VERSION_ARCH.deb`
/// convention: the lock would name a file that does not say what it is, which every
/// reader of locks refuses, so `lock` refuses to write it and says which entry.
#[test]
fn a_lock_the_reader_would_refuse_is_not_written() {
    let f = fixture();
    let renamed = TempDir::new().unwrap();
    let debs: Vec<PathBuf> = f
        .debs
        .iter()
        .map(|deb| {
            let name = deb_field(deb, "Package");
            let to = if name == "jq" {
                renamed.path().join("jq-latest.deb")
            } else {
                renamed.path().join(deb.file_name().unwrap())
            };
            std::fs::copy(deb, &to).unwrap();
            to
        })
        .collect();
    let repo = Repo::build(&f.key, &debs, &[]);
    let srv = StaticServer::start(repo.root());
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &srv, &["jq"], "");
    let assert = rtlock(dir.path()).arg("lock").assert().failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let err = err
        .replace(dir.path().to_str().unwrap(), "[dir]")
        .replace(&srv.base_url().to_string(), "[repo]/")
        // The mirror's jq, whichever version it serves today.
        .replace(&deb_field(&f.debs[0], "Version"), "[version]");
    insta::assert_snapshot!(err);
    assert!(!dir.path().join("runtime.lock").exists());
}

/// Every way of writing "disabled" that apt's `Enabled:` accepts (its `StringToBool`:
/// any case, the number 0).
const DISABLED_FORMS: [&str; 7] = ["no", "No", "false", "FALSE", "off", "0", "disable"];

/// The fixture image with its own sources replaced: one `.sources` file naming the
/// local repository with `Enabled: on` (apt reads it as enabled), and one paragraph per
/// [`DISABLED_FORMS`] naming a closed port, so a lock that read any of them would fail
/// to fetch it.
fn image_with_enabled_forms(srv: &StaticServer) -> String {
    let context = TempDir::new().unwrap();
    std::fs::write(
        context.path().join("local.sources"),
        format!(
            "Types: deb\nURIs: {}\nSuites: stable\nComponents: main\nSigned-By: {KEYRING}\nEnabled: on\n",
            srv.base_url()
        ),
    )
    .unwrap();
    let off: Vec<String> = DISABLED_FORMS
        .iter()
        .enumerate()
        .map(|(i, form)| {
            format!(
                "Types: deb\nURIs: http://127.0.0.1:9/off{i}/\nSuites: stable\nComponents: main\nEnabled: {form}\n"
            )
        })
        .collect();
    std::fs::write(context.path().join("off.sources"), off.join("\n")).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN rm -rf /etc/apt/sources.list.d && mkdir /etc/apt/sources.list.d \
             && echo '# only sources.list.d' > /etc/apt/sources.list\n\
             COPY local.sources off.sources /etc/apt/sources.list.d/\n",
            fixture().image
        ),
    )
    .unwrap();
    build_and_push(&context, "python-enabled")
}

/// `inspect` and `lock` read one image's `Enabled:` fields alike, and as apt does (apt in
/// a container of the image is the oracle): the paragraphs apt skips are shown disabled
/// and never fetched, the `Enabled: on` one is shown enabled and is where every locked
/// package comes from.
#[test]
fn inspect_and_lock_agree_on_which_sources_are_enabled() {
    let f = fixture();
    let repo = Repo::build(&f.key, &f.debs, &[]);
    let srv = StaticServer::start(repo.root());
    let image = image_with_enabled_forms(&srv);
    let dir = TempDir::new().unwrap();

    let inspected = rtlock(dir.path())
        .envs(testbed().env())
        .args(["inspect", &format!("docker://{image}"), "--format", "json"])
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&inspected.get_output().stdout).unwrap();
    let shown: Vec<(String, bool)> = json["apt"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["uris"][0].as_str().unwrap().to_string(),
                s["enabled"].as_bool().unwrap(),
            )
        })
        .collect();
    let mut expected = vec![(srv.base_url().to_string(), true)];
    expected
        .extend((0..DISABLED_FORMS.len()).map(|i| (format!("http://127.0.0.1:9/off{i}/"), false)));
    assert_eq!(shown, expected, "inspect reads Enabled: as apt does");
    // apt itself, in a container of the image: the indexes `apt-get update` would fetch.
    let apt_reads = run_in(&image, &[], "apt-get update --print-uris");
    for (uri, enabled) in &shown {
        assert_eq!(
            apt_reads.contains(uri.as_str()),
            *enabled,
            "{uri}: apt-get update --print-uris says\n{apt_reads}"
        );
    }

    // No `[apt] sources`: the lock reads the image's own.
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!("[base]\nimage = \"{image}\"\n[apt]\npackages = [\"jq\"]\n"),
    )
    .unwrap();
    rtlock(dir.path()).arg("lock").assert().success();
    let apt = locked(dir.path());
    assert_eq!(apt.len(), 3, "{apt:#?}");
    let enabled: Vec<&str> = shown
        .iter()
        .filter(|(_, on)| *on)
        .map(|(uri, _)| uri.as_str())
        .collect();
    for entry in &apt {
        assert!(
            enabled.iter().any(|uri| entry.url.starts_with(uri)),
            "{} comes from a source inspect does not show enabled: {}",
            entry.name,
            entry.url
        );
    }
}

/// An index version the resolver reads but dpkg's syntax refuses (the upstream part
/// must start with a digit), which the lock holds its versions to: `lock` names the
/// package, where it comes from and why, and writes nothing.
#[test]
fn an_index_version_outside_dpkg_syntax_is_refused_by_name() {
    let f = fixture();
    let repo = Repo::build(&f.key, &f.debs, &[]);
    let binary = repo.root().join(apt_repo::BINARY);
    let version = deb_field(&f.debs[0], "Version");
    let packages = std::fs::read_to_string(binary.join("Packages")).unwrap();
    let stanzas: Vec<String> = packages
        .split("\n\n")
        .map(|stanza| {
            if stanza.starts_with("Package: jq\n") {
                let bad = stanza.replace(
                    &format!("\nVersion: {version}\n"),
                    &format!("\nVersion: v{version}\n"),
                );
                assert_ne!(bad, stanza, "jq's stanza names its version");
                bad
            } else {
                stanza.to_string()
            }
        })
        .collect();
    for name in ["Packages", "Packages.xz", "Packages.gz"] {
        std::fs::remove_file(binary.join(name)).unwrap();
    }
    std::fs::write(binary.join("Packages"), stanzas.join("\n\n")).unwrap();
    run(std::process::Command::new("xz")
        .args(["-k", "Packages"])
        .current_dir(&binary));
    run(std::process::Command::new("gzip")
        .args(["-k", "-n", "Packages"])
        .current_dir(&binary));
    repo.sign_with(&f.key, &[]);

    let srv = StaticServer::start(repo.root());
    let dir = TempDir::new().unwrap();
    manifest(dir.path(), &srv, &["jq"], "");
    let assert = rtlock(dir.path()).arg("lock").assert().failure();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        err.contains(&format!("jq from {}pool/main/", srv.base_url()))
            && err.contains(&format!(
                "cannot be locked: `v{version}` is not a valid Debian version: the upstream \
             version must start with a digit"
            )),
        "{err}"
    );
    assert!(err.contains("[apt] exclude-sources"), "{err}");
    assert!(!dir.path().join("runtime.lock").exists());
}
