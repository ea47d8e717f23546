//! `runtime.lock`, the lockfile: written by `rtlock lock`, reviewed in pull requests,
//! read by `build`, `fetch`, `diff`, `why`, `audit` and `export`.
//!
//! Writing is canonical ([`Lockfile::to_toml`]): entries sorted by name (then
//! architecture), keys in a fixed order, one package per block, so the same inputs give
//! the same bytes and an upgrade is a small, local diff hunk. Files are replaced
//! atomically ([`crate::atomic_file`]).
//!
//! Below the ecosystems, beside `manifest`: may import `diagnostic` and `atomic_file`, and
//! the ecosystems' leaf value modules (`apt::relation`, `pip`'s names and versions,
//! `r::requirement`), which import nothing of rtlock themselves.

mod read;
mod validate;
mod version;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::diagnostic::SourceError;
use crate::oci::Digest;
use crate::oci::layer::Compression;
use crate::oci::types::Platform;

pub use read::parse;
pub use validate::{MAX_SOURCE_DATE_EPOCH, percent_decode, url_file_name};
pub use version::{AptVersion, Grammar, PipVersion, RVersion, Verbatim, VersionError};
pub(crate) use write::{key as toml_key, string as toml_string};

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339 in UTC, whole seconds) of `epoch` seconds: how every
/// timestamp derived from the source-date-epoch is written (image config and history,
/// labels, SBOMs).
pub fn rfc3339(epoch: i64) -> String {
    jiff::Timestamp::from_second(epoch)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// The lockfile format this rtlock reads and writes.
pub const FORMAT_VERSION: i64 = 1;

/// A parsed `runtime.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Lockfile {
    pub version: i64,
    /// `sha256:…` of the normalized manifest.
    pub manifest: String,
    /// Seconds since the epoch used for every timestamp in the image.
    pub source_date_epoch: i64,
    /// RFC 3339; present when the manifest sets `[lock] as-of`.
    #[serde(default)]
    pub as_of: Option<String>,
    pub base: BaseLock,
    #[serde(default)]
    pub image: ImageLock,
    #[serde(default)]
    pub apt: Vec<AptPackage>,
    #[serde(default)]
    pub pip: Vec<PipPackage>,
    #[serde(default)]
    pub r: Vec<RPackage>,
}

/// `[base]`: what the base reference resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BaseLock {
    pub reference: String,
    /// The digest the reference resolved to (an index or a manifest).
    pub digest: Digest,
    /// The manifest for `platform`.
    pub manifest: Digest,
    /// Written `os/architecture[/variant]`.
    #[serde(deserialize_with = "platform")]
    pub platform: Platform,
}

/// `[image]`: the image config, with `[runtime]` already expanded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ImageLock {
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// Written `gzip` or `zstd` (gzip when absent); it decides the layer digests.
    #[serde(default, deserialize_with = "compression")]
    pub compression: Compression,
}

/// `[base] platform`, `os/architecture[/variant]`.
fn platform<'de, D: Deserializer<'de>>(d: D) -> Result<Platform, D::Error> {
    let text = String::deserialize(d)?;
    validate::platform(&text).map_err(|p| serde::de::Error::custom(p.message))
}

/// `[image] compression`, one the lock records.
fn compression<'de, D: Deserializer<'de>>(d: D) -> Result<Compression, D::Error> {
    let text = String::deserialize(d)?;
    validate::compression(&text).map_err(|p| serde::de::Error::custom(p.message))
}

/// `[[apt]]`: one Debian package to install or upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AptPackage {
    pub name: String,
    pub version: AptVersion,
    pub arch: String,
    pub url: String,
    /// The archive-relative `pool/…` path, so the lock stays buildable from other mirrors.
    pub filename: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub requested: bool,
    #[serde(default)]
    pub requires: Vec<String>,
    /// `ECOSYSTEM:NAME` of the locked packages that need a shared library this package
    /// ships (`r:sf`), whether or not something else also pulls it in; sorted.
    #[serde(default)]
    pub needed_by: Vec<String>,
}

/// `[[pip]]`: one wheel to install.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PipPackage {
    pub name: String,
    pub version: PipVersion,
    /// The wheel's file name.
    pub file: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub requested: bool,
    #[serde(default)]
    pub requires: Vec<String>,
}

/// `[[r]]`: one R package to install.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RPackage {
    pub name: String,
    pub version: RVersion,
    pub kind: RKind,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    #[serde(default)]
    pub requested: bool,
    #[serde(default)]
    pub requires: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RKind {
    Binary,
    Source,
}

impl RKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RKind::Binary => "binary",
            RKind::Source => "source",
        }
    }
}

/// Why a lock could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    #[error(
        "{} does not exist\nhelp: run `rtlock lock` to create it from the manifest",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<SourceError>),
    #[error(
        "{} has lockfile format version {found}, but this rtlock reads version {FORMAT_VERSION}: \
         it was written by a newer rtlock; upgrade rtlock to use it",
        path.display()
    )]
    Newer { path: PathBuf, found: i64 },
    #[error(
        "{} was not written: the lock resolved from the manifest breaks a rule of the lock \
         format, so `rtlock build` would refuse it\n{problem}\n\
         help: the entry named above comes from a repository whose index does not follow \
         its ecosystem's conventions; leave that repository out (`[apt] exclude-sources`) \
         or report it",
        path.display()
    )]
    WouldBeUnreadable {
        path: PathBuf,
        problem: Box<LockfileError>,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Lockfile {
    /// Reads and checks the lock at `path`.
    pub fn read(path: &Path) -> Result<Lockfile, LockfileError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LockfileError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(LockfileError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        parse(&text, path)
    }

    /// The canonical bytes of this lock.
    pub fn to_toml(&self) -> String {
        write::to_toml(self)
    }

    /// Writes the lock to `path` atomically: readers see the old file or the new one,
    /// never a half-written one.
    ///
    /// The text is first read back through the same checks every reader applies, so
    /// `lock` never writes a lock that `build` would refuse (a repository that names its
    /// files against its ecosystem's convention, say): it fails instead, naming the entry.
    pub fn write(&self, path: &Path) -> Result<(), LockfileError> {
        let text = self.to_toml();
        if let Err(mut problem) = parse(&text, path) {
            // The reader's help says to run `rtlock lock`, which is what is running.
            if let LockfileError::Invalid(located) = &mut problem {
                located.help = None;
            }
            return Err(LockfileError::WouldBeUnreadable {
                path: path.to_path_buf(),
                problem: Box::new(problem),
            });
        }
        crate::atomic_file::write(path, text.as_bytes()).map_err(|source| LockfileError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Sorts every list the way the file lists them, so that two locks with the same
    /// content compare equal.
    pub fn sort(&mut self) {
        self.apt
            .sort_by(|a, b| (&a.name, &a.arch, &a.version).cmp(&(&b.name, &b.arch, &b.version)));
        self.pip
            .sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        self.r
            .sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        for requires in self
            .apt
            .iter_mut()
            .flat_map(|p| [&mut p.requires, &mut p.needed_by])
            .chain(self.pip.iter_mut().map(|p| &mut p.requires))
            .chain(self.r.iter_mut().map(|p| &mut p.requires))
        {
            requires.sort();
            requires.dedup();
        }
    }
}
