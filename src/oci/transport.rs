//! The one grammar of image transports, for sources ([`crate::image::source`]) and
//! destinations ([`crate::oci::output`]) alike, with the names and rules of skopeo and
//! the containers-image library:
//!
//! - `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REF]`: PATH ends
//!   at the first `:` (containers-image cuts there too), so `oci:/a:b/c` is the layout
//!   `/a` with the tag `b/c`, whether read or written. A path holding a `:` cannot be
//!   named; a relative one can be written `./…` only when it has none either.
//! - The REF of `docker-archive:` is a Docker name, `name[:tag]` ([`check_docker_name`]):
//!   what an archive's `RepoTags` can hold, so a source never names what no archive has.
//! - A TAG is an OCI image-layout ref name (`org.opencontainers.image.ref.name`):
//!   components of letters and digits joined by `-._:@+` or `--`, separated by `/`.
//! - `docker://REF`, and a REF without a transport only when its first component names
//!   a registry host ([`is_registry_host`]); nothing defaults to a public registry.
//! - `docker-daemon:REF` (the local Docker Engine's names), `container:ID` (audit only).
//!
//! Parsing is textual: nothing is opened or looked up on disk, so a typo is reported
//! before any work starts, and a word that looks like a mistyped transport is named.

use std::fmt;

use crate::diagnostic::did_you_mean;
use crate::oci::reference::{Reference, ReferenceError, is_registry_host};

/// An image transport, by its skopeo name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Oci,
    OciArchive,
    DockerArchive,
    Docker,
    DockerDaemon,
    Container,
}

impl Transport {
    pub const ALL: [Transport; 6] = [
        Transport::Oci,
        Transport::OciArchive,
        Transport::DockerArchive,
        Transport::Docker,
        Transport::DockerDaemon,
        Transport::Container,
    ];

