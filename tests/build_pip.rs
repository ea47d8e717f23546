//! The pip layer: real wheels (downloaded at test time with this machine's pip from
//! its configured index, cached under /var/cache/rtlock-testbed/pip-wheels, served on
//! 127.0.0.1), the bed's python base image, the real Docker Engine. pip itself is the
//! oracle: the same wheels installed by `pip install --no-deps --no-compile` in a
//! container of the base must leave the same files, modes and RECORD rows.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::cli::{assert_same_lines, last_line, rtlock, run_in, stderr};
use common::pip_index::{PipIndex, exact};
use common::server::StaticServer;
use common::testbed::{docker, lock_header, ok, testbed};
use sha2::{Digest as _, Sha256};

/// 2025-11-01T00:00:00Z
const EPOCH: i64 = 1_761_955_200;
/// pandas and scikit-learn with their dependencies, charset-normalizer for a console
/// script of its own (numpy brings `f2py`).
const REQUESTS: [&str; 3] = [
    "pandas==2.2.3",
    "scikit-learn==1.5.2",
    "charset-normalizer==3.4.0",
];
const REQUESTED: [&str; 3] = ["pandas", "scikit-learn", "charset-normalizer"];
const CACHE: &str = "/var/cache/rtlock-testbed/pip-wheels";

/// One wheel, as a lock names it.
#[derive(Debug, Clone)]
struct WheelFile {
    name: String,
    version: String,
    file: String,
    /// Where the test server has it, relative to its directory (a copy altered by a
    /// test is in a directory of its own, under its real file name).
    served: String,
    sha256: String,
    size: u64,
}

/// Downloads `requests` with the machine's pip for CPython 3.11 on manylinux x86_64
/// (the bed's base) into the cache directory `set`, and describes each wheel.
fn download(set: &str, requests: &[&str]) -> (PathBuf, Vec<WheelFile>) {
    let dir = Path::new(CACHE).join(set);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    ok(
        "pip download",
        Command::new("python3")
            .args(["-m", "pip", "download", "-q", "--only-binary=:all:"])
            .args(["--python-version", "3.11", "--implementation", "cp"])
            .args([
                "--platform",
                "manylinux2014_x86_64",
                "--platform",
                "manylinux_2_17_x86_64",
            ])
            .arg("-d")
            .arg(&dir)
            .args(requests)
            .output()
            .expect("run pip download"),
    );
    let mut wheels = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        if !file.ends_with(".whl") {
            continue;
        }
        let mut parts = file.split('-');
        let (name, version) = (parts.next().unwrap(), parts.next().unwrap());
        let bytes = std::fs::read(&path).unwrap();
        wheels.push(WheelFile {
            name: name.replace('_', "-").to_lowercase(),
            version: version.to_string(),
            served: file.clone(),
            file,
            sha256: hex::encode(Sha256::digest(&bytes)),
            size: bytes.len() as u64,
        });
    }
    wheels.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(wheels.len() >= requests.len(), "{wheels:?}");
    (dir, wheels)
}

struct Wheels {
    dir: PathBuf,
    wheels: Vec<WheelFile>,
    server: StaticServer,
}

fn wheels() -> &'static Wheels {
    static WHEELS: OnceLock<Wheels> = OnceLock::new();
    WHEELS.get_or_init(|| {
        let (dir, wheels) = download("install", &REQUESTS);
        let server = StaticServer::start(&dir);
        Wheels {
            dir,
            wheels,
            server,
        }
    })
}

