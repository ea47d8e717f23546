//! Where an image comes from, named as skopeo and the containers-image library name it:
//! `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REF]`,
//! `docker://REF`, `docker-daemon:REF`, `container:ID`, and a bare `REF` for
//! `docker://REF` when it starts with its registry host. The grammar is
//! [`crate::oci::transport`]'s, the same as destinations'.
//!
//! Parsing is purely textual: nothing is opened here, so a typo is reported before any
//! network or disk work starts.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::oci::transport::{self, Named};

/// An image source, parsed from its transport name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// An OCI image layout directory; the tag selects an entry of its `index.json`
    /// (by the `org.opencontainers.image.ref.name` annotation).
    Oci { path: PathBuf, tag: Option<String> },
    /// A tar file holding an OCI image layout.
    OciArchive { path: PathBuf, tag: Option<String> },
    /// A `docker save` tar (with a `manifest.json`); the reference selects one of
    /// several images by its `RepoTags`.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// An image in a registry (the reference is parsed by the registry client).
    Registry { reference: String },
    /// An image of the local Docker Engine, read through its API.
    DockerDaemon { reference: String },
    /// A container of the local Docker Engine (running or stopped): its filesystem.
    Container { id: String },
}

/// A source string that names no known transport, or names one without its argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not an image source: {why}\n\
     help: use oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REF], \
     docker://HOST/NAME[:TAG] (or HOST/NAME[:TAG], HOST holding a `.` or a `:port`, or \
     localhost), docker-daemon:NAME[:TAG] or container:ID"
)]
pub struct SourceError {
    pub input: String,
    pub why: String,
}

impl FromStr for ImageSource {
    type Err = SourceError;

    /// The grammar is [`crate::oci::transport`]'s, shared with destinations.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |why: String| SourceError {
            input: input.to_string(),
            why,
        };
        let owned = |text: Option<&str>| text.map(str::to_string);
        Ok(
            match transport::parse(input).map_err(|e| fail(e.to_string()))? {
                Named::Oci { path, tag } => ImageSource::Oci {
                    path: PathBuf::from(path),
                    tag: owned(tag),
                },
                Named::OciArchive { path, tag } => ImageSource::OciArchive {
                    path: PathBuf::from(path),
                    tag: owned(tag),
                },
                Named::DockerArchive { path, reference } => ImageSource::DockerArchive {
                    path: PathBuf::from(path),
                    reference: owned(reference),
                },
                // The registry client parses the reference again when it opens it.
                Named::Registry { text, .. } => ImageSource::Registry {
                    reference: text.to_string(),
                },
                Named::DockerDaemon(reference) => ImageSource::DockerDaemon {
                    reference: reference.to_string(),
                },
                Named::Container(id) => ImageSource::Container { id: id.to_string() },
            },
        )
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with =
            |f: &mut fmt::Formatter<'_>, prefix: &str, path: &PathBuf, extra: &Option<String>| {
                write!(f, "{prefix}:{}", path.display())?;
                if let Some(extra) = extra {
                    write!(f, ":{extra}")?;
                }
                Ok(())
            };
        match self {
            ImageSource::Oci { path, tag } => with(f, "oci", path, tag),
            ImageSource::OciArchive { path, tag } => with(f, "oci-archive", path, tag),
            ImageSource::DockerArchive { path, reference } => {
                with(f, "docker-archive", path, reference)
            }
            ImageSource::Registry { reference } => write!(f, "docker://{reference}"),
            ImageSource::DockerDaemon { reference } => write!(f, "docker-daemon:{reference}"),
            ImageSource::Container { id } => write!(f, "container:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageSource {
        s.parse().unwrap()
    }

    #[test]
    fn transports() {
        assert_eq!(
            parse("oci:out/img:latest"),
            ImageSource::Oci {
                path: "out/img".into(),
                tag: Some("latest".into())
            }
        );
        assert_eq!(
            parse("oci:out/img"),
            ImageSource::Oci {
                path: "out/img".into(),
                tag: None
            }
        );
        // Cut at the first `:`, as containers-image does and as destinations are.
        assert_eq!(
            parse("oci:/a:b/c"),
            ImageSource::Oci {
                path: "/a".into(),
                tag: Some("b/c".into())
            }
        );
        assert_eq!(
            parse("oci-archive:x.tar:v1"),
            ImageSource::OciArchive {
                path: "x.tar".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            parse("docker-archive:/nonexistent/x.tar:127.0.0.1:5000/a/b:1"),
            ImageSource::DockerArchive {
                path: "/nonexistent/x.tar".into(),
                reference: Some("127.0.0.1:5000/a/b:1".into())
            }
        );
        assert_eq!(
            parse("docker://127.0.0.1:5000/a:1"),
            ImageSource::Registry {
                reference: "127.0.0.1:5000/a:1".into()
            }
        );
        assert_eq!(
            parse("localhost/debian:bookworm"),
            ImageSource::Registry {
                reference: "localhost/debian:bookworm".into()
            }
        );
        assert_eq!(
            parse("docker-daemon:img:1"),
            ImageSource::DockerDaemon {
                reference: "img:1".into()
            }
        );
        assert_eq!(
            parse("container:3f2a"),
            ImageSource::Container { id: "3f2a".into() }
        );
        for bad in [
            "oci:",
            "docker://",
            "dir:/x",
            "",
            "a b",
            "debian:bookworm",
            "docker://debian",
            "oci-arhive:x",
            "oci:x:bad tag",
        ] {
            assert!(bad.parse::<ImageSource>().is_err(), "{bad}");
        }
        for s in [
            "oci:out/img:latest",
            "docker://x.example/y:1",
            "docker-daemon:img:1",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }
}
