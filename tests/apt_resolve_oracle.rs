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

/// The host's `main` amd64 Packages indexes and their InRelease files.
fn host_indexes() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(LISTS).expect("the host has apt lists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(at) = name.find("_main_binary-amd64_Packages") {
            let release = Path::new(LISTS).join(format!("{}_InRelease", &name[..at]));
            out.push((path, release));
        }
    }
    out.sort();
    assert!(
        !out.is_empty(),
        "no main amd64 Packages in {LISTS}: run apt-get update"
    );
    out
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
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[tokio::test]
async fn apt_get_agrees_on_the_python_base_image() {
    let status_text = image_status().await;
    let dir = tempfile::TempDir::new().unwrap();
    let status_path = dir.path().join("status");
    std::fs::write(&status_path, &status_text).unwrap();

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

    let cases: [(&[&str], bool); 6] = [
        (&["graphviz"], true),
        (&["libpq-dev"], true),
        (&["build-essential"], true),
        (&["graphviz"], false),
        (&["curl", "libpq5"], true),
        (&["python3-numpy"], true),
    ];
    let mut mismatches = Vec::new();
    for (requests, recommends) in cases {
        let relations: Vec<_> = requests
            .iter()
            .map(|r| parse_relation(r, true).unwrap())
            .collect();
        let mut options = ResolveOptions::new("amd64");
        options.install_recommends = recommends;
        let ours = resolve(&universe, &installed, &relations, &options)
            .unwrap_or_else(|e| panic!("{requests:?}: {e}"))
            .summary();
        let truth = apt_get_simulate(&status_path, requests, recommends);
        if ours != truth {
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
