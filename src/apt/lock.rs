//! The apt part of a lock: what `apt-get install` of the manifest's `[apt] packages`
//! would install or upgrade on the base image, pinned as `[[apt]]` entries.
//!
//! ```text
//! base RootFs ─┬─ sources (or the manifest's), keyrings, preferences, dpkg status, arch
//!              └─▶ fetch + verify each suite ─▶ candidates with pin priorities
//!                   ─▶ apt::resolve ─▶ [[apt]] (url = source URI + Filename, sha256, size)
//! ```
//!
//! Pins are kept like Cargo.lock keeps them: a version locked before gets a priority
//! above the archives' (see [`PRIORITY_LOCKED`]) unless `lock --update` names its
//! package, so a new request or a mirror update does not move what was locked.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use futures_util::{StreamExt, TryStreamExt};
use url::Url;

use crate::apt::index::contents::{self, SharedObjects, SonameProviders};
use crate::apt::index::{self, IndexError, IndexOptions, Repository, SourceError, sources};
use crate::apt::relation::Relation;
use crate::apt::resolve::pins::{ImagePinsError, PinSource, Preferences};
use crate::apt::resolve::{
    Candidate, InstalledPackage, ResolveError, ResolveOptions, Resolver, default_priority,
    parse_status,
};
use crate::fetch::Fetcher;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};
use crate::lockfile::{AptPackage, VersionError};
use crate::manifest::AptSpec;

/// The priority of a version the previous lock chose: above the archives (500) and the
/// installed version (100), below apt's "even if it downgrades" (1000), so a locked
/// version is kept while it is available and never forced over a newer base.
pub const PRIORITY_LOCKED: i32 = 990;

/// Suites fetched at once.
const PARALLEL_SUITES: usize = 4;

const DPKG_STATUS: &str = crate::base::dpkg::DPKG_STATUS;
const DPKG_ARCH: &str = "var/lib/dpkg/arch";

/// The name of the cached copy of [`wanted`]'s files of a base (see
/// [`crate::base::view`]). Bump when [`wanted`] changes: a cached copy then holds the
/// wrong set of files.
pub const BASE_FILES: &str = "v2";

/// The paths of the base that the apt lock reads: dpkg's status and architectures,
/// apt's configuration (sources, preferences, trusted keys), the keyrings, and
/// os-release (a base that is not Debian or Ubuntu is refused by name).
pub fn wanted(path: &str) -> bool {
    path == DPKG_STATUS
        || path == "etc/os-release"
        || path == "usr/lib/os-release"
        || path == DPKG_ARCH
        || path.starts_with("etc/apt/")
        || path.starts_with("usr/share/keyrings/")
}

/// The [`RootFs::read`] predicate for [`wanted`] paths.
pub fn keep(path: &str, _size: u64) -> Option<Keep> {
    wanted(path).then_some(Keep::Whole)
}

/// Why the apt part of a lock could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AptLockError {
    #[error("cannot read the base image's apt configuration")]
    Image(#[from] ImageError),
    #[error("bad apt source")]
    Source(#[from] SourceError),
    #[error("bad apt preferences in the base image")]
    Pins(#[from] ImagePinsError),
    #[error(
        "the base image has no apt sources (/etc/apt/sources.list, sources.list.d/)\n\
         help: name them in the manifest: [apt] sources = [\"deb URI SUITE COMPONENT\"]"
    )]
    NoSources,
    #[error(
        "the base image has no dpkg database ({DPKG_STATUS}): apt packages need a Debian-based image"
    )]
    NoStatus,
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("cannot resolve [apt] packages")]
    Resolve(#[from] ResolveError),
    #[error("{}", unknown_sonames(.missing, *.indexes))]
    UnknownSonames {
        missing: Vec<UnknownSoname>,
        /// The Contents indexes read.
        indexes: usize,
    },
    /// The index's version of a chosen package breaks dpkg's syntax, which the lock
    /// holds its versions to (the resolver reads versions more leniently).
    #[error(
        "{package} from {url} cannot be locked: {reason}\n\
         help: its repository's index does not follow Debian's conventions; leave that \
         repository out (`[apt] exclude-sources`) or report it"
    )]
    Version {
        package: String,
        url: String,
        reason: String,
    },
}