    /// The transport's name, as it is written before its `:`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Oci => "oci",
            Transport::OciArchive => "oci-archive",
            Transport::DockerArchive => "docker-archive",
            Transport::Docker => "docker",
            Transport::DockerDaemon => "docker-daemon",
            Transport::Container => "container",
        }
    }

    /// What precedes the transport's argument: `docker://`, else `NAME:`.
    pub fn prefix(self) -> &'static str {
        match self {
            Transport::Docker => "docker://",
            Transport::Oci => "oci:",
            Transport::OciArchive => "oci-archive:",
            Transport::DockerArchive => "docker-archive:",
            Transport::DockerDaemon => "docker-daemon:",
            Transport::Container => "container:",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// Transports of containers-image that rtlock neither reads nor writes.
const UNSUPPORTED: [&str; 5] = ["containers-storage", "dir", "ostree", "sif", "tarball"];

/// Why a string names no transport rtlock knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("unknown transport `{given}:`; did you mean `{suggestion}`?")]
    Mistyped {
        given: String,
        suggestion: &'static str,
    },
    #[error("rtlock does not support the `{0}:` transport")]
    Unsupported(String),
    #[error(
        "it names no transport, and a reference without one must start with its registry \
         host (`host.domain/…`, `host:port/…` or `localhost/…`); rtlock never defaults to a \
         public registry"
    )]
    NoTransport,
    #[error("{0} is missing")]
    Empty(&'static str),
    #[error("`{tag}` is not a valid tag: {reason}")]
    Tag { tag: String, reason: &'static str },
    /// What is wrong with the reference of `docker://` (or a bare one).
    #[error("{0}")]
    Reference(String),
    /// What is wrong with the REF of `docker-archive:`.
    #[error(transparent)]
    DockerName(#[from] DockerNameError),
}

/// An image named with its transport, its parts checked (see the module docs); what a
/// source or destination of each transport is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named<'a> {
    Oci {
        path: &'a str,
        tag: Option<&'a str>,
    },
    OciArchive {
        path: &'a str,
        tag: Option<&'a str>,
    },
    /// The reference, when given, is a Docker name for the image inside the archive.
    DockerArchive {
        path: &'a str,
        reference: Option<&'a str>,
    },
    /// A registry image: the reference as written, and parsed.
    Registry {
        text: &'a str,
        reference: Reference,
    },
    DockerDaemon(&'a str),
    Container(&'a str),
}

/// Parses `input` by the grammar of the module docs.
pub fn parse(input: &str) -> Result<Named<'_>, TransportError> {
    let (transport, rest) = split(input)?;
    let nonempty = |what| {
        if rest.is_empty() {
            Err(TransportError::Empty(what))
        } else {
            Ok(rest)
        }
    };
    Ok(match transport {
        Transport::Oci => {
            let (path, tag) = split_path_and_tag(rest, "the layout path")?;
            Named::Oci { path, tag }
        }
        Transport::OciArchive => {
            let (path, tag) = split_path_and_tag(rest, "the archive path")?;
            Named::OciArchive { path, tag }
        }
        Transport::DockerArchive => {
            let (path, reference) = split_path(rest, "the archive path")?;
            if let Some(reference) = reference {
                check_docker_name(reference)?;
            }
            Named::DockerArchive { path, reference }
        }
        Transport::Docker => {
            let text = nonempty("the image reference")?;
            let reference = text
                .parse::<Reference>()
                .map_err(|e| TransportError::Reference(e.reason))?;
            Named::Registry { text, reference }
        }
        Transport::DockerDaemon => Named::DockerDaemon(nonempty("the image reference")?),
        Transport::Container => Named::Container(nonempty("the container id or name")?),
    })
}

/// Splits `input` into its transport and what follows it (see the module docs).
pub fn split(input: &str) -> Result<(Transport, &str), TransportError> {
    for transport in Transport::ALL {
        if let Some(rest) = input.strip_prefix(transport.prefix()) {
            return Ok((transport, rest));
        }
    }
    let first = input.split_once('/').map(|(first, _)| first);
    if first.is_some_and(is_registry_host) {
        return Ok((Transport::Docker, input));
    }
    Err(unknown_transport(input))
}

/// The error for an input with no known transport: a mistyped one, one rtlock does not
/// support, or none at all.
fn unknown_transport(input: &str) -> TransportError {
    let Some((word, _)) = input.split_once(':') else {
        return TransportError::NoTransport;
    };
    let looks_like_a_name =
        !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !looks_like_a_name {
        return TransportError::NoTransport;
    }
    let lower = word.to_ascii_lowercase();
    if UNSUPPORTED.contains(&lower.as_str()) {
        return TransportError::Unsupported(word.to_string());
    }
    let names = Transport::ALL.map(Transport::name);
    match did_you_mean(&lower, &names) {
        Some(name) => TransportError::Mistyped {
            given: word.to_string(),
            suggestion: Transport::ALL
                .into_iter()
                .find(|t| t.name() == name)
                .map_or(name, Transport::prefix),
        },
        None => TransportError::NoTransport,
    }
}

/// `PATH[:EXTRA]` of `oci:`, `oci-archive:` and `docker-archive:`: cut at the first `:`,
/// as containers-image does. An empty EXTRA is none.
fn split_path<'a>(
    rest: &'a str,
    what: &'static str,
) -> Result<(&'a str, Option<&'a str>), TransportError> {
    let (path, extra) = match rest.split_once(':') {
        Some((path, extra)) => (path, Some(extra).filter(|e| !e.is_empty())),
        None => (rest, None),
    };
    if path.is_empty() {
        return Err(TransportError::Empty(what));
    }
    Ok((path, extra))
}

/// `PATH[:TAG]` of `oci:` and `oci-archive:`, the tag checked by [`check_oci_tag`].
fn split_path_and_tag<'a>(
    rest: &'a str,
    what: &'static str,
) -> Result<(&'a str, Option<&'a str>), TransportError> {
    let (path, tag) = split_path(rest, what)?;
    if let Some(tag) = tag {
        check_oci_tag(tag)?;
    }
    Ok((path, tag))
}

/// A name the Docker Engine can tag an image with, as a docker archive's `RepoTags`
/// hold them: `name[:tag]` (a short name is the Engine's own), never a digest. The REF
/// of `docker-archive:`, read or written, and of a `docker-daemon:` destination.
pub fn check_docker_name(reference: &str) -> Result<(), DockerNameError> {
    if reference.contains('@') {
        return Err(DockerNameError::Digest);
    }
    Reference::parse_docker_name(reference)?;
    Ok(())
}

/// Why a string cannot name an image in the Docker Engine (see [`check_docker_name`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerNameError {
    #[error("the Docker Engine tags images by name:tag, not by digest")]
    Digest,
    #[error(transparent)]
    Reference(#[from] ReferenceError),
}