/// A lock of `base` (a plain-registry reference) with `wheels`, each fetched from `url`.
fn write_lock(
    dir: &Path,
    base: &str,
    wheels: &[WheelFile],
    url: &dyn Fn(&WheelFile) -> String,
) -> PathBuf {
    let mut text = lock_header(base, EPOCH);
    for wheel in wheels {
        text.push_str(&format!(
            "\n[[pip]]\nname = \"{}\"\nversion = \"{}\"\nfile = \"{}\"\nurl = \"{}\"\n\
             sha256 = \"{}\"\nsize = {}\nrequested = {}\n",
            wheel.name,
            wheel.version,
            wheel.file,
            url(wheel),
            wheel.sha256,
            wheel.size,
            REQUESTED.contains(&wheel.name.as_str()),
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("runtime.lock");
    std::fs::write(&path, text).unwrap();
    rtlock::lockfile::Lockfile::read(&path).expect("the hand-written lock parses");
    path
}

fn served(wheel: &WheelFile) -> String {
    wheels().server.url(&wheel.served).to_string()
}

/// `rtlock build -l LOCK -o DESTINATION`, which must succeed.
fn build_ok(cache: &Path, lock: &Path, destination: &str) {
    let out = rtlock(
        cache,
        &["build", "-l", lock.to_str().unwrap(), "-o", destination],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Every file and directory pip's install touches (type, mode, owner, size), and every
/// RECORD row. INSTALLER and REQUESTED aside, which differ by design (pip marks every
/// wheel it is given as requested, the lock only what the manifest asks for), and so
/// do RECORD sizes.
const INVENTORY: &str = r#"set -e
cd /usr/local
find lib/python3.11/dist-packages bin include share -mindepth 1 \
  ! -name INSTALLER ! -name REQUESTED \
  \( -name RECORD -printf 'path %p %y %m %u %g\n' -o -printf 'path %p %y %m %u %g %s\n' \) \
  2>/dev/null | sort
cat lib/python3.11/dist-packages/*.dist-info/RECORD | grep -v -e '/INSTALLER,' -e '/REQUESTED,' \
  | sed 's/^/record /' | sort
"#;

#[test]
fn the_pip_layer_matches_what_pip_installs_and_the_image_runs() {
    let bed = testbed();
    let set = wheels();
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(
        &root.path().join("p"),
        &bed.image_python,
        &set.wheels,
        &served,
    );
    let tag = format!("rtlock-test-pip:{}", std::process::id());
    let _ = docker(&["rmi", "-f", &tag]);
    build_ok(
        &root.path().join("cache"),
        &lock,
        &format!("docker-daemon:{tag}"),
    );

    // No bytecode (before anything imports a module and Python writes some).
    // Only the .pyc a wheel itself ships (numpy has one) are there.
    let shipped = ok(
        "count .pyc in the wheels",
        Command::new("python3")
            .arg("-c")
            .arg(
                "import sys, zipfile\nprint(sum(n.endswith('.pyc') for f in sys.argv[1:] \
                 for n in zipfile.ZipFile(f).namelist()))",
            )
            .args(set.wheels.iter().map(|w| set.dir.join(&w.file)))
            .output()
            .unwrap(),
    );
    let pyc = run_in(&tag, &[], "find /usr/local -name '*.pyc' | wc -l");
    assert_eq!(
        pyc, shipped,
        "no bytecode in the layer besides the wheels' own"
    );

    // The image works.
    let checks = run_in(
        &tag,
        &[],
        "set -e; python3 -m pip check; echo LIST; python3 -m pip list --format json; echo; \
         python3 -c 'import pandas, sklearn; print(\"imported\", pandas.__version__, sklearn.__version__)'; \
         normalizer --version; f2py -v; \
         python3 -m pip show -f pandas | grep -c '^  pandas/' ; \
         head -1 /usr/local/bin/normalizer; stat -c %a /usr/local/bin/normalizer; \
         ls /usr/local/lib/python3.11/dist-packages/pandas-2.2.3.dist-info",
    );
    assert!(
        checks.starts_with("No broken requirements found."),
        "{checks}"
    );
    let list = checks
        .split("LIST\n")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(list).unwrap();
    for wheel in &set.wheels {
        assert!(
            list.iter().any(
                |d| d["name"].as_str().unwrap().to_lowercase().replace('_', "-") == wheel.name
                    && d["version"] == wheel.version.as_str()
            ),
            "{} {} not in pip list: {list:?}",
            wheel.name,
            wheel.version
        );
    }
    assert!(checks.contains("imported 2.2.3 1.5.2"), "{checks}");
    assert!(checks.contains("Charset-Normalizer 3.4.0 "), "{checks}");
    let lines: Vec<&str> = checks.lines().collect();
    let shebang = lines
        .iter()
        .position(|l| *l == "#!/usr/bin/python3")
        .expect(&checks);
    assert_eq!(lines[shebang + 1], "755", "{checks}");
    let files: usize = lines[shebang - 1].parse().expect(&checks);
    assert!(
        files > 1000,
        "pip show -f lists {files} pandas files: {checks}"
    );
    assert!(checks.contains("\nINSTALLER\n"), "{checks}");
    assert!(checks.contains("\nREQUESTED\n"), "{checks}");
    assert!(checks.contains("\nRECORD\n"), "{checks}");
    let requested = run_in(
        &tag,
        &[],
        "cat /usr/local/lib/python3.11/dist-packages/*.dist-info/INSTALLER | sort -u; \
         ls /usr/local/lib/python3.11/dist-packages/numpy-*.dist-info",
    );
    assert!(requested.starts_with("rtlock\n"), "{requested}");
    assert!(
        !requested.contains("REQUESTED"),
        "numpy was not requested: {requested}"
    );

    // The oracle: pip installs the same wheels in a container of the base.
    ok("docker pull", docker(&["pull", "-q", &bed.image_python]));
    let mount = format!("{}:/wheels:ro", set.dir.display());
    // From a find-links directory, as from an index (a wheel named by its path would be
    // a direct URL, with a direct_url.json).
    let pins: Vec<String> = set
        .wheels
        .iter()
        .map(|w| format!("{}=={}", w.name, w.version))
        .collect();
    let oracle = run_in(
        &bed.image_python,
        &[&mount],
        &format!(
            "python3 -m pip install -q --no-deps --no-compile --break-system-packages \
             --no-index --find-links /wheels {} >/dev/null 2>&1 && {INVENTORY}",
            pins.join(" ")
        ),
    );
    let ours = run_in(&tag, &[], INVENTORY);
    assert!(
        ours.contains("record ../../../bin/normalizer,sha256="),
        "{ours}"
    );
    assert_same_lines(&oracle, &ours, "pip", "installed files and RECORD rows");
    let _ = docker(&["rmi", "-f", &tag]);
}

#[test]
fn the_same_lock_builds_the_same_digest_and_passes_check() {
    let set = wheels();
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_python,
        &set.wheels,
        &served,
    );
    let lock = lock.to_str().unwrap();
    let build = |cache: &str, extra: &[&str]| {
        let mut args = vec!["build", "-l", lock];
        args.extend(extra);
        let out = rtlock(&root.path().join(cache), &args);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let layout = root.path().join("layout");
    let first = build("c1", &["-o", &format!("oci:{}:v1", layout.display())]);
    assert!(layout.join("index.json").exists());
    let second = build("c2", &[]);
    assert_eq!(last_line(&first), last_line(&second));
    assert!(
        last_line(&first).starts_with("sha256:"),
        "{}",
        last_line(&first)
    );
    let cached = build("c1", &[]);
    assert_eq!(last_line(&cached), last_line(&first));
    let check = build("c3", &["--check"]);
    assert_eq!(last_line(&check), last_line(&first));
}

/// A build that must fail with `expected` in its message, writing no output.
fn assert_fails(root: &Path, lock: &Path, expected: &[&str]) {
    let layout = root.join("never");
    let out = rtlock(
        &root.join("cache"),
        &[
            "build",
            "-l",
            lock.to_str().unwrap(),
            "-o",
            &format!("oci:{}:v1", layout.display()),
        ],
    );
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

/// A copy of `wheel` changed by `change` (Python's zipfile, at test time), served
/// beside the real ones as `altered/NAME/FILE` (a lock's `file` is the wheel's own name).
fn altered(wheel: &WheelFile, name: &str, change: &str) -> WheelFile {
    let dir = wheels().dir.join("altered").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(&wheel.file);
    ok(
        "python3 zipfile",
        Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import sys, zipfile\nsrc, dst = sys.argv[1], sys.argv[2]\n{change}\n"
            ))
            .arg(wheels().dir.join(&wheel.file))
            .arg(&out)
            .output()
            .unwrap(),
    );
    let bytes = std::fs::read(&out).unwrap();
    WheelFile {
        served: format!("altered/{name}/{}", wheel.file),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        ..wheel.clone()
    }
}

fn small_wheel() -> WheelFile {
    wheels()
        .wheels
        .iter()
        .find(|w| w.name == "threadpoolctl")
        .unwrap()
        .clone()
}

#[test]
fn a_wrong_sha256_names_the_package_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let mut wheel = small_wheel();
    wheel.sha256 = "1".repeat(64);
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_python,
        &[wheel.clone()],
        &served,
    );
    assert_fails(
        root.path(),
        &lock,
        &[&format!("wheel of threadpoolctl {}", wheel.version)],
    );
}

#[test]
fn a_corrupt_wheel_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    // The middle of the archive overwritten: the central directory still reads, a
    // member's data does not (deflate or CRC error).
    let corrupt = altered(
        &small_wheel(),
        "corrupt",
        "data = bytearray(open(src, 'rb').read())\n\
         for i in range(200, 2200): data[i] ^= 0x5a\n\
         open(dst, 'wb').write(bytes(data))",
    );
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_python,
        &[corrupt],
        &served,
    );
    assert_fails(
        root.path(),
        &lock,
        &["cannot read the wheel", "threadpoolctl"],
    );
}

#[test]
fn a_wheel_entry_escaping_site_packages_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let escaping = altered(
        &small_wheel(),
        "escaping",
        "with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, 'w') as b:\n\
         \x20   for i in a.infolist(): b.writestr(i, a.read(i))\n\
         \x20   b.writestr('../../../../etc/evil.py', 'print(1)')",
    );
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_python,
        &[escaping],
        &served,
    );
    assert_fails(
        root.path(),
        &lock,
        &[
            "unsafe entry `../../../../etc/evil.py`",
            "threadpoolctl",
            "escapes",
        ],
    );
}

#[test]
fn a_wheel_upgrading_a_base_distribution_removes_the_old_files() {
    let bed = testbed();
    let root = tempfile::tempdir().unwrap();
    // The base: the bed's python image plus charset-normalizer 3.3.2, built by rtlock
    // and pushed to the bed's registry.
    let (old_dir, old) = download("upgrade-old", &["charset-normalizer==3.3.2"]);
    let old: Vec<WheelFile> = old
        .into_iter()
        .filter(|w| w.name == "charset-normalizer")
        .collect();
    let old_server = StaticServer::start(&old_dir);
    let lock = write_lock(&root.path().join("old"), &bed.image_python, &old, &|w| {
        old_server.url(&w.file).to_string()
    });
    let base = bed.fresh_repo("pip-upgrade-base");
    let base_tag = format!("{base}:v1");
    build_ok(
        &root.path().join("cache"),
        &lock,
        &format!("docker://{base_tag}"),
    );

    let new: Vec<WheelFile> = wheels()
        .wheels
        .iter()
        .filter(|w| w.name == "charset-normalizer")
        .cloned()
        .collect();
    let lock = write_lock(&root.path().join("new"), &base_tag, &new, &served);
    let tag = format!("rtlock-test-pip-upgrade:{}", std::process::id());
    build_ok(
        &root.path().join("cache"),
        &lock,
        &format!("docker-daemon:{tag}"),
    );
    let site = "/usr/local/lib/python3.11/dist-packages";
    let checks = run_in(
        &tag,
        &[],
        &format!(
            "set -e; cd {site}; ls charset_normalizer | sort > /tmp/now; \
             sed -n 's#^charset_normalizer/\\([^/,]*\\).*#\\1#p' charset_normalizer-3.4.0.dist-info/RECORD \
             | sort -u > /tmp/listed; cd /; \
             python3 -m pip check; python3 -m pip list --format freeze | grep -i charset; \
             ls -d {site}/charset_normalizer*; normalizer --version; \
             python3 -m pip show -f charset-normalizer | grep -c charset_normalizer/; \
             for f in $(sed 's/,.*//' {site}/charset_normalizer-3.4.0.dist-info/RECORD); do test -e {site}/$f || echo missing $f; done; \
             cd {site} && comm -3 /tmp/now /tmp/listed | sed 's/^/unlisted /'"
        ),
    );
    assert!(checks.contains("charset-normalizer==3.4.0"), "{checks}");
    assert!(
        !checks.contains("3.3.2"),
        "the old version is left: {checks}"
    );
    assert!(!checks.contains("missing "), "{checks}");
    assert!(
        !checks.contains("unlisted "),
        "a file of the old version is left: {checks}"
    );
    assert!(checks.contains("Charset-Normalizer 3.4.0 "), "{checks}");
    let _ = docker(&["rmi", "-f", &tag]);
}

#[test]
fn a_dead_url_falls_back_to_a_mirror_directory() {
    let root = tempfile::tempdir().unwrap();
    let wheel = small_wheel();
    let dead = |w: &WheelFile| wheels().server.url(&format!("gone/{}", w.file)).to_string();
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_python,
        std::slice::from_ref(&wheel),
        &dead,
    );
    let mirror = wheels().server.base_url().to_string();
    let out = rtlock(
        &root.path().join("cache"),
        &[
            "-q",
            "build",
            "-l",
            lock.to_str().unwrap(),
            "--mirror",
            &mirror,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(wheels().server.requests(&format!("/{}", wheel.file)) >= 1);
}

#[test]
fn a_base_without_python_is_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_minimal,
        &[small_wheel()],
        &served,
    );
    assert_fails(
        root.path(),
        &lock,
        &["has no `python3` interpreter", "[apt] packages"],
    );
}

// ---- issue 11, point 4: the artifact must be what the lock entry names ----

/// six 1.17.0 and tzdata 2025.2, real wheels from a real index on 127.0.0.1; the
/// reproduction gives six's entry tzdata's artifact.
fn six_and_tzdata() -> (PipIndex, WheelFile, WheelFile) {
    let index = PipIndex::start(&[exact("six", &["1.17.0"]), exact("tzdata", &["2025.2"])]);
    let wheel = |project: &str| {
        let file = index
            .files(project)
            .into_iter()
            .find(|f| f.filename.ends_with(".whl"))
            .unwrap_or_else(|| panic!("the index has no wheel of {project}"));
        let version = file.filename.split('-').nth(1).unwrap().to_string();
        WheelFile {
            name: project.to_string(),
            version,
            served: format!("files/{}", file.filename),
            file: file.filename,
            sha256: file.sha256,
            size: file.size,
        }
    };
    let (six, tzdata) = (wheel("six"), wheel("tzdata"));
    (index, six, tzdata)
}

#[test]
fn a_lock_whose_url_fetches_another_wheel_is_refused_by_the_reader() {
    let root = tempfile::tempdir().unwrap();
    let (index, six, tzdata) = six_and_tzdata();
    // six's entry with tzdata's url, sha256 and size: the build used to install tzdata.
    let swapped = WheelFile {
        sha256: tzdata.sha256.clone(),
        size: tzdata.size,
        ..six.clone()
    };
    let mut text = lock_header(&testbed().image_python, EPOCH);
    text.push_str(&format!(
        "\n[[pip]]\nname = \"six\"\nversion = \"1.17.0\"\nfile = \"{}\"\nurl = \"{}\"\n\
         sha256 = \"{}\"\nsize = {}\nrequested = true\n",
        swapped.file,
        index.base_url().join(&tzdata.served).unwrap(),
        swapped.sha256,
        swapped.size
    ));
    let lock = root.path().join("runtime.lock");
    std::fs::write(&lock, text).unwrap();
    let expected = [
        "[[pip]] `six`: the url names the file `tzdata-2025.2-py2.py3-none-any.whl`, but \
         `file` is `six-1.17.0-py2.py3-none-any.whl`",
        "runtime.lock:15:7",
    ];
    assert_fails(root.path(), &lock, &expected);
    // fetch and export read the lock the same way.
    let lock_arg = lock.to_str().unwrap();
    for args in [
        vec!["fetch", "-l", lock_arg],
        vec!["export", "requirements", "-l", lock_arg],
    ] {
        let out = rtlock(&root.path().join("cache"), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
        for text in expected {
            assert!(stderr(&out).contains(text), "{args:?}: {}", stderr(&out));
        }
    }
    assert!(index.hits().is_empty(), "nothing may be downloaded");
}

#[test]
fn a_wheel_that_is_another_distribution_fails_the_build_naming_the_entry() {
    let root = tempfile::tempdir().unwrap();
    let (index, six, tzdata) = six_and_tzdata();
    index.ensure_bodies(&[&tzdata.file]);
    // tzdata's real wheel renamed to six's file name: the lock passes every static
    // check (name, version, file, url agree) but the file is not six.
    let renamed = root.path().join("renamed");
    std::fs::create_dir_all(&renamed).unwrap();
    std::fs::copy(index.root().join(&tzdata.served), renamed.join(&six.file)).unwrap();
    let server = StaticServer::start(&renamed);
    let impostor = WheelFile {
        served: six.file.clone(),
        sha256: tzdata.sha256.clone(),
        size: tzdata.size,
        ..six.clone()
    };
    let lock = write_lock(
        &root.path().join("p"),
        &testbed().image_python,
        &[impostor],
        &|w| server.url(&w.served).to_string(),
    );
    assert_fails(
        root.path(),
        &lock,
        &[
            "the wheel six-1.17.0-py2.py3-none-any.whl locked as six 1.17.0 is tzdata 2025.2",
            "METADATA",
            "help:",
        ],
    );
}
