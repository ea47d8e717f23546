//! `runtime.toml`, the manifest people write: what base image a runtime extends, which
//! apt, pip and R packages it adds, and what goes into the image config.
//!
//! Parsing keeps TOML spans so that every error names the file, line and column
//! ([`crate::diagnostic::SourceError`]). The parsed [`Manifest`] is plain data with every
//! default applied; its [`Manifest::normalized_hash`] is what the lock records, so
//! comments, key order and whitespace never make a lock stale.
//!
//! Below the ecosystems, beside `lockfile`: may import `diagnostic`, `oci` (platforms), and
//! the ecosystems' leaf value modules (`apt::relation`, `r::requirement`), which import
//! nothing of rtlock themselves.

mod normalize;
mod parse;
mod runtime;

use std::collections::BTreeMap;
use std::path::Path;

use crate::apt::relation::Relation;
use crate::diagnostic::SourceError;
use crate::r::requirement::RRequirement;

pub use runtime::{
    ENV_PREFIX, FORBIDDEN_RUNTIME_KEYS, LABEL_PREFIX, RUNTIME_KEYS, RuntimeMetadata,
};

// The lower layer's types, so that a manifest, the lock and the build speak of the same
// platform and compression.
pub use crate::oci::layer::Compression;
pub use crate::oci::types::Platform;

/// A parsed, validated `runtime.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub base: BaseSpec,
    pub apt: AptSpec,
    pub pip: PipSpec,
    pub r: RSpec,
    pub image: ImageSpec,
    pub runtime: Option<RuntimeMetadata>,
    pub lock: LockSpec,
}

/// `[base]`: the image this runtime extends.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseSpec {
    /// A tag or `@sha256:` reference, as written.
    pub image: String,
    pub platform: Platform,
}

/// The platforms rtlock builds for, as OCI and Debian name them.
pub const SUPPORTED_PLATFORMS: [&str; 2] = ["linux/amd64", "linux/arm64"];

/// `[apt]`
#[derive(Debug, Clone, PartialEq)]
pub struct AptSpec {
    pub packages: Vec<Relation>,
    /// apt-get's `APT::Install-Recommends`; true by default, as apt-get.
    pub install_recommends: bool,
    /// One-line `deb …` source entries; `None` means the base image's own sources.
    pub sources: Option<Vec<String>>,
    /// URL prefixes of sources to leave out of resolution (a vendor's paywalled or
    /// unreachable repositories); the image's own sources files are left as they are.
    pub exclude_sources: Vec<String>,
}

impl Default for AptSpec {
    fn default() -> Self {
        AptSpec {
            packages: Vec::new(),
            install_recommends: true,
            sources: None,
            exclude_sources: Vec::new(),
        }
    }
}

/// `[pip]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PipSpec {
    pub packages: Vec<pep508_rs::Requirement>,
    /// `None` means `PIP_INDEX_URL`, else the base image's pip configuration.
    pub index_url: Option<url::Url>,
    pub extra_index_urls: Vec<url::Url>,
    /// Base-image distributions that may change version (normalized names).
    pub allow_upgrade: Vec<String>,
}

/// `[r]`
#[derive(Debug, Clone, PartialEq)]
pub struct RSpec {
    pub packages: Vec<RRequirement>,
    /// `None` means the repos option of the base image's Rprofile.site.
    pub repos: Option<Vec<url::Url>>,
    pub suggests: bool,
    /// Base-library packages that may change version (recommended ones included);
    /// packages of priority `base` never do.
    pub allow_upgrade: Vec<String>,
    /// Add the apt packages that ship the shared libraries locked R packages need
    /// (default); `false` only warns about them.
    pub system_requirements: bool,
}

impl Default for RSpec {
    fn default() -> Self {
        RSpec {
            packages: Vec::new(),
            repos: None,
            suggests: false,
            allow_upgrade: Vec::new(),
            system_requirements: true,
        }
    }
}

/// `[image]`: what goes into the image config, as written (without `[runtime]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageSpec {
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub compression: Compression,
}

/// `[lock]`
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockSpec {
    /// Resolve as the indexes stood at this time.
    pub as_of: Option<jiff::Timestamp>,
}

/// Why a manifest could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "{} does not exist\n\
         help: start one with `rtlock init --from Dockerfile` (from the Dockerfile you have) \
         or `rtlock init --base IMAGE`; or name another manifest with `-m PATH`",
        path.display()
    )]
    Missing { path: std::path::PathBuf },
    #[error("cannot read the manifest {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Box<SourceError>),
}

impl ManifestError {
    /// The located error, when the manifest was read but is wrong.
    pub fn source_error(&self) -> Option<&SourceError> {
        match self {
            ManifestError::Invalid(e) => Some(e),
            ManifestError::Read { .. } | ManifestError::Missing { .. } => None,
        }
    }
}

impl From<SourceError> for ManifestError {
    fn from(e: SourceError) -> Self {
        ManifestError::Invalid(Box::new(e))
    }
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ManifestError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                ManifestError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Ok(Manifest::parse(&text, path)?)
    }

    /// Parses and validates manifest `text`; `path` is used in error messages only.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, SourceError> {
        parse::parse(text, path)
    }

    /// `sha256:…` of the normalized manifest: every default applied, tables and keys in a
    /// fixed order, requirements in their canonical spelling. Comments, key order and
    /// whitespace do not change it.
    pub fn normalized_hash(&self) -> String {
        normalize::hash(self)
    }

    /// The image config with `[runtime]` expanded into its `ML_RUNTIME_*` environment
    /// variables and `com.cloudera.ml.runtime.*` labels.
    pub fn expanded_image(&self) -> ImageSpec {
        let mut image = self.image.clone();
        if let Some(runtime) = &self.runtime {
            for (env, label, value) in runtime.entries() {
                image.env.insert(env, value.clone());
                image.labels.insert(label, value);
            }
        }
        image
    }
}
