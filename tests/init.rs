//! `rtlock init`: `--from` over the Dockerfiles of `fixtures/dockerfiles/` (what it
//! prints, what it refuses to overwrite), then in the test bed: `--base` against the
//! bed's images (the comments say what the base holds, as dpkg and pip in a container
//! of it count), and converted Dockerfiles, their base and indexes pointed at the bed,
//! lock to what they asked for.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use tempfile::TempDir;

use common::cli::{rtlock_in, run_in, succeed};
use common::cran::CranRepo;
use common::pip_index::{PipIndex, exact};
use common::testbed::testbed;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dockerfiles")
        .join(name)
}

/// `rtlock init ARGS…` in `dir` (no bed needed for `--from`).
fn init(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["init"];
    all.extend(args);
    rtlock_in(dir, &dir.join("cache"), &all)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn from_a_dockerfile_it_writes_the_manifest_and_lists_what_is_left() {
    let dir = TempDir::new().unwrap();
    std::fs::copy(
        fixture("curl-pipe.Dockerfile"),
        dir.path().join("Dockerfile"),
    )
    .unwrap();
    let out = init(dir.path(), &["--from", "Dockerfile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    insta::assert_snapshot!("init_from_curl_pipe_stderr", stderr(&out));
    let written = std::fs::read_to_string(dir.path().join("runtime.toml")).unwrap();
    assert!(
        written.contains("packages = [\"curl\", \"ca-certificates\"]"),
        "{written}"
    );

    // Never over an existing manifest without --force; with it, replaced.
    std::fs::write(dir.path().join("runtime.toml"), "# mine\n").unwrap();
    let out = init(dir.path(), &["--from", "Dockerfile"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("init_refuses_to_overwrite", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runtime.toml")).unwrap(),
        "# mine\n"
    );
    let out = init(dir.path(), &["--from", "Dockerfile", "--force", "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runtime.toml")).unwrap(),
        written
    );

    // A Dockerfile without FROM: an error that says so, and nothing written.
    std::fs::write(
        dir.path().join("Bad.Dockerfile"),
        "RUN apt-get install -y jq\n",
    )
    .unwrap();
    let out = init(
        dir.path(),
        &["--from", "Bad.Dockerfile", "-o", "other.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Bad.Dockerfile has no FROM instruction"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("other.toml").exists());
}

/// `init --base` of the bed's python image: the comments count what dpkg and pip count
/// in a container of it, and the manifest locks as written.
#[test]
fn from_a_base_the_comments_say_what_it_holds() {
    let bed = testbed();
    let dir = TempDir::new().unwrap();
    let out = init(dir.path(), &["-q", "--base", &bed.image_python]);
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(dir.path().join("runtime.toml")).unwrap();
    let dpkg = run_in(
        &bed.image_python,
        &[],
        "dpkg-query -W -f '${db:Status-Status}\\n' | grep -cx installed",
    );
    assert!(
        written.contains(&format!("# The base has {dpkg} dpkg packages")),
        "{written}"
    );
    let python = run_in(
        &bed.image_python,
        &[],
        "python3 -c 'import platform; print(platform.python_version())'",
    );
    assert!(
        written.contains(&format!("# The base has Python {python} (")),
        "{written}"
    );
    assert!(written.contains("# The base has no R"), "{written}");
    assert!(written.contains(&format!("image = \"{}\"", bed.image_python)));
    succeed(
        "lock",
        rtlock_in(dir.path(), &dir.path().join("cache"), &["-q", "lock"]),
    );
}

/// Each converted Dockerfile, its base and its indexes pointed at the bed, locks, and
/// the lock holds what the Dockerfile installed, requested.
#[test]
fn converted_dockerfiles_lock_in_the_bed() {
    let bed = testbed();
    let index = PipIndex::start(&[
        exact("idna", &["3.7"]),
        exact("urllib3", &["2.2.2", "2.2.3"]),
        exact("six", &["1.16.0"]),
    ]);
    let cran = CranRepo::serve();
    let cases: [(&str, &str, &[&str]); 4] = [
        (
            "arg-in-from.Dockerfile",
            &bed.image_python,
            &["apt:jq", "apt:curl", "pip:idna", "pip:urllib3"],
        ),
        (
            "requirements-file.Dockerfile",
            &bed.image_python,
            &["pip:idna", "pip:six", "pip:urllib3"],
        ),
        (
            "rocker-install2r.Dockerfile",
            &bed.image_r,
            &["r:R6", "r:glue"],
        ),
        (
            "r-runtime.Dockerfile",
            &bed.image_r,
            &["apt:libxml2-dev", "r:R6", "r:ellipsis", "r:jsonlite"],
        ),
    ];
    for (name, image, wanted) in cases {
        let dir = TempDir::new().unwrap();
        for file in ["requirements.txt", name] {
            std::fs::copy(fixture(file), dir.path().join(file)).unwrap();
        }
        let out = init(dir.path(), &["-q", "--from", name]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let manifest = dir.path().join("runtime.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let text = point_at_bed(&text, image, index.url().as_ref(), cran.url().as_ref())
            // The archive moves on: a fixture's version pin would rot (the conversion of
            // pins is what the unit snapshots check).
            .replace("\"jq=1.6-2.1\"", "\"jq\"");
        std::fs::write(&manifest, &text).unwrap();
        let out = rtlock_in(dir.path(), &dir.path().join("cache"), &["-q", "lock"]);
        assert!(out.status.success(), "{name}:\n{text}\n{}", stderr(&out));
        let lock = rtlock::lockfile::Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
        let mut requested: Vec<String> = lock
            .apt
            .iter()
            .filter(|p| p.requested)
            .map(|p| format!("apt:{}", p.name))
            .chain(
                lock.pip
                    .iter()
                    .filter(|p| p.requested)
                    .map(|p| format!("pip:{}", p.name)),
            )
            .chain(
                lock.r
                    .iter()
                    .filter(|p| p.requested)
                    .map(|p| format!("r:{}", p.name)),
            )
            .collect();
        requested.sort();
        let mut wanted: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
        wanted.sort();
        assert_eq!(requested, wanted, "{name}");
    }
}

/// The manifest's base, pip index and R repositories replaced by the bed's (the index
/// also where the Dockerfile named none: the base's own pip.conf names no bed).
fn point_at_bed(text: &str, image: &str, index: &str, cran: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("image = ") {
            out.push(format!("image = \"{image}\""));
        } else if line.starts_with("index-url = ") || line.starts_with("extra-index-urls = ") {
            continue;
        } else if line.starts_with("repos = ") {
            out.push(format!("repos = [\"{cran}\"]"));
        } else if line == "[pip]" {
            out.push(line.to_string());
            out.push(format!("index-url = \"{index}\""));
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n") + "\n"
}

/// A Dockerfile of the usual shape, against the bed: `docker build` of it as written and
/// `rtlock build` of what `init --from` made of it install the same Debian packages at
/// the same versions (`dpkg-query -W`) and the same Python distributions (`pip list`).
#[test]
fn a_converted_dockerfile_builds_what_docker_build_of_it_installs() {
    let bed = testbed();
    let index = PipIndex::start(&[
        exact("idna", &["3.7"]),
        exact("urllib3", &["2.2.2", "2.2.3"]),
    ]);
    index.ensure_all_bodies();
    // Debian's pip 23 reads PEP 691 JSON pages wrongly; HTML is what it handles.
    index.set_html_only(true);
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\n\
             ARG DEBIAN_FRONTEND=noninteractive\n\
             RUN apt-get update \\\n && apt-get install -y --no-install-recommends jq curl \\\n \
             && rm -rf /var/lib/apt/lists/*\n\
             RUN python3 -m pip install --no-cache-dir --break-system-packages \\\n      \
             --index-url {} idna==3.7 'urllib3>=2,<3'\n",
            bed.image_python,
            index.url()
        ),
    )
    .unwrap();
    let original = format!("rtlock-init-original:{}", std::process::id());
    let converted = format!("rtlock-init-converted:{}", std::process::id());
    common::testbed::ok(
        "docker build of the original",
        common::testbed::docker(&[
            "build",
            "--no-cache",
            "--network",
            "host",
            "-q",
            "-t",
            &original,
            dir.path().to_str().unwrap(),
        ]),
    );
    let out = init(dir.path(), &["-q", "--from", "Dockerfile"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let cache = dir.path().join("cache");
    succeed("lock", rtlock_in(dir.path(), &cache, &["-q", "lock"]));
    succeed(
        "build",
        rtlock_in(
            dir.path(),
            &cache,
            &["-q", "build", "-o", &format!("docker-daemon:{converted}")],
        ),
    );
    let dpkg = "dpkg-query -W -f '${db:Status-Status} ${Package} ${Version}\\n' | grep '^installed ' | sort";
    let pip = "python3 -m pip list --format freeze 2>/dev/null | sort";
    for (what, script, must) in [
        ("dpkg-query -W", dpkg, "installed jq "),
        ("pip list", pip, "idna==3.7"),
    ] {
        let expected = run_in(&original, &[], script);
        assert!(
            expected.contains(must),
            "{what} of the original: {expected}"
        );
        common::cli::assert_same_lines(
            &expected,
            &run_in(&converted, &[], script),
            "docker-build",
            what,
        );
    }
    let _ = common::testbed::docker(&["rmi", "-f", &original, &converted]);
}
