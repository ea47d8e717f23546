//! The resolver face of apt: what `apt-get install REQUESTS` would install or upgrade on
//! the base image, computed from the indexes and the image's dpkg status without running
//! apt.
//!
//! The rules followed, and the ones of apt's that are simplified, are listed in
//! [`solve`]; the install order dpkg needs comes from [`order`].
//!
//! ```text
//! candidates (Packages records + pin priority) ─┐
//! dpkg status of the base (installed)           ┼─▶ resolve ─▶ Resolution (packages + order)
//! requests (manifest relations) + options       ┘
//! ```

mod error;
pub mod order;
pub mod pins;
mod pool;
mod solve;

pub use error::{ConflictError, ResolveError};
mod installed;
pub use installed::{InstalledPackage, parse_status, status_packages};

use crate::apt::index::{PackageRecord, Release};
use crate::apt::relation::Relation;

/// apt's default priority of a source's versions.
pub const PRIORITY_DEFAULT: i32 = 500;
/// A suite marked `NotAutomatic: yes` (experimental): installed only when asked for.
pub const PRIORITY_NOT_AUTOMATIC: i32 = 1;
/// `NotAutomatic: yes` with `ButAutomaticUpgrades: yes` (backports): upgrades what is
/// already from there, installs nothing new on its own.
pub const PRIORITY_BUT_AUTOMATIC_UPGRADES: i32 = 100;
/// The installed version of a package.
pub const PRIORITY_INSTALLED: i32 = 100;

/// The default pin priority apt gives the versions of a suite with this Release (no
/// `/etc/apt/preferences` applied).
pub fn default_priority(release: &Release) -> i32 {
    match (release.not_automatic, release.but_automatic_upgrades) {
        (true, true) => PRIORITY_BUT_AUTOMATIC_UPGRADES,
        (true, false) => PRIORITY_NOT_AUTOMATIC,
        _ => PRIORITY_DEFAULT,
    }
}

/// One available version and the pin priority of the source it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub record: PackageRecord<'a>,
    pub priority: i32,
}

/// What the manifest decides besides the requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOptions {
    /// apt-get's default is true (`APT::Install-Recommends`).
    pub install_recommends: bool,
    /// dpkg's native architecture of the base image (`amd64`).
    pub native_arch: String,
}

impl ResolveOptions {
    pub fn new(native_arch: &str) -> Self {
        ResolveOptions {
            install_recommends: true,
            native_arch: native_arch.to_string(),
        }
    }
}

/// One package to install, or to upgrade from the version the base has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned<'a> {
    /// The chosen version's record (its `Filename`, `SHA256` and `Size` pin it).
    pub record: PackageRecord<'a>,
    /// The architecture it installs as (`all` stays `all`).
    pub arch: String,
    /// Named by a request of the manifest.
    pub requested: bool,
    /// The packages that satisfy its Pre-Depends, Depends and (when followed)
    /// Recommends, by name, sorted.
    pub requires: Vec<String>,
    /// The base image's version this one replaces, for an upgrade.
    pub upgrades: Option<String>,
}

/// The outcome of a resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution<'a> {
    /// Sorted by name, then architecture.
    pub packages: Vec<Planned<'a>>,
    /// Indexes into `packages` in the order dpkg must install them.
    pub order: Vec<usize>,
}

impl Resolution<'_> {
    /// `name version` of each package, sorted: the shape the oracle tests compare.
    pub fn summary(&self) -> Vec<String> {
        self.packages
            .iter()
            .map(|p| format!("{} {}", p.record.package, p.record.version))
            .collect()
    }

    /// Package names in install order.
    pub fn order_names(&self) -> Vec<&str> {
        self.order
            .iter()
            .map(|&i| self.packages[i].record.package)
            .collect()
    }
}

/// Resolves `requests` against the installed packages, as `apt-get install` would.
pub fn resolve<'a>(
    universe: &[Candidate<'a>],
    installed: &[InstalledPackage<'a>],
    requests: &[Relation],
    options: &ResolveOptions,
) -> Result<Resolution<'a>, ResolveError> {
    resolve_with(universe, installed, requests, &[], options)
}

/// [`resolve`], then `additions` installed the same way, in the same solve, without
/// being marked [`Planned::requested`] (the manifest does not name them).
pub fn resolve_with<'a>(
    universe: &[Candidate<'a>],
    installed: &[InstalledPackage<'a>],
    requests: &[Relation],
    additions: &[Relation],
    options: &ResolveOptions,
) -> Result<Resolution<'a>, ResolveError> {
    Resolver::new(universe, installed, options)?.resolve(requests, additions)
}

/// The universe indexed once, for several resolutions against the same base: `lock`
/// solves `[apt] packages` first, then again with the libraries R packages need.
#[derive(Debug)]
pub struct Resolver<'a, 'o> {
    pool: pool::Pool<'a>,
    options: &'o ResolveOptions,
}

impl<'a, 'o> Resolver<'a, 'o> {
    pub fn new(
        universe: &[Candidate<'a>],
        installed: &[InstalledPackage<'a>],
        options: &'o ResolveOptions,
    ) -> Result<Self, ResolveError> {
        Ok(Resolver {
            pool: pool::Pool::new(universe, installed, &options.native_arch)?,
            options,
        })
    }

    /// [`resolve_with`] over the indexed universe.
    pub fn resolve(
        &self,
        requests: &[Relation],
        additions: &[Relation],
    ) -> Result<Resolution<'a>, ResolveError> {
        solve::solve(&self.pool, requests, additions, self.options)
    }
}
