//! Python packages: the index (PEP 503/691 simple API, core metadata), the target
//! environment a base image's Python defines (tags, markers), the resolver, and the wheel
//! installer.
//!
//! The faces are the same as apt's: [`index`] (fetch + parse), [`resolve`] (the
//! solver), [`lock`] (`[pip]` + the base's Python → `[[pip]]` entries), [`layer`]
//! (`[[pip]]` entries → the pip layer, through [`install`]), [`inventory`] (an image's
//! Python, its pip configuration and distributions). Data flows one way through the
//! plain types below: the index turns project pages into [`DistFile`]s and wheels into
//! [`CoreMetadata`]; the resolver reads them through [`PackageSource`] and picks one
//! wheel per package.
//!
//! May import what lies below the ecosystems (`base`, `deb822`, `fetch`, `image`, `oci`,
//! `manifest`, `lockfile`, `task`), never `apt` or `r`, nor the orchestrators above.

use std::future::Future;
use std::sync::Arc;

pub use pep440_rs::{Version, VersionSpecifiers};
pub use pep508_rs::{ExtraName, MarkerEnvironment, PackageName, Requirement};
use url::Url;

/// One file a project's index page lists (a wheel or an sdist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistFile {
    /// As the index names it (`pandas-2.2.3-cp311-cp311-manylinux_2_17_x86_64.whl`).
    pub filename: String,
    /// Absolute, resolved against the page it came from.
    pub url: Url,
    /// Lowercase hex, when the index gives one (a lock needs it: files without are skipped).
    pub sha256: Option<String>,
    pub size: Option<u64>,
    /// `data-requires-python` / `requires-python`, unparsed (indexes carry odd ones).
    pub requires_python: Option<String>,
    /// PEP 592: `Some(reason)` (possibly empty) when yanked.
    pub yanked: Option<String>,
    /// PEP 700 `upload-time`.
    pub upload_time: Option<jiff::Timestamp>,
    /// PEP 658/714: the `.metadata` file beside the wheel exists; `Some(sha256)` when the
    /// index gives its hash.
    pub core_metadata: Option<Option<String>>,
}

/// The files of one project on the index (every index searched, in the order searched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    pub files: Vec<DistFile>,
}

/// What a wheel's `METADATA` says that resolution needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreMetadata {
    pub name: PackageName,
    pub version: Version,
    pub requires_dist: Vec<Requirement>,
    pub requires_python: Option<VersionSpecifiers>,
    pub provides_extra: Vec<ExtraName>,
}

/// Where the resolver gets projects and metadata from: the index
/// (`pip::index::Index`), or a plain in-memory table in the resolver's unit tests.
/// Results are shared (`Arc`) because the resolver asks for the same ones again.
pub trait PackageSource: Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Every file of `name`, or an empty project when no index has it.
    fn project(
        &self,
        name: &PackageName,
    ) -> impl Future<Output = Result<Arc<Project>, Self::Error>> + Send;

    /// The core metadata of one wheel of a project.
    fn metadata(
        &self,
        file: &DistFile,
    ) -> impl Future<Output = Result<Arc<CoreMetadata>, Self::Error>> + Send;
}

/// PEP 503: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
        } else {
            if separator && !out.is_empty() {
                out.push('-');
            }
            separator = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Whether two project names name the same project (PEP 503).
pub fn same_name(a: &str, b: &str) -> bool {
    normalize_name(a) == normalize_name(b)
}

pub mod index;
pub mod install;
pub mod inventory;
pub mod layer;
pub mod lock;
pub mod resolve;
pub mod tags;
pub mod target;
pub mod wheel_name;
