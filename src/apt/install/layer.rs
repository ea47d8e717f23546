//! The apt layer: what `dpkg --unpack` of the lock's packages would change in the base
//! image, as layer entries, plus the dpkg database that records it.
//!
//! - Paths land where dpkg would put them on *this* base: a directory symlink of the
//!   base (merged-/usr's `bin -> usr/bin`) is followed, never replaced by a directory,
//!   and directories the base already has are not emitted again (their mode stays).
//! - The database: `status` (the base's stanzas kept as written, the new ones added or
//!   replacing an upgraded package's), `info/<pkg>.list`, `.md5sums`, `.conffiles` and
//!   every other control file dpkg keeps. A package with maintainer scripts stays
//!   `unpacked`, its conffiles as `.dpkg-new` (exactly dpkg's state after `--unpack`),
//!   so that `dpkg --configure -a` in a container finishes it; a package without them is
//!   `installed`, as `dpkg -i` leaves it.
//! - Upgrades: files the old version listed that nothing ships any more get whiteouts.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use super::InstallError;
use super::deb::{DataEntry, DataKind, Deb, read_deb};
use super::status::{self, PackageKey, StanzaState};
use crate::image::RootFs;
use crate::image::rootfs::{Keep, Kind, join_path, split_parent};
use crate::oci::layer::{Content, Entry};

const STATUS: &str = "var/lib/dpkg/status";
const INFO: &str = "var/lib/dpkg/info";
const DIVERSIONS: &str = "var/lib/dpkg/diversions";

/// A verified `.deb` of the lock, with what the lock says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageDeb {
    pub name: String,
    pub arch: String,
    pub version: crate::lockfile::AptVersion,
    pub file: PathBuf,
}

/// The made layer. The entries may name files in `spool`: keep it until the layer is
/// written.
#[derive(Debug)]
pub struct AptLayer {
    pub entries: Vec<Entry>,
    /// Every package of the layer, in lock order (`NAME`, as dpkg takes them).
    pub packages: Vec<String>,
    /// Packages left `unpacked` because their maintainer scripts have not run, in lock
    /// order: `dpkg --configure -a` finishes them.
    pub pending_configure: Vec<String>,
    /// Triggers the new packages activate (e.g. `ldconfig`), not processed here.
    pub triggers: BTreeSet<String>,
    pub spool: tempfile::TempDir,
}

/// The name of the stored view of a base with [`base_keep`]'s files (see
/// `crate::base::view`), kept by whichever of `lock` and `build` reads the base's layers
/// first, so that the other does not read them again. Bump it when `base_keep` changes:
/// a stored view then lacks files the installer reads (which it reports as an error
/// rather than reading them).
pub const BASE_VIEW: &str = "apt-view-v1";

/// What of the base [`make_layer`] reads: the dpkg status and the file lists. Pass it
/// to [`RootFs::read`].
pub fn base_keep(path: &str, _size: u64) -> Option<Keep> {
    let wanted = path == STATUS
        || path == DIVERSIONS
        || path
            .strip_prefix(INFO)
            .is_some_and(|rest| rest.starts_with('/') && rest.ends_with(".list"));
    wanted.then_some(Keep::Whole)
}

/// Does this package's configuration need its maintainer scripts run?
pub fn has_scripts(control: &BTreeMap<String, super::deb::ControlFile>) -> bool {
    control.contains_key("preinst") || control.contains_key("postinst")
}

/// The file is the package its lock entry names: the control file's `Package`,
/// `Version` (Debian equality) and `Architecture` are the entry's. The sha256 only
/// proves the file is the one the lock points at, not that the lock points at the right
/// file.
pub fn check_identity(
    deb: &PackageDeb,
    control: &BTreeMap<String, super::deb::ControlFile>,
) -> Result<(), InstallError> {
    let text = control
        .get("control")
        .map(|c| String::from_utf8_lossy(&c.bytes).into_owned())
        .unwrap_or_default();
    let get = |key: &str| field(&text, key).unwrap_or_default();
    let (name, version, arch) = (get("Package"), get("Version"), get("Architecture"));
    let same_version = crate::apt::relation::parse_debian_version(&version)
        .is_ok_and(|found| found == *deb.version.parsed());
    if name == deb.name && same_version && arch == deb.arch {
        return Ok(());
    }
    Err(InstallError::NotTheLocked {
        package: deb.name.clone(),
        version: deb.version.to_string(),
        arch: deb.arch.clone(),
        found: format!("{name} {version} ({arch})"),
    })
}

