//! `init --from` over the Dockerfiles of `fixtures/dockerfiles/`, each shaped like one a
//! team has today: the manifest drafted (it must parse as a manifest) and what is left,
//! pinned by snapshots so a change in either shows in review.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/dockerfiles")
        .join(name)
}

/// The draft's text and what was left, as the snapshot shows them.
fn converted(name: &str) -> String {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let shown = Path::new("fixtures/dockerfiles").join(name);
    let converted = convert(&text, &shown).unwrap_or_else(|e| panic!("{name}: {e}"));
    let manifest = converted.draft.render();
    crate::manifest::Manifest::parse(&manifest, Path::new("runtime.toml"))
        .unwrap_or_else(|e| panic!("{name}: the draft does not parse:\n{e}\n{manifest}"));
    let mut out = manifest;
    out.push_str("\n---- left\n");
    for l in &converted.left {
        let _ = writeln!(out, "{}: {}\n    {}", l.line, l.what, l.why);
    }
    out
}

macro_rules! fixture_test {
    ($test:ident, $file:literal) => {
        #[test]
        fn $test() {
            insta::assert_snapshot!(stringify!($test), converted($file));
        }
    };
}

fixture_test!(cloudera_documented, "cloudera-documented.Dockerfile");
fixture_test!(arg_in_from, "arg-in-from.Dockerfile");
fixture_test!(requirements_file, "requirements-file.Dockerfile");
fixture_test!(multi_stage, "multi-stage.Dockerfile");
fixture_test!(curl_pipe, "curl-pipe.Dockerfile");
fixture_test!(r_runtime, "r-runtime.Dockerfile");
fixture_test!(rocker_install2r, "rocker-install2r.Dockerfile");
fixture_test!(env_legacy, "env-legacy.Dockerfile");
fixture_test!(upgrade_and_user_site, "upgrade-and-user-site.Dockerfile");
fixture_test!(apt_chain, "apt-chain.Dockerfile");
fixture_test!(pip_index_options, "pip-index-options.Dockerfile");
fixture_test!(platform_and_heredoc, "platform-and-heredoc.Dockerfile");

#[test]
fn what_cannot_be_converted_says_where() {
    let err = |text: &str| {
        convert(text, Path::new("Dockerfile"))
            .unwrap_err()
            .to_string()
    };
    insta::assert_snapshot!(err("RUN true\n"), @"Dockerfile has no FROM instruction: there is no base image to extend");
    insta::assert_snapshot!(err("ARG BASE\nFROM $BASE\n"), @"Dockerfile:2: the base image `$BASE` depends on a build argument without a default (BASE); give the ARG a default, or run `rtlock init --base IMAGE`");
    insta::assert_snapshot!(err("FROM x AS build\nFROM build\n"), @"Dockerfile:2: the last stage starts FROM `build`, an earlier stage of this Dockerfile, not an image: rtlock extends a base image (`rtlock init --base IMAGE`)");
}

/// A Dockerfile written by `export dockerfile` converts back to the manifest's
/// requested packages and config: the download steps are known, the labels rtlock
/// build sets are dropped, nothing is left.
#[test]
fn an_exported_dockerfile_converts_back() {
    let lock = crate::lockfile::parse(
        include_str!("../../fixtures/locks/export-roundtrip.lock"),
        Path::new("runtime.lock"),
    )
    .unwrap();
    let text = crate::export::dockerfile(&lock, Path::new("runtime.lock"), "").unwrap();
    let converted = convert(&text, Path::new("Dockerfile")).unwrap();
    assert_eq!(converted.left, [], "{text}");
    let d = &converted.draft;
    let requested = |names: Vec<&String>| names.into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        d.apt,
        requested(
            lock.apt
                .iter()
                .filter(|p| p.requested)
                .map(|p| &p.name)
                .collect()
        )
    );
    assert_eq!(
        d.pip,
        requested(
            lock.pip
                .iter()
                .filter(|p| p.requested)
                .map(|p| &p.name)
                .collect()
        )
    );
    assert_eq!(
        d.r,
        requested(
            lock.r
                .iter()
                .filter(|p| p.requested)
                .map(|p| &p.name)
                .collect()
        )
    );
    assert_eq!(
        d.base,
        lock.base.reference.split('@').next().unwrap().to_string()
            + "@"
            + &lock.base.manifest.to_string()
    );
    let env: Vec<(String, String)> = lock.image.env.clone().into_iter().collect();
    assert_eq!(d.env, env);
    assert_eq!(d.user, lock.image.user);
    assert_eq!(d.workdir, lock.image.workdir);
    insta::assert_snapshot!("export_roundtrip", d.render());
}