/// `[apt] exclude-sources`: the sources whose URI starts with one of `prefixes` are
/// left out of resolution (a prefix that matches none is said, as a likely typo).
fn exclude(configured: &mut Vec<sources::AptSource>, prefixes: &[String]) {
    for prefix in prefixes {
        let before = configured.len();
        configured.retain(|s| !s.uri.starts_with(prefix.as_str()));
        if configured.len() == before {
            tracing::warn!(
                "[apt] exclude-sources: `{prefix}` matches none of the apt sources; check it"
            );
        } else {
            tracing::info!(
                "[apt] exclude-sources: {} source(s) under {prefix} left out",
                before - configured.len()
            );
        }
    }
}

/// A needed soname that no apt package of the sources can provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSoname {
    pub soname: String,
    /// `r:sf`, as [`NeededLibrary::needed_by`].
    pub needed_by: Vec<String>,
    /// The packages the Contents indexes name for it, none of which the Packages
    /// indexes offer for the architecture (empty: no Contents index names it).
    pub shipped_by: Vec<String>,
}

fn unknown_sonames(missing: &[UnknownSoname], indexes: usize) -> String {
    let mut out = String::new();
    for (i, m) in missing.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let why = if m.shipped_by.is_empty() {
            if indexes == 0 {
                "the apt sources list no Contents index to look it up in".to_string()
            } else {
                format!(
                    "no package of the apt sources ships it (searched {indexes} Contents \
                     {})",
                    if indexes == 1 { "index" } else { "indexes" }
                )
            }
        } else {
            format!(
                "it is shipped by {}, which the apt sources do not offer for this architecture",
                m.shipped_by.join(", ")
            )
        };
        out.push_str(&format!(
            "{} the shared library {}, and {why}",
            who_needs(&m.needed_by),
            m.soname
        ));
    }
    out.push_str(
        "\nhelp: add the apt repository that ships it to [apt] sources, or use a base \
         image that has it",
    );
    out
}

/// A shared library (by soname) that locked packages of another ecosystem need and the
/// base image lacks: its apt package is added to the solve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeededLibrary {
    /// `libglpk.so.40`, as the needing object's `DT_NEEDED` names it.
    pub soname: String,
    /// `ECOSYSTEM:NAME` of the packages that need it (`r:igraph`).
    pub needed_by: Vec<String>,
}

/// A needed library left out because additions are off (`[r] system-requirements =
/// false`): what to add by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingLibrary {
    pub soname: String,
    pub needed_by: Vec<String>,
    /// The apt package that would provide it; `None`: no source ships it.
    pub package: Option<String>,
}

/// `r:sf needs`, `r:igraph, r:sf need`.
fn who_needs(needed_by: &[String]) -> String {
    match needed_by {
        [] => "a locked package needs".to_string(),
        [one] => format!("{one} needs"),
        many => format!("{} need", many.join(", ")),
    }
}

impl std::fmt::Display for MissingLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let who = who_needs(&self.needed_by);
        match &self.package {
            Some(package) => write!(
                f,
                "{who} the shared library {}, which the base image lacks; the apt \
                 package {package} provides it\nhelp: add \"{package}\" to [apt] packages, \
                 or let rtlock add it ([r] system-requirements = true)",
                self.soname
            ),
            None => write!(
                f,
                "{who} the shared library {}, which the base image lacks and no apt \
                 source ships\nhelp: use a base image that has it, or add the apt \
                 repository that ships it to [apt] sources",
                self.soname
            ),
        }
    }
}

/// The apt part of a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AptLock {
    /// Sorted as the lock writes them.
    pub entries: Vec<AptPackage>,
    /// The needed libraries not added (only when [`AptInputs::add_libraries`] is false).
    pub warnings: Vec<MissingLibrary>,
}

/// What the apt resolution needs besides the base image.
#[derive(Debug, Clone)]
pub struct AptInputs<'a> {
    pub spec: &'a AptSpec,
    /// dpkg's name of the platform's architecture (`amd64`, `arm64`).
    pub native_arch: &'a str,
    /// The previous lock's entries to keep (those `--update` did not name).
    pub keep: &'a [AptPackage],
    /// Shared libraries that other ecosystems' locked packages need and the base lacks.
    pub libraries: &'a [NeededLibrary],
    /// Add the packages that provide [`libraries`](Self::libraries) to the solve; when
    /// false, only name them ([`AptLock::warnings`]).
    pub add_libraries: bool,
}

