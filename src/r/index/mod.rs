//! CRAN-like repositories: `src/contrib/PACKAGES` and the tarballs it lists, the
//! archive of older versions (`src/contrib/Archive/NAME/`), and the DESCRIPTION of a
//! package (in a tarball, or installed).
//!
//! - [`repository`]: a repository's URLs (dated snapshots, the R User-Agent) and
//!   [`fetch_repository`];
//! - [`packages`]: the PACKAGES index, read by the one DCF parser ([`crate::deb822`]);
//! - [`description`]: a package's DESCRIPTION;
//! - [`archive`]: the versions a repository's archive holds.
//!
//! Candidates are plain data ([`Available`]); [`merge`] gathers them per name, as
//! R's `available.packages()` sees them before it picks one version.

mod archive;
mod description;
mod packages;
mod repository;

use std::collections::BTreeMap;
use std::path::PathBuf;

use url::Url;

pub use archive::{archive_url, archived_versions, parse_archive_listing};
pub use description::{Built, Description, DescriptionError, parse_description};
pub use packages::{PackagesError, parse_packages};
pub use repository::{RepoOptions, contrib_url, dated, fetch_repository, is_dated, user_agent};

use super::requirement::{ROp, RRequirement, RVersion};
use crate::fetch::FetchError;
use crate::task::TaskFailed;

/// `.Platform$OS.type` of every R rtlock installs into: images are Linux.
pub const OS_TYPE: &str = "unix";

/// What a PACKAGES entry and a DESCRIPTION both say of a package version: the fields
/// the resolver reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFields {
    pub name: String,
    pub version: RVersion,
    /// Depends, without its `R` entry (that is [`r_constraints`](Self::r_constraints)).
    pub depends: Vec<RRequirement>,
    pub imports: Vec<RRequirement>,
    pub linking_to: Vec<RRequirement>,
    pub suggests: Vec<RRequirement>,
    /// The `R (op version)` entries of Depends.
    pub r_constraints: Vec<(ROp, RVersion)>,
    pub needs_compilation: Option<bool>,
    /// White space collapsed to single spaces.
    pub system_requirements: Option<String>,
    /// `unix` or `windows` when the package runs on one only.
    pub os_type: Option<String>,
}

/// One package version a repository offers: its fields (read through `Deref`), and
/// where its tarball is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    pub fields: PackageFields,
    /// The `MD5sum` field, lowercase hex.
    pub md5: Option<String>,
    /// The tarball: `REPO/src/contrib/[Path/]File`, `File` defaulting to
    /// `NAME_VERSION.tar.gz`.
    pub url: Url,
    /// The repository root it came from (after [`dated`]).
    pub repository: Url,
}

impl std::ops::Deref for Available {
    type Target = PackageFields;
    fn deref(&self) -> &PackageFields {
        &self.fields
    }
}

impl PackageFields {
    /// Depends, Imports and LinkingTo (R's "strong" dependencies, what
    /// `install.packages(dependencies = NA)` follows), then Suggests when asked.
    pub fn dependencies(&self, with_suggests: bool) -> impl Iterator<Item = &RRequirement> {
        let suggests: &[RRequirement] = if with_suggests { &self.suggests } else { &[] };
        self.depends
            .iter()
            .chain(&self.imports)
            .chain(&self.linking_to)
            .chain(suggests)
    }

    /// Whether R `r_version` satisfies every `R (op version)` entry of Depends: R's
    /// `available_packages_filters_db$R_version` (src/library/utils/R/packages.R).
    pub fn fits_r(&self, r_version: &RVersion) -> bool {
        self.r_constraints
            .iter()
            .all(|(op, bound)| op.matches(r_version, bound))
    }

    /// The first `R (op version)` entry `r_version` fails, for messages.
    pub fn r_constraint_failed(&self, r_version: &RVersion) -> Option<&(ROp, RVersion)> {
        self.r_constraints
            .iter()
            .find(|(op, bound)| !op.matches(r_version, bound))
    }

    /// Whether it runs on Linux: R's `OS_type` filter keeps packages without the field
    /// or whose field is `.Platform$OS.type` (src/library/utils/R/packages.R).
    pub fn fits_os(&self) -> bool {
        self.os_type.as_deref().is_none_or(|os| os == OS_TYPE)
    }
}