/// The debs of an install, read (file contents spooled into `spool`).
#[derive(Debug)]
pub struct ReadDebs {
    debs: Vec<(PackageDeb, Deb)>,
    spool: tempfile::TempDir,
}

/// Reads `debs` on every core (xz decompression is most of the work), keeping lock
/// order. Each thread takes the next unread deb, largest first, so that one large
/// package does not leave the other cores idle at the end.
pub fn read_debs(debs: &[PackageDeb]) -> Result<ReadDebs, InstallError> {
    let spool = tempfile::Builder::new()
        .prefix("rtlock-apt-")
        .tempdir()
        .map_err(|source| InstallError::Spool {
            package: debs.first().map(|d| d.name.clone()).unwrap_or_default(),
            dir: std::env::temp_dir(),
            source,
        })?;
    let size = |p: &PackageDeb| std::fs::metadata(&p.file).map_or(0, |m| m.len());
    let mut order: Vec<(u64, usize)> = debs.iter().map(size).zip(0..).collect();
    order.sort_unstable_by(|a, b| b.cmp(a));
    let largest_first: Vec<usize> = order.into_iter().map(|(_, i)| i).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let read = crate::task::parallel_map("a .deb reader", largest_first.clone(), threads, |i| {
        let deb = &debs[i];
        read_deb(&deb.file, &deb.name, spool.path())
            .and_then(|read| check_identity(deb, &read.control).map(|()| read))
    })?;
    let mut read: Vec<(usize, Result<Deb, InstallError>)> =
        largest_first.into_iter().zip(read).collect();
    read.sort_unstable_by_key(|(i, _)| *i);
    // The first failure in lock order is the one reported.
    let all = read
        .into_iter()
        .map(|(_, read)| read)
        .collect::<Result<Vec<Deb>, InstallError>>()?;
    Ok(ReadDebs {
        debs: debs.iter().cloned().zip(all).collect(),
        spool,
    })
}

/// The apt layer of `debs` (in lock order) on top of `base`.
pub fn make_layer(base: &RootFs, debs: &[PackageDeb]) -> Result<AptLayer, InstallError> {
    make_layer_from(base, read_debs(debs)?)
}