/// dpkg's architecture name for an OCI one.
pub fn dpkg_arch(oci_arch: &str, variant: Option<&str>) -> String {
    match (oci_arch, variant) {
        ("arm", Some("v7")) | ("arm", None) => "armhf".to_string(),
        ("arm", Some(_)) => "armel".to_string(),
        ("386", _) => "i386".to_string(),
        (other, _) => other.to_string(),
    }
}

/// What the apt lock reads before anything is resolved: the base's dpkg state and apt
/// configuration, and every suite of its sources fetched and verified. It depends on
/// the base and `[apt] sources` only, not on what is requested, so `lock` fetches it
/// while the R part resolves (which decides whether apt is needed at all).
#[derive(Debug)]
pub struct AptArchives {
    pub repositories: Vec<Repository>,
    /// dpkg's status file of the base, as text.
    pub status: String,
    pub preferences: Preferences,
}

impl AptArchives {
    /// Reads the base's apt configuration and fetches (and verifies) every suite.
    pub async fn fetch(
        rootfs: &RootFs,
        fetcher: &Fetcher,
        spec: &AptSpec,
        native_arch: &str,
    ) -> Result<AptArchives, AptLockError> {
        let (archives, _) = Self::fetch_with(rootfs, fetcher, spec, native_arch, false).await?;
        Ok(archives)
    }

    /// [`fetch`](Self::fetch), and with `contents` the shared objects of the suites'
    /// `Contents-ARCH` indexes too (see [`contents::libraries`]), each suite's read
    /// alongside its Packages indexes: both are large downloads to decompress.
    pub async fn fetch_with(
        rootfs: &RootFs,
        fetcher: &Fetcher,
        spec: &AptSpec,
        native_arch: &str,
        contents: bool,
    ) -> Result<(AptArchives, Option<SharedObjects>), AptLockError> {
        let mut configured = match &spec.sources {
            Some(lines) => sources::from_manifest(lines)?,
            None => sources::from_image(rootfs).map_err(|e| match e {
                sources::ImageSourcesError::Image(e) => AptLockError::Image(e),
                sources::ImageSourcesError::Source(e) => AptLockError::Source(e),
            })?,
        };
        exclude(&mut configured, &spec.exclude_sources);
        if configured.is_empty() {
            return Err(AptLockError::NoSources);
        }
        let status = rootfs
            .read_file(DPKG_STATUS)?
            .ok_or(AptLockError::NoStatus)?;
        let status = String::from_utf8_lossy(&status).into_owned();
        let architectures = architectures(rootfs, native_arch)?;
        let preferences = Preferences::from_image(rootfs)?;

        let started = std::time::Instant::now();
        let options =
            IndexOptions::new(&architectures.iter().map(String::as_str).collect::<Vec<_>>());
        let fetched: Vec<(Repository, Option<SharedObjects>)> =
            futures_util::stream::iter(configured.iter().map(|source| {
                let options = &options;
                async move {
                    let mut repository =
                        index::fetch_release(fetcher, source, rootfs, options).await?;
                    let packages = index::fetch_packages_of(fetcher, &repository, options);
                    let shared_objects = async {
                        if !contents {
                            return Ok(None);
                        }
                        let one = std::slice::from_ref(&repository);
                        contents::libraries(fetcher, one, native_arch)
                            .await
                            .map(Some)
                    };
                    let (packages, shared_objects) = tokio::join!(packages, shared_objects);
                    let (packages, shared_objects) = (packages?, shared_objects?);
                    repository.packages = packages;
                    Ok::<_, IndexError>((repository, shared_objects))
                }
            }))
            .buffered(PARALLEL_SUITES)
            .try_collect()
            .await?;
        tracing::debug!(
            "apt: {} suites fetched in {:?}",
            fetched.len(),
            started.elapsed()
        );
        let mut repositories = Vec::with_capacity(fetched.len());
        let mut all_objects = contents.then(SharedObjects::default);
        for (repository, shared_objects) in fetched {
            repositories.push(repository);
            if let (Some(all), Some(one)) = (all_objects.as_mut(), shared_objects) {
                all.merge(one);
            }
        }
        let archives = AptArchives {
            repositories,
            status,
            preferences,
        };
        Ok((archives, all_objects))
    }

