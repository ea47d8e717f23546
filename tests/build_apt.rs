//! The apt layer: real `.deb` files (downloaded with `apt-get download` from this
//! machine's configured mirror, served on 127.0.0.1), the bed's python base image, the
//! real Docker Engine. dpkg itself is the oracle: the same debs unpacked by dpkg in a
//! container of the base must leave the same database and files as rtlock's layer.
//!
//! The packages: tree (a plain program), jq + libjq1 + libonig5 (Multi-Arch: same
//! libraries, triggers), procps + libproc2-0 (files in /bin, /sbin and /lib on a
//! merged-/usr base, conffiles, maintainer scripts). Their dependencies are in the base.

mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::cli::{assert_same_lines, last_line, rtlock, run_in, stderr};
use common::server::StaticServer;
use common::testbed::{docker, lock_header, ok, testbed};
use sha2::{Digest as _, Sha256};

/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;
const PACKAGES: [&str; 6] = ["tree", "jq", "libjq1", "libonig5", "procps", "libproc2-0"];
/// The packages with maintainer scripts, left unpacked.
const WITH_SCRIPTS: [&str; 1] = ["procps"];

/// One downloaded package, as a lock names it.
#[derive(Debug, Clone)]
struct Deb {
    name: String,
    version: String,
    arch: String,
    multi_arch_same: bool,
    /// `pool/NAME_VERSION_ARCH.deb`, relative to the served directory.
    filename: String,
    sha256: String,
    size: u64,
}

struct Debs {
    dir: tempfile::TempDir,
    debs: Vec<Deb>,
}

fn field(file: &Path, name: &str) -> String {
    ok(
        "dpkg-deb -f",
        Command::new("dpkg-deb")
            .arg("-f")
            .arg(file)
            .arg(name)
            .output()
            .unwrap(),
    )
}

/// The debs, downloaded once per test binary, laid out as `pool/…` (a mirror's shape).
fn debs() -> &'static Debs {
    static DEBS: OnceLock<Debs> = OnceLock::new();
    DEBS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let download = dir.path().join("download");
        std::fs::create_dir_all(&download).unwrap();
        ok(
            "apt-get download",
            Command::new("apt-get")
                .arg("download")
                .args(PACKAGES)
                .current_dir(&download)
                .output()
                .unwrap(),
        );
        let pool = dir.path().join("pool");
        std::fs::create_dir_all(&pool).unwrap();
        let mut debs = Vec::new();
        for entry in std::fs::read_dir(&download).unwrap() {
            let path = entry.unwrap().path();
            let name = field(&path, "Package");
            let version = field(&path, "Version");
            let arch = field(&path, "Architecture");
            let multi_arch_same = field(&path, "Multi-Arch") == "same";
            // As a pool names it: no epoch in the file name.
            let plain = version.split_once(':').map_or(version.as_str(), |(_, v)| v);
            let filename = format!("pool/{name}_{plain}_{arch}.deb");
            std::fs::rename(&path, dir.path().join(&filename)).unwrap();
            let bytes = std::fs::read(dir.path().join(&filename)).unwrap();
            debs.push(Deb {
                name,
                version,
                arch,
                multi_arch_same,
                filename,
                sha256: hex::encode(Sha256::digest(&bytes)),
                size: bytes.len() as u64,
            });
        }
        debs.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(debs.len(), PACKAGES.len(), "{debs:?}");
        Debs { dir, debs }
    })
}

fn server() -> &'static StaticServer {
    static SERVER: OnceLock<StaticServer> = OnceLock::new();
    SERVER.get_or_init(|| StaticServer::start(debs().dir.path()))
}

