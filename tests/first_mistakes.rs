//! What a new user sees at each first mistake, pinned by snapshots: every message says
//! what is wrong and, on a `help:` line or in its last words, the command to run next.

mod common;

use std::path::Path;
use std::process::Output;

use tempfile::TempDir;

use common::cli::{rtlock_in, succeed};
use common::testbed::testbed;

/// Standard error with the bed's ports and temporary paths made stable.
fn said(out: &Output, dir: &Path) -> String {
    let text = String::from_utf8_lossy(&out.stderr).replace(&dir.display().to_string(), "DIR");
    let mut stable = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("127.0.0.1:") {
        stable.push_str(&rest[..at + "127.0.0.1:".len()]);
        rest = rest[at + "127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
        stable.push_str("PORT");
    }
    stable.push_str(rest);
    stable
}

fn run(dir: &Path, args: &[&str]) -> Output {
    rtlock_in(dir, &dir.join("cache"), args)
}

#[test]
fn no_manifest_and_no_lock_name_the_command_that_makes_them() {
    let dir = TempDir::new().unwrap();
    let out = run(dir.path(), &["lock"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("lock_without_a_manifest", said(&out, dir.path()));
    let out = run(dir.path(), &["build", "-o", "oci:out"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("build_without_a_lock", said(&out, dir.path()));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_stale_lock_at_build_time_and_an_unknown_package() {
    let bed = testbed();
    let dir = TempDir::new().unwrap();
    let manifest = dir.path().join("runtime.toml");
    std::fs::write(
        &manifest,
        format!("[base]\nimage = \"{}\"\n", bed.image_minimal),
    )
    .unwrap();
    succeed("lock", run(dir.path(), &["-q", "lock"]));
    std::fs::write(
        &manifest,
        format!(
            "[base]\nimage = \"{}\"\n[image]\nenv = {{ TZ = \"UTC\" }}\n",
            bed.image_minimal
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["-q", "build", "-o", "oci:out"]);
    assert!(out.status.success(), "{}", said(&out, dir.path()));
    insta::assert_snapshot!("build_with_a_stale_lock", said(&out, dir.path()));

    std::fs::write(
        &manifest,
        format!(
            "[base]\nimage = \"{}\"\n[apt]\npackages = [\"jqq\"]\n",
            bed.image_minimal
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["-q", "lock"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("an_unknown_apt_package", said(&out, dir.path()));

    std::fs::write(
        &manifest,
        format!("[base]\nimage = \"{}-nope\"\n", bed.image_minimal),
    )
    .unwrap();
    let out = run(dir.path(), &["-q", "lock"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("a_base_that_is_not_there", said(&out, dir.path()));
}

/// Cloudera's rules where they bite: a new iteration with the same maintenance version
/// is warned about; a base that is not Debian or Ubuntu is refused by what it says it is.
#[test]
fn cloudera_rules_maintenance_version_and_the_base_distribution() {
    let bed = testbed();
    let dir = TempDir::new().unwrap();
    let manifest = dir.path().join("runtime.toml");
    let write = |packages: &str, maintenance: u32| {
        std::fs::write(
            &manifest,
            format!(
                "[base]\nimage = \"{}\"\n[apt]\npackages = [{packages}]\n\
                 [runtime]\nedition = \"Team\"\nmaintenance-version = {maintenance}\n",
                bed.image_minimal
            ),
        )
        .unwrap();
    };
    write("\"jq\"", 1);
    succeed("lock", run(dir.path(), &["lock"]));
    write("\"jq\", \"less\"", 1);
    let out = run(dir.path(), &["lock"]);
    assert!(out.status.success(), "{}", said(&out, dir.path()));
    let warned = said(&out, dir.path());
    assert!(
        warned.contains("maintenance-version is still 1") && warned.contains("raise it"),
        "{warned}"
    );
    write("\"jq\", \"less\", \"file\"", 2);
    let out = run(dir.path(), &["lock"]);
    assert!(!said(&out, dir.path()).contains("maintenance-version is still"));

    // A Wolfi- or Alpine-like base: refused naming its os-release.
    let context = TempDir::new().unwrap();
    std::fs::write(
        context.path().join("os-release"),
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n",
    )
    .unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY os-release /etc/os-release\n",
    )
    .unwrap();
    let image = format!(
        "{}/rtlock-test/not-debian:{}",
        bed.registry,
        std::process::id()
    );
    common::testbed::ok(
        "docker build",
        common::testbed::docker(&[
            "build",
            "-q",
            "-t",
            &image,
            context.path().to_str().unwrap(),
        ]),
    );
    common::testbed::ok(
        "docker push",
        common::testbed::docker(&["push", "-q", &image]),
    );
    std::fs::write(
        &manifest,
        format!("[base]\nimage = \"{image}\"\n[pip]\npackages = [\"idna\"]\n"),
    )
    .unwrap();
    let out = run(dir.path(), &["-q", "lock"]);
    assert_eq!(out.status.code(), Some(1));
    let refused = said(&out, dir.path()).replace(&std::process::id().to_string(), "ID");
    insta::assert_snapshot!("a_base_that_is_not_debian", refused);
    let _ = common::testbed::docker(&["rmi", "-f", &image]);
}

/// Each destination's digest as its own tools show it: a Docker Engine's image ID (what
/// `docker images` lists) for `docker-daemon:` alone, the manifest digest a layout or
/// registry holds otherwise; stderr labels each, JSON carries both.
#[test]
fn one_digest_a_user_can_find_again() {
    let bed = testbed();
    let dir = TempDir::new().unwrap();
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!("[base]\nimage = \"{}\"\n", bed.image_minimal),
    )
    .unwrap();
    succeed("lock", run(dir.path(), &["-q", "lock"]));
    let tag = format!("rtlock-digest-test:{}", std::process::id());
    let daemon = format!("docker-daemon:{tag}");
    let out = run(dir.path(), &["build", "-o", &daemon]);
    let printed = succeed("build", out.clone());
    let image_id = common::testbed::ok(
        "docker inspect",
        common::testbed::docker(&["image", "inspect", "--format", "{{.Id}}", &tag]),
    );
    assert_eq!(printed.trim(), image_id.trim(), "the image ID docker shows");
    let labelled = said(&out, dir.path());
    assert!(
        labelled.contains(&format!(
            "wrote {daemon} (image ID {}",
            &image_id.trim()[..19]
        )),
        "{labelled}"
    );
    assert!(
        labelled.contains("the digest below is the image ID"),
        "{labelled}"
    );

    let json: serde_json::Value = serde_json::from_str(&succeed(
        "build --format json",
        run(
            dir.path(),
            &["-q", "build", "-o", &daemon, "--format", "json"],
        ),
    ))
    .unwrap();
    assert_eq!(json["digest"], image_id.trim());
    assert_eq!(json["config"], image_id.trim());
    assert!(json["manifest"].is_null(), "{json}");

    // With a layout too: the manifest digest, which skopeo reads from the layout.
    let out = run(dir.path(), &["build", "-o", &daemon, "-o", "oci:out:t"]);
    let printed = succeed("build", out.clone());
    let skopeo = common::testbed::ok(
        "skopeo inspect",
        common::testbed::skopeo(&[
            "inspect",
            "--format",
            "{{.Digest}}",
            &format!("oci:{}:t", dir.path().join("out").display()),
        ]),
    );
    assert_eq!(printed.trim(), skopeo.trim());
    assert!(said(&out, dir.path()).contains(&format!(
        "wrote oci:out:t (manifest {}",
        &skopeo.trim()[..19]
    )));
    let _ = common::testbed::docker(&["rmi", "-f", &tag]);
}