    /// The shared objects of the archives' `Contents-ARCH` indexes (see
    /// [`contents::libraries`]): what [`lock_apt_on`] needs when libraries are asked for.
    pub async fn shared_objects(
        &self,
        fetcher: &Fetcher,
        native_arch: &str,
    ) -> Result<SharedObjects, AptLockError> {
        Ok(contents::libraries(fetcher, &self.repositories, native_arch).await?)
    }
}

/// The `[[apt]]` entries for `inputs` on the base image `rootfs`, sorted as the lock
/// writes them, with the packages that provide the needed libraries (or warnings
/// naming them).
pub async fn lock_apt(
    rootfs: &RootFs,
    fetcher: &Fetcher,
    inputs: &AptInputs<'_>,
) -> Result<AptLock, AptLockError> {
    if inputs.spec.packages.is_empty() && inputs.libraries.is_empty() {
        return Ok(AptLock::default());
    }
    let archives = AptArchives::fetch(rootfs, fetcher, inputs.spec, inputs.native_arch).await?;
    lock_apt_on(&archives, None, fetcher, inputs).await
}

/// [`lock_apt`] on archives fetched before, with their shared objects when those were
/// read before too (else they are read here, when `inputs` needs libraries).
pub async fn lock_apt_on(
    archives: &AptArchives,
    shared_objects: Option<SharedObjects>,
    fetcher: &Fetcher,
    inputs: &AptInputs<'_>,
) -> Result<AptLock, AptLockError> {
    if inputs.spec.packages.is_empty() && inputs.libraries.is_empty() {
        return Ok(AptLock::default());
    }
    let providers = if inputs.libraries.is_empty() {
        SonameProviders::default()
    } else {
        let sonames: BTreeSet<String> = inputs.libraries.iter().map(|l| l.soname.clone()).collect();
        let shared_objects = match shared_objects {
            Some(read) => read,
            None => archives.shared_objects(fetcher, inputs.native_arch).await?,
        };
        SonameProviders::of(&shared_objects, &sonames)
    };

    let started = std::time::Instant::now();
    let resolved = resolve_libraries_on(
        &archives.repositories,
        &archives.status,
        &archives.preferences,
        inputs,
        &providers,
    )?;
    tracing::debug!("apt: resolved in {:?}", started.elapsed());
    Ok(resolved)
}

/// The base's architectures: the native one, then dpkg's foreign ones.
fn architectures(rootfs: &RootFs, native: &str) -> Result<Vec<String>, ImageError> {
    let mut out = vec![native.to_string()];
    if let Some(bytes) = rootfs.read_file(DPKG_ARCH)? {
        for arch in String::from_utf8_lossy(&bytes).split_whitespace() {
            if !out.iter().any(|a| a == arch) {
                out.push(arch.to_string());
            }
        }
    }
    Ok(out)
}

/// Resolution over fetched suites (no I/O): the part `lock_apt` and the tests share.
/// The needed libraries of `inputs` are ignored (see [`resolve_libraries_on`]).
pub fn resolve_on(
    repositories: &[Repository],
    status: &str,
    preferences: &Preferences,
    inputs: &AptInputs<'_>,
) -> Result<Vec<AptPackage>, AptLockError> {
    let inputs = AptInputs {
        libraries: &[],
        ..inputs.clone()
    };
    let locked = resolve_libraries_on(
        repositories,
        status,
        preferences,
        &inputs,
        &SonameProviders::default(),
    )?;
    Ok(locked.entries)
}

