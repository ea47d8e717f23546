//! Writing a built image to its destinations, named as skopeo names them:
//! `oci:PATH[:TAG]`, `oci-archive:PATH[:TAG]`, `docker-archive:PATH[:REF]`,
//! `docker://REF` (a bare `REF` too, when it starts with its registry host) and
//! `docker-daemon:REF` (see [`crate::docker::load`]); the grammar is
//! [`crate::oci::transport`]'s.
//!
//! Nothing half-written is left at a destination: files are written to a temporary
//! sibling and renamed; an OCI layout gets its blobs first and `index.json` last,
//! atomically; a registry gets blobs first and the manifest last.

mod archive;
mod layout;
mod push;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use archive::{docker_archive_entries, write_docker_archive, write_entries, write_oci_archive};
pub use layout::write_layout;
pub use push::push;

use crate::oci::Digest;
use crate::oci::reference::Reference;
use crate::oci::transport::{self, DockerNameError, Named};
use crate::oci::types::Descriptor;

/// An image ready to be written: its documents as the exact bytes their digests are
/// of, and a local file for every layer blob.
#[derive(Debug, Clone)]
pub struct Image {
    pub manifest: Vec<u8>,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub config: Vec<u8>,
    pub config_descriptor: Descriptor,
    pub layers: Vec<ImageLayer>,
    /// The source-date-epoch: the mtime of every file in an archive output.
    pub epoch: i64,
}

#[derive(Debug, Clone)]
pub struct ImageLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
    /// A complete, verified copy of the blob (in the fetch cache or the layer cache).
    pub path: PathBuf,
}

impl Image {
    pub fn manifest_descriptor(&self) -> Descriptor {
        Descriptor::new(
            &self.manifest_media_type,
            self.manifest_digest.clone(),
            self.manifest.len() as u64,
        )
    }
}

/// Where an image goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    OciLayout {
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
}

/// What is wrong with a destination, and the forms that are right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid destination `{given}`: {reason}\n\
     help: use oci:PATH[:TAG], oci-archive:PATH[:TAG], docker-archive:PATH[:REF], \
     docker://HOST/NAME[:TAG] (or HOST/NAME[:TAG], HOST holding a `.` or a `:port`, or \
     localhost) or docker-daemon:NAME[:TAG]"
)]
pub struct DestinationError {
    pub given: String,
    pub reason: String,
}

impl FromStr for Destination {
    type Err = DestinationError;

    /// The grammar is [`crate::oci::transport`]'s, shared with image sources.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = |reason: String| DestinationError {
            given: s.to_string(),
            reason,
        };
        let owned = |tag: Option<&str>| tag.map(str::to_string);
        match transport::parse(s).map_err(|e| error(e.to_string()))? {
            Named::Oci { path, tag } => Ok(Destination::OciLayout {
                path: PathBuf::from(path),
                tag: owned(tag),
            }),
            Named::OciArchive { path, tag } => Ok(Destination::OciArchive {
                path: PathBuf::from(path),
                tag: owned(tag),
            }),
            // The grammar checks the reference (a Docker name, as for sources).
            Named::DockerArchive { path, reference } => Ok(Destination::DockerArchive {
                path: PathBuf::from(path),
                reference: owned(reference),
            }),
            Named::Registry { reference, .. } => Ok(Destination::Registry(reference)),
            Named::DockerDaemon(name) => {
                docker_tag(name).map_err(|e| error(e.to_string()))?;
                Ok(Destination::DockerDaemon(name.to_string()))
            }
            Named::Container(_) => Err(error(
                "`container:` is an image source (for `rtlock audit`), not a destination".into(),
            )),
        }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with =
            |f: &mut fmt::Formatter<'_>, kind: &str, path: &PathBuf, extra: &Option<String>| {
                write!(f, "{kind}:{}", path.display())?;
                match extra {
                    Some(e) => write!(f, ":{e}"),
                    None => Ok(()),
                }
            };
        match self {
            Destination::OciLayout { path, tag } => with(f, "oci", path, tag),
            Destination::OciArchive { path, tag } => with(f, "oci-archive", path, tag),
            Destination::DockerArchive { path, reference } => {
                with(f, "docker-archive", path, reference)
            }
            Destination::Registry(r) => write!(f, "docker://{r}"),
            Destination::DockerDaemon(r) => write!(f, "docker-daemon:{r}"),
        }
    }
}

/// A reference the Docker Engine can tag an image with: `name[:tag]` (`latest` when
/// no tag), never a digest; a short name is the Engine's own (nothing is pushed).
/// Returns the `name:tag` form.
pub fn docker_tag(reference: &str) -> Result<String, DockerNameError> {
    transport::check_docker_name(reference)?;
    // Keep what the user wrote (Docker shows short names as given), and add `latest`.
    let last = reference.rsplit('/').next().unwrap_or(reference);
    Ok(if last.contains(':') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    })
}

/// Why an image could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not an OCI image layout ({reason}); choose another path or remove it", path.display())]
    NotALayout { path: PathBuf, reason: String },
    #[error(transparent)]
    Registry(#[from] crate::oci::registry::RegistryError),
    /// A layer blob whose bytes, hashed as they were copied, are not the blob its
    /// digest names (a corrupt cache entry): nothing of the output was published.
    #[error(
        "the blob {digest} ({}) does not hash to its name: its content hashes to {actual}",
        file.display()
    )]
    CorruptBlob {
        digest: Digest,
        file: PathBuf,
        actual: Digest,
    },
}

pub(crate) fn io_error(path: &std::path::Path) -> impl Fn(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_as_skopeo_names_them() {
        let d: Destination = "oci:out/layout:v1".parse().unwrap();
        assert_eq!(
            d,
            Destination::OciLayout {
                path: "out/layout".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(d.to_string(), "oci:out/layout:v1");
        let d: Destination = "docker-archive:img.tar:example/app:1".parse().unwrap();
        assert_eq!(
            d,
            Destination::DockerArchive {
                path: "img.tar".into(),
                reference: Some("example/app:1".into())
            }
        );
        assert!(matches!(
            "oci-archive:x.tar".parse::<Destination>().unwrap(),
            Destination::OciArchive { tag: None, .. }
        ));
        assert!(matches!(
            "127.0.0.1:5000/app:1".parse::<Destination>().unwrap(),
            Destination::Registry(_)
        ));
        assert!(matches!(
            "docker://127.0.0.1:5000/app:1"
                .parse::<Destination>()
                .unwrap(),
            Destination::Registry(_)
        ));
        assert!(matches!(
            "docker-daemon:app:1".parse::<Destination>().unwrap(),
            Destination::DockerDaemon(_)
        ));
        let err = "docker-daemon:app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse::<Destination>()
            .unwrap_err();
        assert!(err.to_string().contains("not by digest"), "{err}");
        assert!("oci:".parse::<Destination>().is_err());
    }

    #[test]
    fn docker_tags_get_latest() {
        assert_eq!(docker_tag("app").unwrap(), "app:latest");
        assert_eq!(
            docker_tag("localhost:5000/app").unwrap(),
            "localhost:5000/app:latest"
        );
        assert_eq!(
            docker_tag("localhost:5000/app:1").unwrap(),
            "localhost:5000/app:1"
        );
    }
}
