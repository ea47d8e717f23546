//! Where an image comes from, named as skopeo and the containers-image library name it:
//! `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REF]`,
//! `docker://REF`, `docker-daemon:REF`, `container:ID`, and a bare `REF` for
//! `docker://REF`.
//!
//! Parsing is purely textual: nothing is opened here, so a typo is reported before any
//! network or disk work starts.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

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
     use oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REF], docker://REF, \
     docker-daemon:REF or a bare registry reference"
)]
pub struct SourceError {
    pub input: String,
    pub why: String,
}

impl FromStr for ImageSource {
    type Err = SourceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |why: &str| SourceError {
            input: input.to_string(),
            why: why.to_string(),
        };
        let nonempty = |rest: &str, what: &str| {
            if rest.is_empty() {
                Err(fail(&format!("{what} is missing")))
            } else {
                Ok(rest.to_string())
            }
        };
        if let Some(rest) = input.strip_prefix("docker://") {
            return Ok(ImageSource::Registry {
                reference: nonempty(rest, "the image reference")?,
            });
        }
        if let Some(rest) = input.strip_prefix("docker-daemon:") {
            return Ok(ImageSource::DockerDaemon {
                reference: nonempty(rest, "the image reference")?,
            });
        }
        if let Some(rest) = input.strip_prefix("container:") {
            return Ok(ImageSource::Container {
                id: nonempty(rest, "the container id or name")?,
            });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (path, tag) = split_path_and_tag(&nonempty(rest, "the archive path")?);
            return Ok(ImageSource::OciArchive { path, tag });
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (path, tag) = split_path_and_tag(&nonempty(rest, "the layout path")?);
            return Ok(ImageSource::Oci { path, tag });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            let (path, reference) = split_archive_reference(&nonempty(rest, "the archive path")?);
            return Ok(ImageSource::DockerArchive { path, reference });
        }
        if let Some((transport, _)) = input.split_once(':')
            && !transport.contains(['.', '/'])
            && matches!(
                transport,
                "dir" | "containers-storage" | "ostree" | "sif" | "tarball"
            )
        {
            return Err(fail(&format!(
                "rtlock does not read the `{transport}:` transport"
            )));
        }
        if input.is_empty() || input.contains(char::is_whitespace) {
            return Err(fail("it is empty or contains spaces"));
        }
        Ok(ImageSource::Registry {
            reference: input.to_string(),
        })
    }
}

/// `PATH[:TAG]`: the tag is what follows the last `:` when it contains no `/` (so
/// `./dir:with:colons/x` stays a path), as skopeo splits it.
fn split_path_and_tag(rest: &str) -> (PathBuf, Option<String>) {
    match rest.rsplit_once(':') {
        Some((path, tag)) if !path.is_empty() && !tag.is_empty() && !tag.contains('/') => {
            (PathBuf::from(path), Some(tag.to_string()))
        }
        _ => (PathBuf::from(rest), None),
    }
}

/// `PATH[:REF]` for docker archives, where the reference itself may hold a `:` (a tag or
/// a registry port): split at the first `:` after which the rest looks like a reference
/// and the part before is an existing file, else at the first `:`.
fn split_archive_reference(rest: &str) -> (PathBuf, Option<String>) {
    for (i, _) in rest.match_indices(':') {
        let (path, reference) = (&rest[..i], &rest[i + 1..]);
        if std::path::Path::new(path).is_file() && !reference.is_empty() {
            return (PathBuf::from(path), Some(reference.to_string()));
        }
    }
    if std::path::Path::new(rest).exists() {
        return (PathBuf::from(rest), None);
    }
    match rest.split_once(':') {
        Some((path, reference)) if !path.is_empty() && !reference.is_empty() => {
            (PathBuf::from(path), Some(reference.to_string()))
        }
        _ => (PathBuf::from(rest), None),
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
        assert_eq!(
            parse("oci:/a:b/c"),
            ImageSource::Oci {
                path: "/a:b/c".into(),
                tag: None
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
            parse("debian:bookworm"),
            ImageSource::Registry {
                reference: "debian:bookworm".into()
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
        for bad in ["oci:", "docker://", "dir:/x", "", "a b"] {
            assert!(bad.parse::<ImageSource>().is_err(), "{bad}");
        }
        for s in [
            "oci:out/img:latest",
            "docker://x/y:1",
            "docker-daemon:img:1",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }
}