/// [`resolve_on`] with the needed libraries of `inputs`, whose providers the Contents
/// indexes gave (`providers`).
///
/// For each soname: when a provider is installed in the base or already in the closure
/// of `[apt] packages`, nothing is added; otherwise one provider the Packages indexes
/// offer for the native architecture is chosen ([`choose_provider`]) and added to the
/// same solve as `[apt] packages` (not marked `requested`). Every resulting entry that
/// ships a needed soname is then marked `needed-by`, whatever pulled it in.
pub fn resolve_libraries_on(
    repositories: &[Repository],
    status: &str,
    preferences: &Preferences,
    inputs: &AptInputs<'_>,
    providers: &SonameProviders,
) -> Result<AptLock, AptLockError> {
    let started = std::time::Instant::now();
    let kept: HashMap<(&str, &str), &str> = inputs
        .keep
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), p.version.as_str()))
        .collect();

    let mut universe = Vec::new();
    for repository in repositories {
        let default = default_priority(&repository.release);
        let host = Url::parse(&repository.source.uri)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        for packages in &repository.packages {
            let source = PinSource {
                release: &repository.release,
                component: &packages.component,
                architecture: &packages.architecture,
                host: &host,
            };
            for record in packages.records()? {
                let mut priority =
                    preferences.priority(record.package, record.version, &source, default);
                // The lock writes `all` for Architecture: all, as the record does.
                if !kept.is_empty()
                    && kept.get(&(record.package, record.architecture)) == Some(&record.version)
                {
                    priority = priority.max(PRIORITY_LOCKED);
                }
                universe.push(Candidate { record, priority });
            }
        }
    }

    tracing::debug!(
        "apt: {} candidates read in {:?}",
        universe.len(),
        started.elapsed()
    );
    let started = std::time::Instant::now();
    let installed = parse_status(status);
    let mut options = ResolveOptions::new(inputs.native_arch);
    options.install_recommends = inputs.spec.install_recommends;
    let requests = &inputs.spec.packages;
    let resolver = Resolver::new(&universe, &installed, &options)?;
    let mut resolution = resolver.resolve(requests, &[])?;

    // What provides the needed libraries: the base, the closure of the requests, else
    // one chosen package per soname.
    let mut present: HashSet<&str> = installed_names(&installed, inputs.native_arch);
    present.extend(resolution.packages.iter().map(|p| p.record.package));
    // Which of the packages the Contents indexes name the Packages indexes offer: one
    // pass, asking only about those names (a handful, not the suite's 60,000).
    let named: HashSet<&str> = providers
        .providers
        .values()
        .flatten()
        .map(String::as_str)
        .collect();
    let offered: HashSet<&str> = if named.is_empty() {
        HashSet::new()
    } else {
        universe
            .iter()
            .filter(|c| named.contains(c.record.package))
            .filter(|c| c.priority > 0)
            .filter(|c| {
                c.record.architecture == inputs.native_arch || c.record.architecture == "all"
            })
            .map(|c| c.record.package)
            .collect()
    };
    // One decision per soname, for everything that needs it.
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for library in inputs.libraries {
        let by = needs.entry(library.soname.as_str()).or_default();
        by.extend(library.needed_by.iter().map(String::as_str));
    }
    let mut unknown = Vec::new();
    // Soname → (its package, who needs it).
    let mut chosen: Vec<(&str, &str, Vec<String>)> = Vec::new();
    for (soname, by) in needs {
        let by: Vec<String> = by.into_iter().map(str::to_string).collect();
        let shipped_by = providers
            .providers
            .get(soname)
            .map_or(&[][..], Vec::as_slice);
        if shipped_by.iter().any(|p| present.contains(p.as_str())) {
            continue;
        }
        let installable: Vec<&str> = shipped_by
            .iter()
            .map(String::as_str)
            .filter(|p| offered.contains(p))
            .collect();
        match choose_provider(soname, &installable) {
            Some(package) => chosen.push((soname, package, by)),
            None => unknown.push(UnknownSoname {
                soname: soname.to_string(),
                needed_by: by,
                shipped_by: shipped_by.to_vec(),
            }),
        }
    }
    let mut warnings = Vec::new();
    if !inputs.add_libraries {
        for (soname, package, needed_by) in chosen {
            warnings.push(MissingLibrary {
                soname: soname.to_string(),
                needed_by,
                package: Some(package.to_string()),
            });
        }
        for u in unknown {
            warnings.push(MissingLibrary {
                soname: u.soname,
                needed_by: u.needed_by,
                package: None,
            });
        }
        warnings.sort_by(|a, b| a.soname.cmp(&b.soname));
    } else {
        if !unknown.is_empty() {
            return Err(AptLockError::UnknownSonames {
                missing: unknown,
                indexes: providers.indexes,
            });
        }
        let packages: BTreeSet<&str> = chosen.iter().map(|(_, package, _)| *package).collect();
        if !packages.is_empty() {
            let additions: Vec<Relation> = packages
                .into_iter()
                .map(|name| Relation {
                    name: name.to_string(),
                    arch: None,
                    constraint: None,
                })
                .collect();
            resolution = resolver.resolve(requests, &additions)?;
        }
    }
    tracing::debug!("apt: solved in {:?}", started.elapsed());

    let mut entries: Vec<AptPackage> = resolution
        .packages
        .iter()
        .map(|planned| {
            let record = &planned.record;
            let root = archive_root(repositories, record.stanza);
            let url = file_url(root, record.filename);
            let version =
                record
                    .version
                    .parse()
                    .map_err(|e: VersionError| AptLockError::Version {
                        package: record.package.to_string(),
                        url: url.clone(),
                        reason: e.to_string(),
                    })?;
            Ok(AptPackage {
                name: record.package.to_string(),
                version,
                arch: planned.arch.clone(),
                url,
                filename: record.filename.to_string(),
                sha256: record.sha256.to_string(),
                size: record.size,
                requested: planned.requested,
                requires: planned.requires.clone(),
                needed_by: needed_by(record.package, inputs.libraries, providers),
            })
        })
        .collect::<Result<_, AptLockError>>()?;
    entries.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    Ok(AptLock { entries, warnings })
}