/// The apt layer of debs already read, on top of `base`.
pub fn make_layer_from(base: &RootFs, read: ReadDebs) -> Result<AptLayer, InstallError> {
    let ReadDebs { debs, spool } = read;
    let base_status = base
        .read_file(STATUS)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let mut stanzas = status::parse_base(&base_status);
    let diversions = base
        .read_file(DIVERSIONS)?
        .map(|b| parse_diversions(&String::from_utf8_lossy(&b)))
        .unwrap_or_default();
    let mut maker = Maker {
        base,
        entries: BTreeMap::new(),
        shipped_symlinks: HashSet::new(),
        diversions,
    };
    let mut pending_configure = Vec::new();
    let mut triggers = BTreeSet::new();
    let mut upgrades = Vec::new();
    // Conffiles of replaced versions: dpkg leaves obsolete ones on disk.
    let mut kept_conffiles = HashSet::new();
    let mut new_info = HashSet::new();

    for (package, deb) in &debs {
        let control = deb.control_text("control").unwrap_or_default();
        let multi_arch_same = crate::deb822::paragraphs(&control)
            .next()
            .and_then(|p| p.get("Multi-Arch"))
            .is_some_and(|m| m == "same");
        let prefix = if multi_arch_same {
            format!("{}:{}", package.name, package.arch)
        } else {
            package.name.clone()
        };
        let pending = has_scripts(&deb.control);
        if pending {
            pending_configure.push(package.name.clone());
        }
        triggers.extend(activated_triggers(deb));

        // The stanzas this package replaces: same name, and same architecture unless
        // it may change (only Multi-Arch: same packages are co-installable).
        let old: Vec<PackageKey> = stanzas
            .keys()
            .filter(|k| k.name == package.name && (k.arch == package.arch || !multi_arch_same))
            .cloned()
            .collect();
        let old_stanza = old.first().and_then(|k| stanzas.get(k)).cloned();
        for key in &old {
            if let Some(stanza) = stanzas.remove(key) {
                kept_conffiles.extend(status::conffile_hashes(&stanza).into_keys());
            }
            upgrades.push(key.clone());
        }

        let conffiles = conffiles(deb);
        maker.unpack(&package.name, deb, &conffiles, pending)?;

        let old_hashes = old_stanza
            .as_deref()
            .map(status::conffile_hashes)
            .unwrap_or_default();
        let hashes: Vec<(String, String)> = conffiles
            .iter()
            .map(|path| {
                let hash = if pending {
                    old_hashes
                        .get(path)
                        .cloned()
                        .unwrap_or_else(|| "newconffile".into())
                } else {
                    shipped_md5(deb, path).unwrap_or_else(|| "newconffile".into())
                };
                (path.clone(), hash)
            })
            .collect();
        let config_version = old_stanza
            .as_deref()
            .filter(|s| pending && status_of(s).ends_with(" installed"))
            .and_then(|s| field(s, "Version"));
        let text = status::stanza(
            &control,
            &StanzaState {
                state: if pending { "unpacked" } else { "installed" },
                config_version: config_version.as_deref(),
                conffiles: &hashes,
            },
        );
        stanzas.insert(
            PackageKey {
                name: package.name.clone(),
                arch: package.arch.clone(),
            },
            text,
        );
        for entry in info_files(&prefix, deb, &conffiles) {
            new_info.insert(entry.path.clone());
            maker.entries.insert(entry.path.clone(), entry);
        }
    }

    let whiteouts = maker.whiteouts(&upgrades, &kept_conffiles, &new_info)?;
    let mut entries: Vec<Entry> = maker.entries.into_values().collect();
    entries.extend(whiteouts);
    entries.push(Entry::file(
        STATUS,
        0o644,
        Content::Bytes(status::write(&stanzas).into_bytes()),
    ));
    Ok(AptLayer {
        entries,
        packages: debs.iter().map(|(d, _)| d.name.clone()).collect(),
        pending_configure,
        triggers,
        spool,
    })
}

fn field(stanza: &str, name: &str) -> Option<String> {
    crate::deb822::paragraphs(stanza)
        .next()
        .and_then(|p| p.get(name))
        .map(str::to_string)
}

fn status_of(stanza: &str) -> String {
    field(stanza, "Status").unwrap_or_default()
}

/// The package's conffiles (`/etc/…`), without those flagged `remove-on-upgrade` (they
/// are not shipped).
fn conffiles(deb: &Deb) -> Vec<String> {
    deb.control_text("conffiles")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('/'))
        .map(str::to_string)
        .collect()
}

fn shipped_md5(deb: &Deb, conffile: &str) -> Option<String> {
    let path = conffile.trim_start_matches('/');
    deb.data.iter().find_map(|e| match &e.kind {
        DataKind::File { md5, .. } if e.path == path => Some(md5.clone()),
        _ => None,
    })
}

/// `activate`/`activate-noawait` names of the package's `triggers` control file.
fn activated_triggers(deb: &Deb) -> Vec<String> {
    deb.control_text("triggers")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            match words.next()? {
                "activate" | "activate-noawait" | "activate-await" => {
                    words.next().map(str::to_string)
                }
                _ => None,
            }
        })
        .collect()
}

/// `var/lib/dpkg/info/<prefix>.*`: the file list, md5sums (generated when the package
/// has none, as dpkg does) and every control file but `control` itself.
fn info_files(prefix: &str, deb: &Deb, conffiles: &[String]) -> Vec<Entry> {
    let info = |name: &str| format!("{INFO}/{prefix}.{name}");
    let mut list = String::from("/.\n");
    for entry in &deb.data {
        list.push('/');
        list.push_str(&entry.path);
        list.push('\n');
    }
    let mut files = vec![Entry::file(
        &info("list"),
        0o644,
        Content::Bytes(list.into_bytes()),
    )];
    for (name, file) in &deb.control {
        if name == "control" {
            continue;
        }
        files.push(
            Entry::file(&info(name), file.mode, Content::Bytes(file.bytes.clone()))
                .mtime(file.mtime),
        );
    }
    if !deb.control.contains_key("md5sums") {
        let mut md5sums = String::new();
        for entry in &deb.data {
            if let DataKind::File { md5, .. } = &entry.kind
                && !conffiles
                    .iter()
                    .any(|c| c.trim_start_matches('/') == entry.path)
            {
                md5sums.push_str(&format!("{md5}  {}\n", entry.path));
            }
        }
        files.push(Entry::file(
            &info("md5sums"),
            0o644,
            Content::Bytes(md5sums.into_bytes()),
        ));
    }
    files
}

