//! The apt resolver against apt-get itself on real data: the machine's own Debian
//! indexes (as `apt-get update` left them) and the test bed's python base image.
//!
//! The oracle is `apt-get install -s` inside a container of that image, with the
//! host's sources, the keyrings they name and its lists bound in read-only, so that
//! apt-get decides with the image's own dpkg status, configuration and apt version.
//! rtlock's side is the library: the same lists parsed by rtlock, the image's status
//! read through rtlock's image reader, then `resolve`. A few requests also go through
//! `rtlock lock` itself, with the host's sources in the manifest, pointed at the same
//! lists served on 127.0.0.1. Every request must come out the same (the same packages
//! at the same versions, or a refusal on both sides); there are no known exceptions.
//!
//! Needs the test bed (`scripts/test --bed-only`) for the image and its Docker Engine,
//! and the host's apt lists; no network.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::server::StaticServer;
use common::testbed::{docker, ok, testbed};
use rtlock::apt::index::sources::{self, AptSource, SignedBy};
use rtlock::apt::index::{parse_packages, parse_release, signature};
use rtlock::apt::relation::parse_relation;
use rtlock::apt::resolve::{Candidate, ResolveOptions, default_priority, parse_status, resolve};
use rtlock::image::rootfs::Keep;
use rtlock::image::{ImageSource, OpenOptions, RootFs};
use rtlock::lockfile::Lockfile;

const LISTS: &str = "/var/lib/apt/lists";
const STATUS: &str = "var/lib/dpkg/status";
/// Where apt on the host reads its sources; the container gets the same paths.
const SOURCES_LIST: &str = "/etc/apt/sources.list";
const SOURCES_PARTS: &str = "/etc/apt/sources.list.d";
/// apt's shared keys, which a source without `Signed-By` is checked against.
const TRUSTED_KEYS: [&str; 2] = ["/etc/apt/trusted.gpg", "/etc/apt/trusted.gpg.d"];

/// One suite of the host's apt sources, with the files `apt-get update` left for it.
struct HostSuite {
    source: AptSource,
    /// The `InRelease` file in the lists.
    release: PathBuf,
    /// (component, its amd64 `Packages` list, compressed as apt chose).
    packages: Vec<(String, PathBuf)>,
}

/// The host's sources as apt reads them: `sources.list`, then `sources.list.d/*.list`
/// and `*.sources` in name order (the order decides ties between providers).
fn host_sources() -> Vec<AptSource> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(SOURCES_PARTS)
        .map(|dir| dir.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.insert(0, SOURCES_LIST.into());
    let mut found = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let parse = match file.extension().and_then(|e| e.to_str()) {
            Some("sources") => sources::parse_deb822,
            Some("list") => sources::parse_one_line,
            // apt skips any other name in sources.list.d.
            _ => continue,
        };
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        found.extend(parse(&text, &shown).unwrap_or_else(|e| panic!("the host's {e}")));
    }
    found
}

/// apt's name for the list file of a URL: without the scheme, `/` as `_`.
fn list_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.replace('/', "_")
}

/// The list whose name is `name` plus the compression suffix apt chose, if any.
fn find_list(name: &str) -> Option<PathBuf> {
    std::fs::read_dir(LISTS)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            file == name
                || file
                    .strip_prefix(name)
                    .is_some_and(|ext| ext.starts_with('.'))
        })
}

/// Each suite of the host's sources that serves amd64, with its lists.
fn host_suites() -> Vec<HostSuite> {
    let suites: Vec<HostSuite> = host_sources()
        .into_iter()
        .filter(|s| s.architectures.is_empty() || s.architectures.iter().any(|a| a == "amd64"))
        .map(|source| {
            let dist = list_name(&source.dist_url());
            let missing = |what: &str| format!("no {what} in {LISTS}: run apt-get update");
            let release = find_list(&format!("{dist}InRelease")).unwrap_or_else(|| {
                panic!("{}", missing(&format!("InRelease of {}", source.origin)))
            });
            let packages = source
                .components
                .iter()
                .map(|component| {
                    let name = format!("{dist}{component}_binary-amd64_Packages");
                    let list = find_list(&name).unwrap_or_else(|| panic!("{}", missing(&name)));
                    (component.clone(), list)
                })
                .collect();
            HostSuite {
                source,
                release,
                packages,
            }
        })
        .collect();
    assert!(!suites.is_empty(), "the host has no amd64 apt sources");
    suites
}