/// The installed packages of the base that count for the architecture.
fn installed_names<'a>(installed: &[InstalledPackage<'a>], native: &str) -> HashSet<&'a str> {
    installed
        .iter()
        .filter(|p| p.counts_as_installed())
        .filter(|p| p.record.architecture == native || p.record.architecture == "all")
        .map(|p| p.record.package)
        .collect()
}

/// Who needs a soname that `package` ships, sorted and without repeats.
fn needed_by(
    package: &str,
    libraries: &[NeededLibrary],
    providers: &SonameProviders,
) -> Vec<String> {
    let mut out = BTreeSet::new();
    for library in libraries {
        let ships = providers
            .providers
            .get(&library.soname)
            .is_some_and(|p| p.iter().any(|p| p == package));
        if ships {
            out.extend(library.needed_by.iter().cloned());
        }
    }
    out.into_iter().collect()
}

/// The package to install for `soname` among those that ship it and the sources
/// offer, as apt's users would pick it, deterministically:
///
/// 1. not a development, debug or documentation package (`-dev`, `-dbg`, `-dbgsym`,
///    `-doc`): those ship the unversioned link-time `.so` or a copy for debuggers, and
///    depend on the runtime library anyway;
/// 2. the package Debian Policy §8.1 ("Run-time shared libraries") names after the
///    soname: `libfoo.so.5` → `libfoo5`, `libfoo2.so.3` → `libfoo2-3`,
///    `libfoo-1.2.so` → `libfoo-1.2` (lower case, `_` as `-`); then that name with a
///    suffix of letters and digits (`t64` of the 64-bit time transition, `v5` of an ABI
///    change: `libgeos_c.so.1` → `libgeos-c1v5`);
/// 3. then the name, in byte order.
pub fn choose_provider<'p>(soname: &str, candidates: &[&'p str]) -> Option<&'p str> {
    let policy = policy_names(soname);
    let rank = |name: &str| {
        let auxiliary = ["-dev", "-dbg", "-dbgsym", "-doc"]
            .iter()
            .any(|suffix| name.ends_with(suffix));
        let naming = if policy.iter().any(|p| p == name) {
            0
        } else if policy.iter().any(|p| {
            name.strip_prefix(p.as_str()).is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_ascii_lowercase())
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
        }) {
            1
        } else {
            2
        };
        (auxiliary, naming)
    };
    candidates
        .iter()
        .copied()
        .min_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)))
}

