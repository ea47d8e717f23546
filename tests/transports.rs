//! Sources and destinations are explicit (issue 11, point 7; SPEC.md, "Image
//! destinations and sources"): a transport, or a reference that starts with its registry
//! host. A short name or a mistyped transport is an error before any work, never a push
//! to (or a pull from) a public registry; tags follow the OCI grammar. Sources and
//! destinations share that grammar (`oci::transport`): the same string names the same
//! thing, or is refused for the same reason, whichever way it is read.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use rtlock::image::ImageSource;
use rtlock::oci::Digest;
use rtlock::oci::output::Destination;
use rtlock::oci::reference::Reference;

fn rtlock(dir: &Path, args: &[&str]) -> Output {
    Command::cargo_bin("rtlock")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .output()
        .unwrap()
}

/// Fails with exit 1, before anything is written into `dir` (not even the cache), and
/// returns standard error.
fn refused(dir: &Path, args: &[&str]) -> String {
    let out = rtlock(dir, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?} printed a result");
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "runtime.lock" && name != "runtime.toml")
        .collect();
    assert!(left.is_empty(), "{args:?} left {left:?}");
    err
}

/// A lock that is never read: destinations are checked first.
fn with_lock(dir: &Path) {
    std::fs::write(dir.join("runtime.lock"), "version = 1\n").unwrap();
}

#[test]
fn a_destination_without_a_transport_or_registry_host_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_lock(dir.path());
    let err = refused(dir.path(), &["build", "-o", "foo:bar"]);
    insta::assert_snapshot!("destination_foo_bar", err);
    for short in ["team/runtime:1", "docker://team/runtime:1", "debian"] {
        let err = refused(dir.path(), &["build", "-o", short]);
        assert!(err.contains("registry"), "{short}: {err}");
    }
}

#[test]
fn a_mistyped_transport_names_the_nearest() {
    let dir = tempfile::tempdir().unwrap();
    with_lock(dir.path());
    let err = refused(dir.path(), &["build", "-o", "oci-arhive:x"]);
    assert!(
        err.contains("unknown transport `oci-arhive:`; did you mean `oci-archive:`?"),
        "{err}"
    );
    insta::assert_snapshot!("destination_oci_arhive", err);
    let err = refused(dir.path(), &["inspect", "docker-archve:img.tar"]);
    insta::assert_snapshot!("source_docker_archve", err);
}

#[test]
fn a_tag_outside_the_oci_grammar_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_lock(dir.path());
    let err = refused(dir.path(), &["build", "-o", "oci:out:bad tag"]);
    insta::assert_snapshot!("destination_bad_tag", err);
    let err = refused(dir.path(), &["build", "-o", "oci-archive:out.tar:-v1"]);
    assert!(err.contains("`-v1` is not a valid tag"), "{err}");
    let err = refused(dir.path(), &["inspect", "oci:out:bad tag"]);
    assert!(err.contains("`bad tag` is not a valid tag"), "{err}");
}

#[test]
fn an_inspected_short_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = refused(dir.path(), &["inspect", "debian:bookworm"]);
    insta::assert_snapshot!("source_short_name", err);
    let err = refused(dir.path(), &["inspect", "docker://debian:bookworm"]);
    insta::assert_snapshot!("source_docker_short_name", err);
}

#[test]
fn a_base_image_without_its_registry_is_refused_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("runtime.toml"),
        "[base]\nimage = \"debian:bookworm\"\n",
    )
    .unwrap();
    let err = refused(dir.path(), &["lock"]);
    insta::assert_snapshot!("base_short_name", err);
}

// --- one grammar: the source and the destination parsers agree ------------------------
/// What a string names, in the terms sources and destinations share.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Named {
    Oci {
        path: PathBuf,
        tag: Option<String>,
    },
    OciArchive {
        path: PathBuf,
        tag: Option<String>,
    },
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    Registry(Reference),
    DockerDaemon(String),
    /// A source only.
    Container(String),
}

/// `input` read as an image source: what it names, or the reason it is refused.
fn as_source(input: &str) -> Result<Named, String> {
    let source = input.parse::<ImageSource>().map_err(|e| e.why)?;
    Ok(match source {
        ImageSource::Oci { path, tag } => Named::Oci { path, tag },
        ImageSource::OciArchive { path, tag } => Named::OciArchive { path, tag },
        ImageSource::DockerArchive { path, reference } => Named::DockerArchive { path, reference },
        // The registry client parses the text again when it opens the source.
        ImageSource::Registry { reference } => Named::Registry(
            reference
                .parse()
                .unwrap_or_else(|e| panic!("{input}: the source took `{reference}`: {e}")),
        ),
        ImageSource::DockerDaemon { reference } => Named::DockerDaemon(reference),
        ImageSource::Container { id } => Named::Container(id),
    })
}

/// `input` read as a destination: what it names, or the reason it is refused.
fn as_destination(input: &str) -> Result<Named, String> {
    let destination = input.parse::<Destination>().map_err(|e| e.reason)?;
    Ok(match destination {
        Destination::OciLayout { path, tag } => Named::Oci { path, tag },
        Destination::OciArchive { path, tag } => Named::OciArchive { path, tag },
        Destination::DockerArchive { path, reference } => Named::DockerArchive { path, reference },
        Destination::Registry(reference) => Named::Registry(reference),
        Destination::DockerDaemon(name) => Named::DockerDaemon(name),
    })
}

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn oci(path: &str, tag: Option<&str>) -> Named {
    Named::Oci {
        path: path.into(),
        tag: tag.map(str::to_string),
    }
}