/// apt's own reader, so any compression apt chose for its lists works.
fn apt_cat(path: &Path) -> String {
    let out = Command::new("/usr/lib/apt/apt-helper")
        .arg("cat-file")
        .arg(path)
        .output()
        .expect("apt-helper runs");
    assert!(
        out.status.success(),
        "apt-helper cat-file {}",
        path.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn image_status() -> String {
    let source: ImageSource = format!("oci:{}", testbed().image_python_oci)
        .parse()
        .unwrap();
    let image = rtlock::image::open(&source, &OpenOptions::default())
        .await
        .unwrap();
    let rootfs = RootFs::read(&image.layers, &|p, _| (p == STATUS).then_some(Keep::Whole)).unwrap();
    let bytes = rootfs
        .read_file(STATUS)
        .unwrap()
        .expect("the image has a dpkg status");
    String::from_utf8(bytes).unwrap()
}

/// `docker run -v` binds (read-only, same path inside) that give apt in the container
/// the host's sources, the keyrings they name and the lists `apt-get update` left.
/// A host without a `sources.list` hides the image's own behind `/dev/null`: apt in
/// the container must read exactly the host's sources, no more.
fn host_apt_binds() -> Vec<String> {
    let mut paths = vec![LISTS.to_string(), SOURCES_PARTS.to_string()];
    let mut keyrings = BTreeSet::new();
    for source in host_sources() {
        if let Some(SignedBy::Keyrings(names)) = source.signed_by {
            keyrings.extend(names.into_iter().filter(|n| n.starts_with('/')));
        }
    }
    paths.extend(keyrings);
    paths.extend(TRUSTED_KEYS.iter().map(|p| p.to_string()));
    let mut binds: Vec<String> = paths
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| format!("{p}:{p}:ro"))
        .collect();
    if !Path::new(SOURCES_LIST).exists() {
        binds.push(format!("/dev/null:{SOURCES_LIST}:ro"));
    }
    binds
}

/// Runs every request of `corpus` through `apt-get install -s` in one container of
/// `image` (no network: everything apt needs is bound in), and returns, per request,
/// `name version` of each package apt-get would install or upgrade, or one
/// `error: …` line when apt-get refuses.
fn apt_get_in_container(image: &str, corpus: &[Request]) -> Vec<Vec<String>> {
    // One argument per request, `RECOMMENDS PACKAGE…`, split again by the shell.
    const SCRIPT: &str = r#"for request in "$@"; do
        set -- $request
        recommends=$1
        shift
        echo @@request
        apt-get install -s -qq -o Debug::NoLocking=1 \
            -o APT::Install-Recommends=$recommends "$@" 2>&1
        echo "@@exit $?"
    done"#;
    let mut args: Vec<String> = ["run", "--rm", "--network", "none", "--pull", "always"]
        .map(String::from)
        .to_vec();
    for bind in host_apt_binds() {
        args.extend(["-v".to_string(), bind]);
    }
    args.extend([image, "sh", "-c", SCRIPT, "sh"].map(String::from));
    args.extend(
        corpus
            .iter()
            .map(|(requests, recommends)| format!("{recommends} {}", requests.join(" "))),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok("apt-get install -s in the python base image", docker(&args));
    let answers: Vec<Vec<String>> = out
        .split("@@request\n")
        .skip(1)
        .map(|answer| {
            let (text, code) = answer
                .rsplit_once("@@exit ")
                .expect("each request ends with its exit status");
            if code.trim() == "0" {
                installs(text)
            } else {
                vec![format!("error: {}", text.trim())]
            }
        })
        .collect();
    assert_eq!(answers.len(), corpus.len(), "one answer a request:\n{out}");
    answers
}

/// `name version` of each `Inst` line of `apt-get install -s`, sorted.
fn installs(simulation: &str) -> Vec<String> {
    let mut found: Vec<String> = simulation
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("Inst ")?;
            let name = rest.split_whitespace().next()?;
            let version = rest.split_once('(')?.1.split_whitespace().next()?;
            Some(format!("{name} {version}"))
        })
        .collect();
    found.sort();
    found
}

/// Packages to install, and whether apt follows Recommends.
type Request = (&'static [&'static str], bool);