/// The package names Debian Policy §8.1 gives the runtime library of `soname`.
fn policy_names(soname: &str) -> Vec<String> {
    let debianize = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    match soname.split_once(".so.") {
        Some((name, version)) if !version.is_empty() => {
            let (name, version) = (debianize(name), debianize(version));
            let joined = if name.ends_with(|c: char| c.is_ascii_digit()) {
                format!("{name}-{version}")
            } else {
                format!("{name}{version}")
            };
            // Either form is seen in the archive whatever the last character.
            vec![
                joined,
                format!("{name}-{version}"),
                format!("{name}{version}"),
            ]
        }
        _ => vec![debianize(soname.strip_suffix(".so").unwrap_or(soname))],
    }
}

/// The archive root of the suite whose index text holds `stanza` (records borrow from
/// it, so the address says where a record came from, with no map to build).
fn archive_root<'r>(repositories: &'r [Repository], stanza: &str) -> &'r str {
    let at = stanza.as_ptr() as usize;
    repositories
        .iter()
        .find(|r| {
            r.packages.iter().any(|p| {
                let start = p.text.as_ptr() as usize;
                (start..start + p.text.len()).contains(&at)
            })
        })
        .map_or("", |r| r.source.uri.as_str())
}

/// `root` + `filename`, without credentials: a lock is committed and shared, so a
/// `user:password@` in a source URI stays out of it (apt keeps them in auth.conf too).
fn file_url(root: &str, filename: &str) -> String {
    let joined = format!("{root}{}", filename.trim_start_matches("./"));
    match Url::parse(&joined) {
        Ok(url) => crate::fetch::redact(&url),
        Err(_) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_the_archive_root_and_drop_credentials() {
        assert_eq!(
            file_url(
                "http://m.test/debian/",
                "pool/main/h/hello/hello_1_amd64.deb"
            ),
            "http://m.test/debian/pool/main/h/hello/hello_1_amd64.deb"
        );
        assert_eq!(
            file_url("https://u:secret@m.test/repo/", "./hello_1_amd64.deb"),
            "https://m.test/repo/hello_1_amd64.deb"
        );
    }

    #[test]
    fn the_runtime_library_named_after_the_soname_is_chosen() {
        let pick = |soname, c: &[&'static str]| choose_provider(soname, c);
        assert_eq!(
            pick("libglpk.so.40", &["libglpk-dev", "libglpk40"]),
            Some("libglpk40")
        );
        assert_eq!(
            pick("libgeos_c.so.1", &["libgeos-c1v5", "libgeos-dev"]),
            Some("libgeos-c1v5")
        );
        assert_eq!(
            pick("libfoo.so.1", &["libfoo1t64", "zzz"]),
            Some("libfoo1t64")
        );
        assert_eq!(
            pick("libfoo2.so.3", &["libfoo2-3", "libfoo23"]),
            Some("libfoo2-3")
        );
        assert_eq!(
            pick("libfoo-1.2.so", &["other", "libfoo-1.2"]),
            Some("libfoo-1.2")
        );
        // Alternatives of one soname: the name decides, in byte order.
        assert_eq!(
            pick("libblas.so.3", &["libopenblas0-pthread", "libblas3"]),
            Some("libblas3")
        );
        assert_eq!(pick("libx.so.1", &["b-lib", "a-lib"]), Some("a-lib"));
        // A -dev package only when nothing else ships it.
        assert_eq!(pick("libR.so", &["r-base-dev"]), Some("r-base-dev"));
        assert_eq!(pick("libx.so.1", &[]), None);
    }

    #[test]
    fn unknown_sonames_name_what_needs_them() {
        let e = AptLockError::UnknownSonames {
            missing: vec![UnknownSoname {
                soname: "libnothere.so.7".into(),
                needed_by: vec!["r:igraph".into(), "r:sf".into()],
                shipped_by: vec![],
            }],
            indexes: 2,
        };
        assert_eq!(
            e.to_string(),
            "r:igraph, r:sf need the shared library libnothere.so.7, and no package of \
             the apt sources ships it (searched 2 Contents indexes)\n\
             help: add the apt repository that ships it to [apt] sources, or use a base \
             image that has it"
        );
    }

    #[test]
    fn dpkg_names_of_oci_architectures() {
        assert_eq!(dpkg_arch("amd64", None), "amd64");
        assert_eq!(dpkg_arch("arm64", Some("v8")), "arm64");
        assert_eq!(dpkg_arch("arm", Some("v7")), "armhf");
        assert_eq!(dpkg_arch("386", None), "i386");
    }
}