fn registry(registry: &str, repository: &str, tag: Option<&str>, digest: Option<&str>) -> Named {
    Named::Registry(Reference {
        registry: registry.into(),
        repository: repository.into(),
        tag: tag.map(str::to_string),
        digest: digest.map(|d| d.parse::<Digest>().unwrap()),
    })
}

#[test]
fn sources_and_destinations_name_the_same_thing() {
    let digest = format!("sha256:{HEX}");
    let table: Vec<(String, Named)> = vec![
        // PATH ends at the first `:`, whatever follows.
        ("oci:/a:b/c".into(), oci("/a", Some("b/c"))),
        (
            "oci:relative/dir:tag".into(),
            oci("relative/dir", Some("tag")),
        ),
        ("oci:./x".into(), oci("./x", None)),
        ("oci:dir".into(), oci("dir", None)),
        ("oci:dir:".into(), oci("dir", None)),
        (
            "oci-archive:out.tar:v1".into(),
            Named::OciArchive {
                path: "out.tar".into(),
                tag: Some("v1".into()),
            },
        ),
        (
            "docker-archive:img.tar:registry.example:5000/repo:tag".into(),
            Named::DockerArchive {
                path: "img.tar".into(),
                reference: Some("registry.example:5000/repo:tag".into()),
            },
        ),
        (
            "docker-archive:img.tar".into(),
            Named::DockerArchive {
                path: "img.tar".into(),
                reference: None,
            },
        ),
        (
            format!("docker://host:5000/repo@{digest}"),
            registry("host:5000", "repo", None, Some(&digest)),
        ),
        (
            format!("docker://host:5000/repo:tag@{digest}"),
            registry("host:5000", "repo", Some("tag"), Some(&digest)),
        ),
        (
            "docker://registry.example/team/app:1".into(),
            registry("registry.example", "team/app", Some("1"), None),
        ),
        // Without a transport: a reference that starts with its registry host.
        (
            "host:5000/repo:tag".into(),
            registry("host:5000", "repo", Some("tag"), None),
        ),
        (
            "localhost/repo".into(),
            registry("localhost", "repo", Some("latest"), None),
        ),
        (
            "docker-daemon:team-runtime:1".into(),
            Named::DockerDaemon("team-runtime:1".into()),
        ),
    ];
    for (input, expected) in table {
        assert_eq!(as_source(&input), Ok(expected.clone()), "source {input}");
        assert_eq!(as_destination(&input), Ok(expected), "destination {input}");
    }
}

#[test]
fn sources_and_destinations_refuse_the_same_way() {
    let table = [
        "oci:",
        "oci::tag",
        "oci:x:bad tag",
        "oci:x:-v1",
        "oci:x:a//b",
        "oci-archive::v1",
        "docker-archive::registry.example/repo:tag",
        "docker-archive:img.tar:Bad Ref",
        "docker-archive:img.tar:team-runtime@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "docker://",
        "docker://repo:tag",
        "docker://host:5000/Repo:tag",
        "docker://host:5000/repo@sha256:abc",
        "docker://host:5000/repo:bad tag",
        "docker-daemon:",
        "oci-arhive:x",
        "dir:/x",
        "foo:bar",
        "team/runtime:1",
        "",
    ];
    let mut reasons = String::new();
    for input in table {
        let source = as_source(input).expect_err(input);
        let destination = as_destination(input).expect_err(input);
        assert_eq!(source, destination, "{input}");
        reasons.push_str(&format!("{input:?}\n  {source}\n"));
    }
    insta::assert_snapshot!("refused_alike", reasons);
}

/// The command line says the same: `inspect` reads its argument as a source, `build -o`
/// as a destination, and both give the parser's reason.
#[test]
fn the_command_line_refuses_sources_and_destinations_alike() {
    let dir = tempfile::tempdir().unwrap();
    with_lock(dir.path());
    for input in [
        "oci:x:bad tag",
        "docker-archive::registry.example/repo:tag",
        "docker://host:5000/Repo:tag",
        "oci-arhive:x",
    ] {
        let reason = as_source(input).expect_err(input);
        let as_source = refused(dir.path(), &["inspect", input]);
        let as_destination = refused(dir.path(), &["build", "-o", input]);
        assert!(as_source.contains(&reason), "{input}: {as_source}");
        assert!(
            as_destination.contains(&reason),
            "{input}: {as_destination}"
        );
    }
}

/// Where the two differ on purpose: `container:` is read (by `audit`), never written;
/// the Docker Engine reads an image by digest but can only tag one by name:tag.
#[test]
fn what_only_a_source_can_name() {
    assert_eq!(
        as_source("container:3f2a"),
        Ok(Named::Container("3f2a".into()))
    );
    assert_eq!(
        as_destination("container:3f2a"),
        Err("`container:` is an image source (for `rtlock audit`), not a destination".into())
    );
    let by_digest = format!("docker-daemon:team-runtime@sha256:{HEX}");
    assert_eq!(
        as_source(&by_digest),
        Ok(Named::DockerDaemon(format!("team-runtime@sha256:{HEX}")))
    );
    assert_eq!(
        as_destination(&by_digest),
        Err("the Docker Engine tags images by name:tag, not by digest".into())
    );
}