/// Every version the repositories offer, per name, newest first: what
/// `available.packages()` chooses from (src/library/utils/R/packages.R).
///
/// R applies its default filters in order: `R_version` and `OS_type` drop the rows the
/// running R cannot use, then `duplicates` (`tools:::.remove_stale_dups`,
/// src/library/tools/R/packages.R) keeps, per name, the highest version left, and the
/// first row of that version (repositories in `repos` order). The first two need the
/// base's R, which the resolver has: so here, versions are only deduplicated (the first
/// repository listing a version wins, as `.remove_stale_dups` keeps the first) and
/// ordered, and the resolver takes the newest that [`PackageFields::fits_r`] and
/// [`PackageFields::fits_os`] — the very row R keeps — while the versions R would drop
/// stay listed, so that an error can say "needs R (>= 4.3)" instead of "unknown".
/// [`available_packages`] gives R's own view.
pub fn merge(repos: Vec<Vec<Available>>) -> BTreeMap<String, Vec<Available>> {
    let mut by_name: BTreeMap<String, Vec<Available>> = BTreeMap::new();
    for available in repos.into_iter().flatten() {
        let versions = by_name.entry(available.name.clone()).or_default();
        if !versions.iter().any(|v| v.version == available.version) {
            versions.push(available);
        }
    }
    for versions in by_name.values_mut() {
        // Stable, and versions are distinct: the order is fully decided.
        versions.sort_by(|a, b| b.version.cmp(&a.version));
    }
    by_name
}

/// What `available.packages()` returns on R `r_version` (default filters, Linux): per
/// name, the newest version that fits R and the OS, from the first repository listing
/// it. `candidates` as [`merge`] gives them, in any order.
pub fn available_packages<'a>(
    candidates: &'a BTreeMap<String, Vec<Available>>,
    r_version: &RVersion,
) -> BTreeMap<&'a str, &'a Available> {
    candidates
        .iter()
        .filter_map(|(name, versions)| {
            // The first of the highest: `.remove_stale_dups` keeps `which.max` of them.
            let mut best: Option<&Available> = None;
            for a in versions
                .iter()
                .filter(|a| a.fits_r(r_version) && a.fits_os())
            {
                if best.is_none_or(|b| a.version > b.version) {
                    best = Some(a);
                }
            }
            best.map(|a| (name.as_str(), a))
        })
        .collect()
}

/// What can go wrong reading an R repository; every URL is shown without credentials.
/// Fetch errors are boxed: they are large, and most results are `Ok`.
#[derive(Debug, thiserror::Error)]
pub enum RIndexError {
    #[error(
        "the R repository {repo} has no package index: {tried}\n\
         help: check the URL in [r] repos (or the base image's Rprofile.site): it must be \
         the root of a CRAN-like repository, the folder that holds src/contrib/PACKAGES"
    )]
    NoIndex { repo: String, tried: String },

    #[error(
        "{repo} cannot be an R repository: it is not a URL with a path\n\
         help: write the repository's root URL, such as http://127.0.0.1:8080/cran"
    )]
    NotARepository { repo: String },

    #[error("cannot read the package index of the R repository {repo}")]
    Fetch {
        repo: String,
        #[source]
        source: Box<FetchError>,
    },

    #[error("the package index {url} is not valid gzip")]
    Gzip {
        url: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the package index {url} cannot be read: line {line}: {message}\n\
         help: the repository's index is malformed; tell its maintainer, or leave the \
         repository out of [r] repos"
    )]
    Packages {
        url: String,
        line: usize,
        message: String,
    },

    #[error("cannot read the archive of {package} at {url}")]
    Archive {
        package: String,
        url: String,
        #[source]
        source: Box<FetchError>,
    },

    #[error("cannot read the archive directory {} of {package}", path.display())]
    ArchiveDir {
        package: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the R User-Agent {0:?} cannot be sent as an HTTP header (it holds characters a \
         header cannot)"
    )]
    UserAgent(String),

    #[error(transparent)]
    Task(#[from] TaskFailed),
}

#[cfg(test)]
mod tests;