/// The OCI image layout's grammar of ref names, which skopeo enforces when it reads
/// the layout: `component ("/" component)*`, `component ::= alnum+ (separator alnum+)*`,
/// `separator ::= [-._:@+] | "--"`.
pub(crate) fn check_oci_tag(tag: &str) -> Result<(), TransportError> {
    let fail = |reason| TransportError::Tag {
        tag: tag.to_string(),
        reason,
    };
    for component in tag.split('/') {
        if component.is_empty() {
            return Err(fail("it has an empty `/`-separated part"));
        }
        check_ref_component(component).map_err(fail)?;
    }
    Ok(())
}

/// One `/`-separated part of an OCI ref name.
fn check_ref_component(component: &str) -> Result<(), &'static str> {
    const WHAT: &str = "use letters and digits, joined by one of `-._:@+` or by `--`";
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return Err("it must start and end with a letter or digit");
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(&bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let single = separator.len() == 1 && "-._:@+".contains(separator);
        if !single && separator != "--" {
            return Err(WHAT);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_and_bare_references() {
        assert_eq!(split("oci:/a:b/c"), Ok((Transport::Oci, "/a:b/c")));
        assert_eq!(split("oci-archive:x"), Ok((Transport::OciArchive, "x")));
        assert_eq!(split("docker://a/b"), Ok((Transport::Docker, "a/b")));
        assert_eq!(
            split("127.0.0.1:5000/a:1"),
            Ok((Transport::Docker, "127.0.0.1:5000/a:1"))
        );
        assert_eq!(split("localhost/a"), Ok((Transport::Docker, "localhost/a")));
        assert_eq!(split("container:3f"), Ok((Transport::Container, "3f")));
    }

    #[test]
    fn nothing_defaults_to_a_public_registry() {
        for input in [
            "foo:bar",
            "debian:bookworm",
            "team/runtime:1",
            "debian",
            "a b",
        ] {
            assert_eq!(split(input), Err(TransportError::NoTransport), "{input}");
        }
    }

    #[test]
    fn a_mistyped_transport_is_named() {
        let table = [
            ("oci-arhive:x", "oci-arhive", "oci-archive:"),
            ("OCI:x", "OCI", "oci:"),
            ("docker-archve:x.tar", "docker-archve", "docker-archive:"),
            ("docker:x/y", "docker", "docker://"),
            ("docker-deamon:x", "docker-deamon", "docker-daemon:"),
            ("contaner:x", "contaner", "container:"),
        ];
        for (input, given, suggestion) in table {
            assert_eq!(
                split(input),
                Err(TransportError::Mistyped {
                    given: given.into(),
                    suggestion
                }),
                "{input}"
            );
        }
        assert_eq!(
            split("dir:/x"),
            Err(TransportError::Unsupported("dir".into()))
        );
    }

    #[test]
    fn paths_end_at_the_first_colon() {
        assert_eq!(split_path("/a:b/c", "p"), Ok(("/a", Some("b/c"))));
        assert_eq!(split_path("x.tar", "p"), Ok(("x.tar", None)));
        assert_eq!(split_path("x.tar:", "p"), Ok(("x.tar", None)));
        assert_eq!(
            split_path("x.tar:127.0.0.1:5000/a:1", "p"),
            Ok(("x.tar", Some("127.0.0.1:5000/a:1")))
        );
        assert_eq!(
            split_path(":v1", "the path"),
            Err(TransportError::Empty("the path"))
        );
    }

    #[test]
    fn parts_are_checked() {
        assert_eq!(
            parse("oci:/a:b/c"),
            Ok(Named::Oci {
                path: "/a",
                tag: Some("b/c")
            })
        );
        assert!(matches!(
            parse("oci:out:bad tag"),
            Err(TransportError::Tag { .. })
        ));
        assert!(matches!(
            parse("docker://team/runtime:1"),
            Err(TransportError::Reference(reason)) if reason.contains("does not name its registry")
        ));
        assert_eq!(
            parse("docker-daemon:"),
            Err(TransportError::Empty("the image reference"))
        );
        assert_eq!(
            parse("oci-archive::v1"),
            Err(TransportError::Empty("the archive path"))
        );
    }

    #[test]
    fn tags_follow_the_oci_ref_name_grammar() {
        for good in [
            "v1", "latest", "1.0.0", "a-b", "a--b", "a_b", "b/c", "a:b", "a@b+c", "V1",
        ] {
            assert_eq!(check_oci_tag(good), Ok(()), "{good}");
        }
        for bad in [
            "bad tag", "-v1", "v1-", "a//b", "a---b", "a..b", "é", "a/", "/a",
        ] {
            assert!(check_oci_tag(bad).is_err(), "{bad}");
        }
    }
}