/// Places data entries on the base.
struct Maker<'a> {
    base: &'a RootFs,
    /// The layer so far, by final path (a later package's file replaces an earlier one's).
    entries: BTreeMap<String, Entry>,
    /// Symlinks the packages of this install ship (final paths): nothing may be placed
    /// through them.
    shipped_symlinks: HashSet<String>,
    /// The base's `dpkg-divert`s: path → (where it is diverted to, by which package).
    diversions: HashMap<String, Diversion>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Diversion {
    to: String,
    /// The package that diverted it (`:` for a local diversion).
    by: String,
}

/// `/var/lib/dpkg/diversions`: three lines a diversion (from, to, package), paths
/// absolute.
fn parse_diversions(text: &str) -> HashMap<String, Diversion> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks_exact(3)
        .map(|d| {
            let path = |p: &str| p.trim_start_matches('/').to_string();
            (
                path(d[0]),
                Diversion {
                    to: path(d[1]),
                    by: d[2].to_string(),
                },
            )
        })
        .collect()
}

impl Maker<'_> {
    fn refuse(&self, package: &str, entry: &str, through: &str) -> InstallError {
        InstallError::UnsafePath {
            package: package.to_string(),
            entry: format!("/{entry}"),
            reason: format!(
                "its parent /{through} is a symlink shipped by a package of this install; \
                 a file placed through it could land anywhere"
            ),
        }
    }

    /// `parent` with the base's symlinks followed, component by component.
    fn place_parent(
        &self,
        package: &str,
        entry: &str,
        parent: &str,
    ) -> Result<String, InstallError> {
        let mut resolved = String::new();
        for part in parent.split('/').filter(|p| !p.is_empty()) {
            let candidate = join_path(&resolved, part);
            if self.shipped_symlinks.contains(&candidate) {
                return Err(self.refuse(package, entry, &candidate));
            }
            resolved = self.base.resolve(&candidate)?;
            if self.shipped_symlinks.contains(&resolved) {
                return Err(self.refuse(package, entry, &resolved));
            }
        }
        Ok(resolved)
    }

    /// Where a non-directory entry lands: its parent placed, its own name kept (a file
    /// replaces a symlink of the base at the same path, as dpkg does).
    fn place(&self, package: &str, path: &str) -> Result<String, InstallError> {
        let (parent, name) = split_parent(path);
        Ok(join_path(&self.place_parent(package, path, parent)?, name))
    }

    fn unpack(
        &mut self,
        package: &str,
        deb: &Deb,
        conffiles: &[String],
        pending: bool,
    ) -> Result<(), InstallError> {
        // Where this package's files went, for its hard links.
        let mut placed: HashMap<&str, String> = HashMap::new();
        for data in &deb.data {
            // A path another package diverted goes where the diversion says.
            let source = match self.diversions.get(&data.path) {
                Some(d) if d.by != package && !matches!(data.kind, DataKind::Dir) => &d.to,
                _ => &data.path,
            };
            let mut at = self.place(package, source)?;
            let kind = match &data.kind {
                DataKind::Dir => {
                    // A directory of the base (or one reached through its symlinks) is
                    // already there: emitting it again could change its mode.
                    if self.shipped_symlinks.contains(&at) {
                        return Err(self.refuse(package, &data.path, &at));
                    }
                    at = self.base.resolve(&at)?;
                    if self.base.is_dir(&at) || self.entries.contains_key(&at) {
                        continue;
                    }
                    Entry::dir(&at, data.mode)
                }
                DataKind::File { content, .. } => {
                    let is_conffile = conffiles
                        .iter()
                        .any(|c| c.trim_start_matches('/') == data.path);
                    if is_conffile && pending {
                        at.push_str(".dpkg-new");
                    }
                    Entry::file(&at, data.mode, content.clone())
                }
                DataKind::Symlink(target) => {
                    self.shipped_symlinks.insert(at.clone());
                    Entry::symlink(&at, target)
                }
                DataKind::HardLink(target) => {
                    let target = match placed.get(target.as_str()) {
                        Some(at) => at.clone(),
                        None => self.place(package, target)?,
                    };
                    let mut link = Entry::hard_link(&at, &target);
                    link.mode = data.mode;
                    link
                }
            };
            placed.insert(&data.path, at.clone());
            self.entries.insert(at, with_metadata(kind, data));
        }
        Ok(())
    }

    /// Whiteouts for what upgraded packages' old versions listed and nothing owns now:
    /// not the new versions, not another package of the base. Old info files that were
    /// not written anew go too. Directories and conffiles stay, as dpkg leaves them.
    fn whiteouts(
        &self,
        upgrades: &[PackageKey],
        kept_conffiles: &HashSet<String>,
        new_info: &HashSet<String>,
    ) -> Result<Vec<Entry>, InstallError> {
        if upgrades.is_empty() {
            return Ok(Vec::new());
        }
        let info_names: Vec<String> = self
            .base
            .list_dir(INFO)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let old_prefixes: Vec<String> = upgrades
            .iter()
            .flat_map(|key| [key.name.clone(), format!("{}:{}", key.name, key.arch)])
            .collect();
        let is_old_info = |name: &str| {
            old_prefixes.iter().any(|p| {
                name.strip_prefix(p.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|suffix| !suffix.contains('.'))
            })
        };

        // Candidates: old paths (placed) that the layer does not write.
        let mut doomed: HashMap<String, String> = HashMap::new(); // placed path → file name
        let mut old_lists = HashSet::new();
        for name in info_names
            .iter()
            .filter(|n| n.ends_with(".list") && is_old_info(n))
        {
            old_lists.insert(name.clone());
            let Some(bytes) = self.base.read_file(&format!("{INFO}/{name}"))? else {
                continue;
            };
            for raw in String::from_utf8_lossy(&bytes).lines() {
                let path = raw.trim_start_matches('/');
                if path.is_empty() || path == "." || kept_conffiles.contains(raw) {
                    continue;
                }
                let Ok(placed) = self.place("", path) else {
                    continue;
                };
                if self.entries.contains_key(&placed)
                    || self.entries.contains_key(&format!("{placed}.dpkg-new"))
                {
                    continue;
                }
                match self.base.lstat(&placed)? {
                    Some((_, node)) if node.kind != Kind::Dir => {
                        let (_, file_name) = split_parent(&placed);
                        doomed.insert(placed.clone(), file_name.to_string());
                    }
                    _ => {}
                }
            }
        }
        // Another package of the base still owning a path keeps it.
        let names: HashSet<String> = doomed.values().cloned().collect();
        for name in info_names
            .iter()
            .filter(|n| n.ends_with(".list") && !old_lists.contains(*n))
        {
            if doomed.is_empty() {
                break;
            }
            let Some(bytes) = self.base.read_file(&format!("{INFO}/{name}"))? else {
                continue;
            };
            for raw in String::from_utf8_lossy(&bytes).lines() {
                let path = raw.trim_start_matches('/');
                if !names.contains(split_parent(path).1) {
                    continue;
                }
                if let Ok(placed) = self.place("", path) {
                    doomed.remove(&placed);
                }
            }
        }

        let mut out: Vec<Entry> = doomed.keys().map(|path| Entry::whiteout(path)).collect();
        for name in info_names.iter().filter(|n| is_old_info(n)) {
            let path = format!("{INFO}/{name}");
            if !new_info.contains(&path) {
                out.push(Entry::whiteout(&path));
            }
        }
        Ok(out)
    }
}

fn with_metadata(mut entry: Entry, data: &DataEntry) -> Entry {
    entry.uid = data.uid;
    entry.gid = data.gid;
    entry.mtime = Some(data.mtime);
    entry.xattrs = data.xattrs.clone();
    entry
}