/// A lock of the python base with `debs`, each fetched from `url(deb)`.
fn write_lock(dir: &Path, debs: &[Deb], url: &dyn Fn(&Deb) -> String) -> PathBuf {
    let mut text = lock_header(&testbed().image_python, EPOCH);
    for deb in debs {
        text.push_str(&format!(
            "\n[[apt]]\nname = \"{}\"\nversion = \"{}\"\narch = \"{}\"\nurl = \"{}\"\n\
             filename = \"{}\"\nsha256 = \"{}\"\nsize = {}\nrequested = true\n",
            deb.name,
            deb.version,
            deb.arch,
            url(deb),
            deb.filename,
            deb.sha256,
            deb.size
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("runtime.lock");
    std::fs::write(&path, text).unwrap();
    rtlock::lockfile::Lockfile::read(&path).expect("the hand-written lock parses");
    path
}

/// `rtlock -q build --no-daemon -l LOCK -o oci:DEST:t`, whatever its outcome.
fn build_to_layout(cache: &Path, lock: &Path, dest: &Path) -> std::process::Output {
    let lock = lock.to_str().unwrap();
    let dest = format!("oci:{}:t", dest.display());
    rtlock(
        cache,
        &["-q", "build", "--no-daemon", "-l", lock, "-o", &dest],
    )
}

fn served(deb: &Deb) -> String {
    server().url(&deb.filename).to_string()
}

/// Prints, for the test packages, what dpkg recorded and what is on disk: the info
/// files (name, mode, md5), and for every path of every `.list` its type, mode, owner
/// and size (a conffile not yet configured is looked up as `.dpkg-new`).
fn inventory_script() -> String {
    let prefixes: Vec<String> = debs()
        .debs
        .iter()
        .map(|d| {
            if d.multi_arch_same {
                format!("{}:{}", d.name, d.arch)
            } else {
                d.name.clone()
            }
        })
        .collect();
    let prefixes = prefixes.join(" ");
    format!(
        r#"set -e
cd /var/lib/dpkg/info
for p in {prefixes}; do
  for f in $(ls | grep -F "$p." | grep -E "^$p\.[a-z0-9]+$" | sort); do
    echo "info $f $(stat -c %a "$f") $(md5sum < "$f")"
  done
  while read -r path; do
    [ "$path" = "/." ] && continue
    if [ -e "$path" ] || [ -L "$path" ]; then t="$path"; else t="$path.dpkg-new"; fi
    echo "path $path $(stat -c '%F %a %u %g' "$t") $( [ -f "$t" ] && stat -c %s "$t" )"
  done < "$p.list"
done
test -L /bin && test -L /lib && test -L /sbin && echo "merged-usr intact"
"#
    )
}

/// The status file without the stanza of `libc-bin` (whose trigger state dpkg changes
/// when it processes the ldconfig trigger of the new libraries, which rtlock leaves to
/// the configure step).
fn status_without_triggers(status: &str) -> String {
    status
        .split("\n\n")
        .filter(|stanza| !stanza.starts_with("Package: libc-bin\n"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn the_apt_layer_matches_what_dpkg_unpacks_and_the_image_runs() {
    let bed = testbed();
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(&root.path().join("p"), &debs().debs, &served);
    let tag = format!("rtlock-test-apt:{}", std::process::id());
    let _ = docker(&["rmi", "-f", &tag]);
    let out = rtlock(
        &root.path().join("cache"),
        &[
            "build",
            "--no-daemon",
            "-l",
            lock.to_str().unwrap(),
            "-o",
            &format!("docker-daemon:{tag}"),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["apt"]["pending_configure"],
        serde_json::json!(WITH_SCRIPTS),
        "{json}"
    );
    assert!(
        stderr(&out).contains("maintainer scripts did not run for: procps"),
        "{}",
        stderr(&out)
    );

    // The oracle: dpkg unpacks the same debs in the base, and configures those without
    // maintainer scripts (`dpkg -i` would leave them so).
    ok("docker pull", docker(&["pull", "-q", &bed.image_python]));
    let no_scripts: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !WITH_SCRIPTS.contains(p))
        .collect();
    let debs_mount = format!("{}:/debs:ro", debs().dir.path().join("pool").display());
    let script = inventory_script();
    let oracle = run_in(
        &bed.image_python,
        &[&debs_mount],
        &format!(
            "dpkg --unpack /debs/*.deb >/dev/null && dpkg --configure {} >/dev/null && {script}",
            no_scripts.join(" ")
        ),
    );
    let ours = run_in(&tag, &[], &script);
    assert!(ours.contains("merged-usr intact"), "{ours}");
    assert!(ours.contains("path /bin/ps regular file 755 0 0"), "{ours}");
    assert_same_lines(&oracle, &ours, "dpkg", "info files and unpacked paths");

    let status = "cat /var/lib/dpkg/status";
    let oracle_status = run_in(
        &bed.image_python,
        &[&debs_mount],
        &format!(
            "dpkg --unpack /debs/*.deb >/dev/null && dpkg --configure {} >/dev/null && {status}",
            no_scripts.join(" ")
        ),
    );
    let our_status = run_in(&tag, &[], status);
    assert_same_lines(
        &status_without_triggers(&oracle_status),
        &status_without_triggers(&our_status),
        "dpkg",
        "/var/lib/dpkg/status",
    );

    // The image works: the programs run, apt is consistent, dpkg only waits for the
    // packages with scripts, and configuring them finishes the install.
    let checks = run_in(
        &tag,
        &[],
        "set -e; jq --version; tree --version; dpkg -s tree | grep '^Status'; \
         apt-get check >/dev/null && echo apt-check-ok; \
         echo AUDIT-BEGIN; dpkg --audit || true; echo AUDIT-END; \
         dpkg --configure -a >/dev/null 2>&1 && echo configured; \
         echo audit-after:$(dpkg --audit); ps -p 1 -o comm=",
    );
    assert!(checks.contains("jq-1.6"), "{checks}");
    assert!(checks.contains("tree v2.1.0"), "{checks}");
    assert!(checks.contains("Status: install ok installed"), "{checks}");
    assert!(checks.contains("apt-check-ok"), "{checks}");
    let audit = checks
        .split("AUDIT-BEGIN")
        .nth(1)
        .unwrap()
        .split("AUDIT-END")
        .next()
        .unwrap();
    assert!(audit.contains("procps"), "{checks}");
    for quiet in &no_scripts {
        assert!(!audit.contains(&format!(" {quiet} ")), "{quiet} in {audit}");
    }
    assert!(checks.contains("configured\naudit-after:\n"), "{checks}");
    assert!(checks.trim_end().ends_with("sh"), "{checks}");
    let _ = docker(&["rmi", "-f", &tag]);
}

#[test]
fn the_same_lock_builds_the_same_digest_and_passes_check() {
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(&root.path().join("p"), &debs().debs, &served);
    let lock = lock.to_str().unwrap();
    let build = |cache: &str, extra: &[&str]| {
        let mut args = vec!["build", "--no-daemon", "-l", lock];
        args.extend(extra);
        let out = rtlock(&root.path().join(cache), &args);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let first = build("c1", &[]);
    let second = build("c2", &[]);
    assert_eq!(last_line(&first), last_line(&second));
    assert!(last_line(&first).starts_with("sha256:"));

    // A cached rebuild gives the same digest (the layer found by its key), and still
    // says which packages were not configured.
    let again = build("c1", &[]);
    assert_eq!(last_line(&again), last_line(&first));
    assert!(stderr(&again).contains("maintainer scripts did not run for: procps"));

    let check = build("c3", &["--check"]);
    assert_eq!(last_line(&check), last_line(&first));
}

#[test]
fn a_dead_url_falls_back_to_a_mirror_and_a_bad_sha256_names_the_package() {
    let root = tempfile::tempdir().unwrap();
    let tree: Vec<Deb> = debs()
        .debs
        .iter()
        .filter(|d| d.name == "tree")
        .cloned()
        .collect();

    // The lock's URL is gone; the mirror has the file at its `filename`.
    let dead = |deb: &Deb| server().url(&format!("gone/{}", deb.filename)).to_string();
    let lock = write_lock(&root.path().join("dead"), &tree, &dead);
    let mirror = server().base_url().to_string();
    let out = rtlock(
        &root.path().join("c1"),
        &[
            "-q",
            "build",
            "--no-daemon",
            "-l",
            lock.to_str().unwrap(),
            "--mirror",
            &mirror,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(server().requests(&format!("/{}", tree[0].filename)) >= 1);

    // A wrong sha256: an error naming the package, and nothing written.
    let mut bad = tree.clone();
    bad[0].sha256 = "1".repeat(64);
    let lock = write_lock(&root.path().join("bad"), &bad, &served);
    let dest = root.path().join("out");
    let out = build_to_layout(&root.path().join("c2"), &lock, &dest);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("tree"), "{err}");
    assert!(err.contains("sha256") || err.contains("digest"), "{err}");
    assert!(!dest.exists(), "{err}");
}

// ---- crafted packages against a small crafted base ----

/// A tar built in memory.
struct TarBuilder(tar::Builder<Vec<u8>>);

impl TarBuilder {
    fn new() -> Self {
        let mut builder = tar::Builder::new(Vec::new());
        builder.mode(tar::HeaderMode::Deterministic);
        TarBuilder(builder)
    }

    /// Appends one entry; `link` is a symlink's target. `raw_path` writes the name
    /// field as given, since the tar crate refuses `..` in paths, which is what some
    /// tests need.
    fn entry(
        mut self,
        path: &str,
        kind: tar::EntryType,
        content: &str,
        link: Option<&str>,
        raw_path: bool,
    ) -> Self {
        let mode = match kind {
            tar::EntryType::Directory => 0o755,
            tar::EntryType::Symlink => 0o777,
            _ => 0o644,
        };
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(content.len() as u64);
        header.set_mtime(1_700_000_000);
        if raw_path {
            let name = &mut header.as_old_mut().name;
            name.fill(0);
            name[..path.len()].copy_from_slice(path.as_bytes());
        } else {
            header.set_path(path).unwrap();
        }
        if let Some(target) = link {
            header.set_link_name(target).unwrap();
        }
        header.set_cksum();
        self.0.append(&header, content.as_bytes()).unwrap();
        self
    }

    fn dir(self, path: &str) -> Self {
        self.entry(path, tar::EntryType::Directory, "", None, false)
    }

    fn file(self, path: &str, content: &str) -> Self {
        self.entry(path, tar::EntryType::Regular, content, None, false)
    }

    fn symlink(self, path: &str, target: &str) -> Self {
        self.entry(path, tar::EntryType::Symlink, "", Some(target), false)
    }

    fn hard_link(self, path: &str, target: &str) -> Self {
        self.entry(path, tar::EntryType::Link, "", Some(target), false)
    }

    fn raw_file(self, path: &str) -> Self {
        self.entry(path, tar::EntryType::Regular, "", None, true)
    }

    fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A `.deb` (ar: debian-binary, control.tar, data.tar.gz), as dpkg-deb lays it out.
fn craft_deb(path: &Path, control: &str, data: Vec<u8>) {
    let control = TarBuilder::new().file("./control", control).finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data).unwrap();
    let data = gz.finish().unwrap();
    let mut out = b"!<arch>\n".to_vec();
    for (name, bytes) in [
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar", control),
        ("data.tar.gz", data),
    ] {
        out.extend(
            format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                100644,
                bytes.len()
            )
            .as_bytes(),
        );
        out.extend(&bytes);
        if bytes.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    std::fs::write(path, out).unwrap();
}

/// A merged-/usr base with an installed package `old` (version 1) that ships
/// `/usr/bin/gone`, `/usr/bin/kept`, `/bin/shared` (also owned by `other`) and a conffile;
/// `other` diverts `/usr/bin/diverted`.
fn crafted_base(dir: &Path) -> rtlock::image::RootFs {
    let status = "Package: old\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\
                  Conffiles:\n /etc/old.conf 0123456789abcdef0123456789abcdef\nDescription: old\n\n\
                  Package: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDescription: o\n\n";
    let layer = TarBuilder::new()
        .symlink("bin", "usr/bin")
        .dir("etc/")
        .file("etc/old.conf", "x")
        .dir("usr/")
        .dir("usr/bin/")
        .file("usr/bin/gone", "1")
        .file("usr/bin/kept", "1")
        .file("usr/bin/shared", "1")
        .dir("var/")
        .dir("var/lib/")
        .dir("var/lib/dpkg/")
        .file("var/lib/dpkg/status", status)
        .file(
            "var/lib/dpkg/diversions",
            "/usr/bin/diverted\n/usr/bin/diverted.real\nother\n",
        )
        .dir("var/lib/dpkg/info/")
        .file(
            "var/lib/dpkg/info/old.list",
            "/.\n/etc\n/etc/old.conf\n/usr\n/usr/bin\n/usr/bin/gone\n/usr/bin/kept\n/bin/shared\n",
        )
        .file("var/lib/dpkg/info/old.md5sums", "")
        .file("var/lib/dpkg/info/old.postrm", "#!/bin/sh\n")
        .file("var/lib/dpkg/info/other.list", "/.\n/usr/bin/shared\n")
        .finish();
    let path = dir.join("base.tar");
    std::fs::write(&path, layer).unwrap();
    let blob = rtlock::image::LayerBlob {
        media_type: None,
        digest: None,
        size: None,
        diff_id: None,
        location: rtlock::image::store::BlobLocation::file(&path).unwrap(),
    };
    rtlock::image::RootFs::read(&[blob], &rtlock::apt::install::base_keep).unwrap()
}

fn package(dir: &Path, name: &str) -> rtlock::apt::install::PackageDeb {
    rtlock::apt::install::PackageDeb {
        name: name.to_string(),
        arch: "amd64".to_string(),
        version: "2".parse().unwrap(),
        file: dir.join(format!("{name}.deb")),
    }
}

fn control(name: &str) -> String {
    format!(
        "Package: {name}\nVersion: 2\nArchitecture: amd64\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
}

#[test]
fn an_upgrade_whiteouts_what_only_the_old_version_owned_and_follows_merged_usr() {
    let dir = tempfile::tempdir().unwrap();
    let base = crafted_base(dir.path());
    let data = TarBuilder::new()
        .dir("./")
        .dir("./bin/")
        .file("./bin/kept", "2")
        .hard_link("./bin/kept-too", "./bin/kept")
        .dir("./usr/")
        .dir("./usr/share/")
        .dir("./usr/bin/")
        .file("./usr/bin/diverted", "d")
        .dir("./usr/share/old/")
        .file("./usr/share/old/new", "n")
        .finish();
    craft_deb(&dir.path().join("old.deb"), &control("old"), data);
    let layer = rtlock::apt::install::make_layer(&base, &[package(dir.path(), "old")]).unwrap();
    let paths: BTreeMap<&str, &rtlock::oci::layer::Entry> =
        layer.entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let names: Vec<&str> = paths.keys().copied().collect();
    // ./bin/kept lands in usr/bin through the base's symlink; no `bin` directory.
    assert!(paths.contains_key("usr/bin/kept"), "{names:?}");
    assert_eq!(
        paths["usr/bin/kept-too"].kind,
        rtlock::oci::layer::EntryKind::HardLink {
            target: "usr/bin/kept".into()
        }
    );
    // `other` diverted /usr/bin/diverted: the new file goes where the diversion says
    // (matched on the package's own path, as dpkg does).
    assert!(paths.contains_key("usr/bin/diverted.real"), "{names:?}");
    assert!(!paths.contains_key("usr/bin/diverted"), "{names:?}");
    assert!(
        !names.iter().any(|p| *p == "bin" || p.starts_with("bin/")),
        "{names:?}"
    );
    // Directories of the base are not emitted again; new ones are.
    assert!(
        !paths.contains_key("usr/bin") && !paths.contains_key("usr"),
        "{names:?}"
    );
    assert!(paths.contains_key("usr/share/old"), "{names:?}");
    // Only the old version owned /usr/bin/gone; /bin/shared is also `other`'s; the
    // conffile stays, as dpkg leaves obsolete conffiles; the old postrm goes.
    assert!(paths.contains_key("usr/bin/.wh.gone"), "{names:?}");
    assert!(!paths.contains_key("usr/bin/.wh.shared"), "{names:?}");
    assert!(!paths.contains_key("etc/.wh.old.conf"), "{names:?}");
    assert!(
        paths.contains_key("var/lib/dpkg/info/.wh.old.postrm"),
        "{names:?}"
    );
    assert!(
        !paths.contains_key("var/lib/dpkg/info/.wh.old.list"),
        "{names:?}"
    );
    let status = match &paths["var/lib/dpkg/status"].kind {
        rtlock::oci::layer::EntryKind::File(rtlock::oci::layer::Content::Bytes(b)) => {
            String::from_utf8(b.clone()).unwrap()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        status,
        "Package: old\nStatus: install ok installed\nMaintainer: t <t@example.org>\n\
         Architecture: amd64\nVersion: 2\nDescription: test\n\n\
         Package: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDescription: o\n\n"
    );
    assert!(layer.pending_configure.is_empty());
}

#[test]
fn entries_that_escape_are_refused_naming_package_and_entry() {
    let dir = tempfile::tempdir().unwrap();
    let base = crafted_base(dir.path());

    // A symlink to /etc, then a file through it.
    let data = TarBuilder::new()
        .dir("./usr/")
        .dir("./usr/share/")
        .symlink("./usr/share/trick", "/etc")
        .file("./usr/share/trick/passwd", "root::0:0::/:/bin/sh\n")
        .finish();
    craft_deb(&dir.path().join("trick.deb"), &control("trick"), data);
    let error = rtlock::apt::install::make_layer(&base, &[package(dir.path(), "trick")])
        .unwrap_err()
        .to_string();
    assert!(error.contains("trick"), "{error}");
    assert!(error.contains("usr/share/trick/passwd"), "{error}");
    assert!(error.contains("symlink"), "{error}");

    // The symlink in one package, the file in another of the same install.
    let link = TarBuilder::new()
        .dir("./usr/")
        .symlink("./usr/lib2", "/etc")
        .finish();
    craft_deb(&dir.path().join("link.deb"), &control("link"), link);
    let through = TarBuilder::new().file("./usr/lib2/shadow", "x").finish();
    craft_deb(
        &dir.path().join("through.deb"),
        &control("through"),
        through,
    );
    let error = rtlock::apt::install::make_layer(
        &base,
        &[package(dir.path(), "link"), package(dir.path(), "through")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("through") && error.contains("usr/lib2/shadow"),
        "{error}"
    );

    // `..` and absolute paths.
    for (name, path) in [
        ("dotdot", "./usr/../../etc/passwd"),
        ("absolute", "/etc/passwd"),
    ] {
        let data = TarBuilder::new().raw_file(path).finish();
        craft_deb(
            &dir.path().join(format!("{name}.deb")),
            &control(name),
            data,
        );
        let error = rtlock::apt::install::make_layer(&base, &[package(dir.path(), name)])
            .unwrap_err()
            .to_string();
        assert!(error.contains(name) && error.contains(path), "{error}");
    }
}

// ---- issue 11, point 4: the .deb must be what the lock entry names ----

#[test]
fn a_deb_that_is_another_package_fails_the_build_naming_the_entry() {
    let root = tempfile::tempdir().unwrap();
    let all = &debs().debs;
    let tree = all.iter().find(|d| d.name == "tree").unwrap();
    let jq = all.iter().find(|d| d.name == "jq").unwrap();
    // tree's real .deb renamed to jq's file name: the lock passes every static check
    // (name, version, arch, filename, url agree) but the file is tree.
    let filename = format!("renamed/{}", jq.filename.trim_start_matches("pool/"));
    let dest = debs().dir.path().join(&filename);
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(debs().dir.path().join(&tree.filename), &dest).unwrap();
    let impostor = Deb {
        filename,
        sha256: tree.sha256.clone(),
        size: tree.size,
        ..jq.clone()
    };
    let lock = write_lock(&root.path().join("p"), &[impostor], &served);
    let dest = root.path().join("out");
    let out = build_to_layout(&root.path().join("cache"), &lock, &dest);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let expected = format!(
        "the .deb locked as jq {} ({}) is tree {} ({}): its control file says so",
        jq.version, jq.arch, tree.version, tree.arch
    );
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(!dest.exists(), "{err}");
}

#[test]
fn a_deb_whose_control_says_another_version_or_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = crafted_base(dir.path());
    for (name, control) in [
        (
            "otherversion",
            "Package: otherversion\nVersion: 3\nArchitecture: amd64\n",
        ),
        (
            "otherarch",
            "Package: otherarch\nVersion: 2\nArchitecture: arm64\n",
        ),
    ] {
        let data = TarBuilder::new().dir("./usr/").finish();
        craft_deb(&dir.path().join(format!("{name}.deb")), control, data);
        let error = rtlock::apt::install::make_layer(&base, &[package(dir.path(), name)])
            .unwrap_err()
            .to_string();
        let found = if name == "otherarch" {
            "2 (arm64)"
        } else {
            "3 (amd64)"
        };
        assert!(
            error.contains(&format!("locked as {name} 2 (amd64) is {name} {found}")),
            "{error}"
        );
    }
    // `0:2` is Debian's `2`: an explicit zero epoch is the same version.
    let data = TarBuilder::new().dir("./usr/").finish();
    craft_deb(
        &dir.path().join("epoch.deb"),
        "Package: epoch\nVersion: 0:2\nArchitecture: amd64\n",
        data,
    );
    rtlock::apt::install::make_layer(&base, &[package(dir.path(), "epoch")]).unwrap();
}
