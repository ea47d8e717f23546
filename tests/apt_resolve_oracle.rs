//! The apt resolver against apt-get itself on real data: the machine's own Debian
//! `main` indexes (as `apt-get update` left them) and the dpkg status of the test bed's
//! python base image. The oracle is `apt-get install -s` run on the host with
//! `Dir::State::status` pointing at the image's status file, which is what apt-get
//! inside a container of that image decides with the same sources and lists.
//!
//! Needs the test bed (`scripts/test --bed-only`) for the image, and the host's apt
//! lists; no network.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::testbed::testbed;
use rtlock::apt::index::{parse_packages, parse_release, signature};
use rtlock::apt::relation::parse_relation;
use rtlock::apt::resolve::{Candidate, ResolveOptions, default_priority, parse_status, resolve};
use rtlock::image::rootfs::Keep;
use rtlock::image::{ImageSource, OpenOptions, RootFs};

const LISTS: &str = "/var/lib/apt/lists";
const STATUS: &str = "var/lib/dpkg/status";

/// The host's `main` amd64 Packages indexes and their InRelease files, in the order
/// apt reads them (the order of the sources), which decides ties between providers.
fn host_indexes() -> Vec<(PathBuf, PathBuf)> {
    let out = Command::new("apt-get")
        .args([
            "indextargets",
            "--format",
            "$(FILENAME)",
            "Created-By: Packages",
        ])
        .output()
        .expect("apt-get runs");
    assert!(out.status.success(), "apt-get indextargets failed");
    let mut indexes = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let path = PathBuf::from(line.trim());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(at) = name.find("_main_binary-amd64_Packages") else {
            continue;
        };
        // apt-get indextargets names the file without the compression apt chose.
        let Some(found) = std::fs::read_dir(LISTS)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&name))
        else {
            continue;
        };
        let release = Path::new(LISTS).join(format!("{}_InRelease", &name[..at]));
        indexes.push((found, release));
    }
    assert!(
        !indexes.is_empty(),
        "no main amd64 Packages in {LISTS}: run apt-get update"
    );
    indexes
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

/// `name version` of each `Inst` line of `apt-get install -s`.
fn apt_get_simulate(status: &Path, requests: &[&str], recommends: bool) -> Vec<String> {
    let mut cmd = Command::new("apt-get");
    cmd.args(["install", "-s", "-qq"])
        .arg(format!("-o=Dir::State::status={}", status.display()))
        // Only the Debian lists and default priorities, as the image has them.
        .arg("-o=Dir::Etc::Preferences=/dev/null")
        .arg("-o=Dir::Etc::PreferencesParts=/dev/null")
        .arg(format!("-o=APT::Install-Recommends={recommends}"))
        .args(requests);
    let out = cmd.output().expect("apt-get runs");
    if !out.status.success() {
        return vec![format!(
            "error: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )];
    }
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
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

/// Install requests, with install-recommends on or off: single packages and sets,
/// virtual packages and alternatives, upgrades of base packages.
const CORPUS: &[(&[&str], bool)] = &[
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

#[tokio::test]
async fn apt_get_agrees_on_the_python_base_image() {
    let status_text = image_status().await;
    let dir = tempfile::TempDir::new().unwrap();
    let status_path = dir.path().join("status");
    std::fs::write(&status_path, &status_text).unwrap();
    // apt-get answers on the other core while rtlock resolves on this one.
    let oracle = {
        let status_path = status_path.clone();
        std::thread::spawn(move || {
            CORPUS
                .iter()
                .map(|&(requests, recommends)| apt_get_simulate(&status_path, requests, recommends))
                .collect::<Vec<_>>()
        })
    };

    let texts: Vec<(String, i32)> = host_indexes()
        .iter()
        .map(|(packages, release)| {
            let priority = std::fs::read_to_string(release)
                .ok()
                .and_then(|raw| signature::cleartext_body(&raw).ok())
                .and_then(|body| parse_release(&body).ok())
                .map(|r| default_priority(&r))
                .unwrap_or(rtlock::apt::resolve::PRIORITY_DEFAULT);
            (apt_cat(packages), priority)
        })
        .collect();
    let mut universe = Vec::new();
    for (text, priority) in &texts {
        for record in parse_packages(text).unwrap() {
            universe.push(Candidate {
                record,
                priority: *priority,
            });
        }
    }
    let installed = parse_status(&status_text);

    let mut ours_all = Vec::new();
    for &(requests, recommends) in CORPUS {
        let relations: Vec<_> = requests
            .iter()
            .map(|r| parse_relation(r, true).unwrap())
            .collect();
        let mut options = ResolveOptions::new("amd64");
        options.install_recommends = recommends;
        let ours = match resolve(&universe, &installed, &relations, &options) {
            Ok(r) => r.summary(),
            Err(e) => vec![format!("error: {e}")],
        };
        ours_all.push(ours);
    }
    let truths = oracle.join().expect("the apt-get thread");
    let mut mismatches = Vec::new();
    for ((&(requests, recommends), ours), truth) in CORPUS.iter().zip(ours_all).zip(truths) {
        let both_refuse = ours.len() == 1
            && truth.len() == 1
            && ours[0].starts_with("error:")
            && truth[0].starts_with("error:");
        if ours != truth && !both_refuse {
            let ours: BTreeSet<_> = ours.iter().collect();
            let truth: BTreeSet<_> = truth.iter().collect();
            mismatches.push(format!(
                "{requests:?} (recommends {recommends}): only rtlock {:?}; only apt-get {:?}",
                ours.difference(&truth).collect::<Vec<_>>(),
                truth.difference(&ours).collect::<Vec<_>>()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