/// Install requests, with install-recommends on or off: single packages and sets,
/// virtual packages and alternatives, upgrades of base packages.
const CORPUS: &[Request] = &[
    (&["graphviz"], true),
    (&["graphviz"], false),
    (&["libpq-dev"], true),
    (&["libpq5"], true),
    (&["build-essential"], true),
    (&["build-essential"], false),
    (&["curl", "libpq5"], true),
    (&["python3-numpy"], true),
    (&["r-base-core"], true),
    (&["default-jdk-headless"], true),
    (&["texlive-latex-base"], true),
    (&["texlive-latex-base"], false),
    (&["libgl1"], true),
    (&["fonts-dejavu"], true),
    (&["fonts-liberation2"], true),
    (&["mailutils"], true),
    (&["git"], true),
    (&["git"], false),
    (&["vim"], true),
    (&["postgresql-client"], true),
    (&["imagemagick"], true),
    (&["gfortran"], true),
    (&["libopenblas-dev"], true),
    (&["libxml2-dev", "libcurl4-openssl-dev", "libssl-dev"], true),
    (&["unixodbc-dev"], true),
    (&["default-libmysqlclient-dev"], true),
    (&["python3-dev", "python3-venv"], true),
    (&["sqlite3", "jq", "wget"], true),
    (&["openssh-client", "rsync", "zip", "unzip"], true),
    (&["sudo", "less", "nano"], true),
    (&["locales"], true),
    (&["tzdata"], true),
    (&["libssl3"], true),
    (&["openssl"], true),
    (&["cmake"], true),
    (&["pandoc"], false),
    (&["libgdal-dev"], false),
    (&["ffmpeg"], false),
    (&["awk"], true),
    (&["mawk"], true),
    (&["libcurl4-gnutls-dev"], true),
    (&["gnupg"], true),
    (&["procps", "htop"], true),
    (&["x11-apps"], true),
];

/// The text of each host index with the default pin priority of its suite.
fn host_index_texts() -> Vec<(String, i32)> {
    let mut texts = Vec::new();
    for suite in host_suites() {
        let release = std::fs::read_to_string(&suite.release)
            .ok()
            .and_then(|raw| signature::cleartext_body(&raw).ok())
            .and_then(|body| parse_release(&body).ok())
            .unwrap_or_else(|| {
                panic!(
                    "{} of {} is not a readable InRelease: run apt-get update",
                    suite.release.display(),
                    suite.source.origin
                )
            });
        let priority = default_priority(&release);
        for (_, list) in &suite.packages {
            texts.push((apt_cat(list), priority));
        }
    }
    texts
}

/// rtlock's answer to each request of `corpus`, in the shape of
/// [`apt_get_in_container`]'s. Each `resolve` builds its pool from the whole universe,
/// which is what costs in a debug build, so the requests are shared by two threads.
fn resolve_corpus(texts: &[(String, i32)], status: &str, corpus: &[Request]) -> Vec<Vec<String>> {
    let mut universe = Vec::new();
    for (text, priority) in texts {
        for record in parse_packages(text).unwrap() {
            universe.push(Candidate {
                record,
                priority: *priority,
            });
        }
    }
    let installed = parse_status(status);
    let answer = |&(requests, recommends): &Request| {
        let relations: Vec<_> = requests
            .iter()
            .map(|r| parse_relation(r, true).unwrap())
            .collect();
        let mut options = ResolveOptions::new("amd64");
        options.install_recommends = recommends;
        match resolve(&universe, &installed, &relations, &options) {
            Ok(r) => r.summary(),
            Err(e) => vec![format!("error: {e}")],
        }
    };
    let (first, second) = corpus.split_at(corpus.len() / 2);
    std::thread::scope(|scope| {
        let later = scope.spawn(|| second.iter().map(answer).collect::<Vec<_>>());
        let mut answers: Vec<_> = first.iter().map(answer).collect();
        answers.extend(later.join().expect("the second resolver thread"));
        answers
    })
}

/// One line per request on which rtlock and apt-get differ. Two refusals agree
/// whatever their wording.
fn mismatches(corpus: &[Request], ours: &[Vec<String>], truths: &[Vec<String>]) -> Vec<String> {
    let refused = |answer: &[String]| answer.len() == 1 && answer[0].starts_with("error:");
    let mut found = Vec::new();
    for (((requests, recommends), ours), truth) in corpus.iter().zip(ours).zip(truths) {
        if ours == truth || (refused(ours) && refused(truth)) {
            continue;
        }
        let ours: BTreeSet<_> = ours.iter().collect();
        let truth: BTreeSet<_> = truth.iter().collect();
        found.push(format!(
            "{requests:?} (recommends {recommends}): only rtlock {:?}; only apt-get {:?}",
            ours.difference(&truth).collect::<Vec<_>>(),
            truth.difference(&ours).collect::<Vec<_>>()
        ));
    }
    found
}

/// apt-get's answers to [`CORPUS`] in the python base image, computed once for the
/// tests of this file.
fn container_truths() -> &'static [Vec<String>] {
    static TRUTHS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    TRUTHS.get_or_init(|| apt_get_in_container(&testbed().image_python, CORPUS))
}

