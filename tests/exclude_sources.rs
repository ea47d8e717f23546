//! A base whose apt sources cannot all be reached, as Cloudera's runtimes are outside
//! Cloudera (their vendor repositories are paywalled): the lock error names the sources
//! file inside the image, the URL and what the server answered, and says how to go on;
//! `[apt] exclude-sources` then leaves that source out, and the image's own sources file
//! is kept as the base has it.

mod common;

use std::process::Output;

use tempfile::TempDir;

use axum::http::StatusCode;
use common::cli::{rtlock_in, run_in, succeed};
use common::server::{Fault, StaticServer};
use common::testbed::{docker, ok, testbed};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_unreachable_vendor_source_is_named_and_can_be_excluded() {
    let bed = testbed();
    // A "vendor repository" that answers 401 to everything, like a paywall.
    let vendor_root = TempDir::new().unwrap();
    let vendor = StaticServer::start(vendor_root.path());
    for index in ["InRelease", "Release", "Release.gpg"] {
        vendor.inject(
            &format!("/vendor/dists/bookworm/{index}"),
            Fault::Status(StatusCode::UNAUTHORIZED),
            usize::MAX,
        );
    }
    let vendor_url = vendor.url("vendor/").to_string();

    // The bed's python image with the vendor's source added, pushed to the bed.
    let context = TempDir::new().unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo 'deb [trusted=yes] {vendor_url} bookworm main' > /etc/apt/sources.list.d/vendor.list\n",
            bed.image_python
        ),
    )
    .unwrap();
    let image = format!(
        "{}/rtlock-test/with-vendor:{}",
        bed.registry,
        std::process::id()
    );
    ok(
        "docker build",
        docker(&[
            "build",
            "-q",
            "-t",
            &image,
            context.path().to_str().unwrap(),
        ]),
    );
    ok("docker push", docker(&["push", "-q", &image]));

    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    let manifest = dir.path().join("runtime.toml");
    std::fs::write(
        &manifest,
        format!("[base]\nimage = \"{image}\"\n[apt]\npackages = [\"jq\"]\n"),
    )
    .unwrap();
    let out = rtlock_in(dir.path(), &cache, &["-q", "lock"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    for needed in [
        "/etc/apt/sources.list.d/vendor.list",
        vendor_url.as_str(),
        "401",
        "exclude-sources",
    ] {
        assert!(said.contains(needed), "`{needed}` is not said:\n{said}");
    }

    std::fs::write(
        &manifest,
        format!(
            "[base]\nimage = \"{image}\"\n[apt]\npackages = [\"jq\"]\nexclude-sources = [\"{vendor_url}\"]\n"
        ),
    )
    .unwrap();
    succeed("lock", rtlock_in(dir.path(), &cache, &["-q", "lock"]));
    let lock = rtlock::lockfile::Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert!(lock.apt.iter().any(|p| p.name == "jq" && p.requested));
    assert!(lock.apt.iter().all(|p| !p.url.starts_with(&vendor_url)));

    // Built, the image still lists the vendor's source: only resolution left it out.
    let tag = format!("rtlock-exclude-test:{}", std::process::id());
    succeed(
        "build",
        rtlock_in(
            dir.path(),
            &cache,
            &["-q", "build", "-o", &format!("docker-daemon:{tag}")],
        ),
    );
    let listed = run_in(&tag, &[], "cat /etc/apt/sources.list.d/vendor.list");
    assert!(listed.contains(&vendor_url), "{listed}");
    let _ = docker(&["rmi", "-f", &tag, &image]);
}