#[tokio::test]
async fn apt_get_agrees_on_the_python_base_image() {
    // apt-get answers in its container, and the lists are read, while rtlock reads
    // the image.
    let oracle = std::thread::spawn(container_truths);
    let texts = std::thread::spawn(host_index_texts);
    let status = image_status().await;
    let texts = texts.join().expect("reading the host's lists");
    let ours = resolve_corpus(&texts, &status, CORPUS);
    let truths = oracle.join().expect("the container's apt-get");
    let found = mismatches(CORPUS, &ours, truths);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// Requests of [`CORPUS`] that also go through `rtlock lock` itself: a large closure,
/// Recommends off, an upgrade of base packages, a set, and a refusal. Few, because each
/// run reads the whole base image again.
const THROUGH_LOCK: &[Request] = &[
    (&["graphviz"], true),
    (&["git"], false),
    (&["libssl3"], true),
    (&["sqlite3", "jq", "wget"], true),
    (&["awk"], true),
];

/// Serves the host's lists as an archive on 127.0.0.1, returning the server and the
/// host's sources in one-line form pointing at it. Each suite gets its `InRelease`
/// as apt fetched it and each list uncompressed as `Packages` (whose hash the
/// InRelease signs too): the very bytes apt-get in the container reads, with no
/// network and no drift of the mirror since the host's `apt-get update`.
fn serve_host_lists(root: &Path) -> (StaticServer, Vec<String>) {
    let mut placed = Vec::new();
    for (n, suite) in host_suites().into_iter().enumerate() {
        // One archive root a suite, so suites of one URI keep their own InRelease.
        let archive = format!("{n}/");
        let dist = root.join(&archive).join("dists").join(&suite.source.suite);
        std::fs::create_dir_all(&dist).unwrap();
        std::fs::copy(&suite.release, dist.join("InRelease")).unwrap();
        for (component, list) in &suite.packages {
            let dir = dist.join(component).join("binary-amd64");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("Packages"), apt_cat(list)).unwrap();
        }
        placed.push((archive, suite.source));
    }
    let server = StaticServer::start(root);
    let lines = placed
        .into_iter()
        .map(|(archive, source)| {
            let mut options = vec!["arch=amd64".to_string()];
            if let Some(SignedBy::Keyrings(keyrings)) = &source.signed_by {
                options.push(format!("signed-by={}", keyrings.join(",")));
            }
            // The lists are as old as the host's last update, and apt-get install
            // does not check Valid-Until again: this compares resolutions, not
            // freshness.
            options.push("check-valid-until=no".into());
            format!(
                "deb [{}] {} {} {}",
                options.join(" "),
                server.url(&archive),
                source.suite,
                source.components.join(" ")
            )
        })
        .collect();
    (server, lines)
}

/// `rtlock lock` of `request` on the python base image with `sources`: `name version`
/// of each `[[apt]]` entry of the lock it writes, or one `error: …` line when it
/// refuses.
fn lock_apt(
    dir: &Path,
    cache: &Path,
    sources: &[String],
    (packages, recommends): Request,
) -> Vec<String> {
    let quoted = |items: &[&str]| {
        items
            .iter()
            .map(|i| format!("{i:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}\"\n\n[apt]\npackages = [{}]\ninstall-recommends = {recommends}\nsources = [{}]\n",
            testbed().image_python,
            quoted(packages),
            quoted(&sources)
        ),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RTLOCK_INSECURE_REGISTRIES", &testbed().registry)
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("--cache-dir")
        .arg(cache)
        .arg("lock")
        .output()
        .unwrap();
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A refusal names what it refuses; any other failure is not an answer.
        assert!(
            packages.iter().any(|p| stderr.contains(&format!("`{p}`"))),
            "rtlock lock of {packages:?} failed without naming them:\n{stderr}"
        );
        return vec![format!("error: {}", stderr.trim())];
    }
    let lock = Lockfile::read(&dir.join("runtime.lock")).unwrap();
    let mut found: Vec<String> = lock
        .apt
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    found.sort();
    found
}

#[test]
fn rtlock_lock_agrees_with_apt_get_in_the_container() {
    let oracle = std::thread::spawn(container_truths);
    let work = tempfile::TempDir::new().unwrap();
    let (_server, sources) = serve_host_lists(&work.path().join("archive"));
    let cache = work.path().join("cache");
    let ours: Vec<Vec<String>> = THROUGH_LOCK
        .iter()
        .enumerate()
        .map(|(n, &request)| lock_apt(&work.path().join(n.to_string()), &cache, &sources, request))
        .collect();
    let all = oracle.join().expect("the container's apt-get");
    let truths: Vec<Vec<String>> = THROUGH_LOCK
        .iter()
        .map(|request| {
            let at = CORPUS.iter().position(|r| r == request);
            all[at.expect("THROUGH_LOCK takes its requests from CORPUS")].clone()
        })
        .collect();
    let found = mismatches(THROUGH_LOCK, &ours, &truths);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
