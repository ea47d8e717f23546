//! The pip layer: every wheel of the lock installed on the base as pip would, as layer
//! entries.
//!
//! - Files land in the scheme of the base's `python3` ([`Target`]); directories the
//!   base lacks are added (0755, root), existing ones are left as the base has them.
//! - Per distribution: console/GUI script wrappers, `INSTALLER` (`rtlock`), `REQUESTED`
//!   for requested packages, and a RECORD listing every installed file with its sha256
//!   and size (RECORD itself without).
//! - A wheel replacing a distribution of the base (`allow-upgrade`): the old one's
//!   files, from its RECORD, get whiteouts, as pip uninstalls it first.
//! - Two wheels writing the same path is an error naming both.

use std::collections::{BTreeMap, BTreeSet};

use super::record::{self, Row};
use super::scripts;
use super::target::{SchemeKey, Target};
use super::wheel::{self, ReadWheel, Spool};
use super::{INSTALLER, InstallError, Wheel};
use crate::image::RootFs;
use crate::image::rootfs::{Keep, join_path, split_parent};
use crate::oci::layer::{Content, Entry};

/// File contents kept in memory across all wheels of a layer; the rest is spooled.
/// Part of what keeps a build of a big stack under 200 MB.
const MEMORY_BUDGET: u64 = 48 << 20;

/// The made layer. The entries may name files in `spool`: keep it until the layer is
/// written.
#[derive(Debug)]
pub struct PipLayer {
    pub entries: Vec<Entry>,
    /// Base distributions the wheels replace (`name version`), whose files got whiteouts.
    pub replaced: Vec<String>,
    pub spool: tempfile::TempDir,
}

/// What of the base [`make_layer`] reads: what the Python inventory needs to find the
/// interpreter (with the OS and dpkg's database it reads), and the RECORD of every
/// installed distribution (for upgrades).
pub fn base_keep(path: &str, size: u64) -> Option<Keep> {
    crate::pip::inventory::wanted(path, size)
        .or_else(|| crate::base::os::wanted(path, size))
        .or_else(|| crate::base::dpkg::wanted(path, size))
        .or_else(|| {
            (path.ends_with(".dist-info/RECORD") && path.contains("-packages/"))
                .then_some(Keep::Whole)
        })
}

/// The pip layer of `wheels` (lock order) on `base`, installed into `target`
/// (blocking: the wheels are read on every core).
pub fn make_layer(
    base: &RootFs,
    target: &Target,
    wheels: &[Wheel],
) -> Result<PipLayer, InstallError> {
    let spool = Spool::new(MEMORY_BUDGET).map_err(|source| InstallError::Spool {
        wheel: wheels
            .first()
            .map(|w| w.filename.clone())
            .unwrap_or_default(),
        dir: std::env::temp_dir(),
        source,
    })?;
    let read = wheel::read_all(wheels, &spool)?;
    let mut maker = Maker {
        base,
        target,
        files: BTreeMap::new(),
    };
    for (wheel, read) in wheels.iter().zip(read) {
        maker.install(wheel, read)?;
    }
    let (whiteouts, replaced) = maker.uninstall(wheels)?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut dirs = BTreeSet::new();
    for path in maker.files.keys() {
        parents(path, &mut dirs);
    }
    entries.extend(
        dirs.into_iter()
            .filter(|d| !base.exists(d))
            .map(|d| Entry::dir(&d, 0o755)),
    );
    entries.extend(maker.files.into_values().map(|(_, entry)| entry));
    entries.extend(whiteouts);
    Ok(PipLayer {
        entries,
        replaced,
        spool: spool.dir,
    })
}

struct Maker<'a> {
    base: &'a RootFs,
    target: &'a Target,
    /// Image path → (the wheel that installs it, its entry).
    files: BTreeMap<String, (String, Entry)>,
}

impl Maker<'_> {
    fn install(&mut self, wheel: &Wheel, read: ReadWheel) -> Result<(), InstallError> {
        let target = self.target;
        let site = &target.purelib;
        let mut rows = Vec::new();
        let ReadWheel {
            dist_info,
            files,
            entry_points,
        } = read;
        for file in files {
            let dest = join_path(&target.dir(file.key, &wheel.name), &file.path);
            let (content, sha256, size) = match (&file.content, file.key) {
                (Content::Bytes(bytes), SchemeKey::Scripts) => {
                    match scripts::fix_shebang(bytes, &target.interpreter) {
                        Some(fixed) => {
                            let sha256: [u8; 32] = sha256(&fixed);
                            let size = fixed.len() as u64;
                            (Content::Bytes(fixed), sha256, size)
                        }
                        None => (file.content, file.sha256, file.size),
                    }
                }
                _ => (file.content, file.sha256, file.size),
            };
            rows.push(row(&dest, site, &sha256, size));
            self.add(wheel, Entry::file(&dest, file.mode, content))?;
        }
        let bad_script = |reason: String| InstallError::UnsafeEntry {
            package: wheel.name.clone(),
            wheel: wheel.filename.clone(),
            entry: format!("{dist_info}/entry_points.txt"),
            reason,
        };
        for entry_point in scripts::entry_points(entry_points.as_deref().unwrap_or("")) {
            let entry_point = entry_point.map_err(|bad| bad_script(bad.to_string()))?;
            let name = &entry_point.name;
            if name.contains(['/', '\\', '\0']) || name.starts_with('.') {
                return Err(bad_script(format!(
                    "the script name `{name}` is not a plain file name"
                )));
            }
            let dest = join_path(&target.scripts, &entry_point.name);
            let bytes = scripts::wrapper(&entry_point, &target.interpreter);
            rows.push(row(&dest, site, &sha256(&bytes), bytes.len() as u64));
            self.add(wheel, Entry::file(&dest, 0o755, Content::Bytes(bytes)))?;
        }
        let info = join_path(site, &dist_info);
        let mut generated = vec![("INSTALLER", format!("{INSTALLER}\n").into_bytes())];
        if wheel.requested {
            generated.push(("REQUESTED", Vec::new()));
        }
        for (name, bytes) in generated {
            let dest = join_path(&info, name);
            rows.push(row(&dest, site, &sha256(&bytes), bytes.len() as u64));
            self.add(wheel, Entry::file(&dest, 0o644, Content::Bytes(bytes)))?;
        }
        let record_path = join_path(&info, "RECORD");
        rows.push(Row {
            path: record::relative(&record_path, site),
            hash: String::new(),
            size: String::new(),
        });
        self.add(
            wheel,
            Entry::file(&record_path, 0o644, Content::Bytes(record::write(rows))),
        )?;
        Ok(())
    }

    fn add(&mut self, wheel: &Wheel, entry: Entry) -> Result<(), InstallError> {
        let owner = format!("{} {}", wheel.name, wheel.version);
        if let Some((first, _)) = self.files.get(&entry.path) {
            return Err(InstallError::Conflict {
                path: entry.path.clone(),
                first: first.clone(),
                second: owner,
            });
        }
        self.files.insert(entry.path.clone(), (owner, entry));
        Ok(())
    }

    /// Whiteouts for the files of base distributions that a wheel replaces (found by
    /// normalized name in the interpreter's site directories), except paths the layer
    /// writes again. A base distribution without RECORD (a Debian package's) cannot
    /// be removed, and is left for the new one to shadow, with a warning.
    fn uninstall(&self, wheels: &[Wheel]) -> Result<(Vec<Entry>, Vec<String>), InstallError> {
        let names: BTreeMap<String, &Wheel> = wheels
            .iter()
            .map(|w| (wheel::normalize(&w.name), w))
            .collect();
        let mut doomed: BTreeSet<String> = BTreeSet::new();
        let mut replaced = Vec::new();
        for site in &self.target.site_packages {
            for (name, _) in self.base.list_dir(site)? {
                let Some((project, version)) = name
                    .strip_suffix(".dist-info")
                    .and_then(|stem| stem.rsplit_once('-'))
                else {
                    continue;
                };
                let Some(wheel) = names.get(&wheel::normalize(project)) else {
                    continue;
                };
                let info = join_path(site, &name);
                let Some(text) = self.base.read_file(&join_path(&info, "RECORD"))? else {
                    tracing::warn!(
                        "{} {version} of the base image (/{info}) has no RECORD, so it cannot be \
                         removed; {} {} is installed in front of it",
                        wheel.name,
                        wheel.name,
                        wheel.version
                    );
                    continue;
                };
                replaced.push(format!("{} {version}", wheel.name));
                doomed.extend(
                    record::parse_paths(&String::from_utf8_lossy(&text))
                        .iter()
                        .filter_map(|p| record::resolve(site, p)),
                );
                doomed.insert(info);
            }
        }
        let whiteouts = self
            .removed(doomed)?
            .iter()
            .map(|path| Entry::whiteout(path))
            .collect();
        Ok((whiteouts, replaced))
    }
}

impl Maker<'_> {
    /// What to hide of `doomed` (image paths): the files the base has and the layer does
    /// not write again, and directories left empty by that (as pip removes them), each
    /// only once (nothing below a hidden directory).
    fn removed(&self, doomed: BTreeSet<String>) -> Result<Vec<String>, InstallError> {
        let mut gone: BTreeSet<String> = doomed
            .into_iter()
            .filter(|path| !self.files.contains_key(path) && self.base.exists(path))
            .collect();
        let mut candidates: BTreeSet<String> = BTreeSet::new();
        for path in &gone {
            let mut dir = split_parent(path).0;
            while !dir.is_empty() && !self.target.site_packages.iter().any(|s| s == dir) {
                candidates.insert(dir.to_string());
                dir = split_parent(dir).0;
            }
        }
        // Deepest first, so a directory sees whether its subdirectories went.
        let mut candidates: Vec<String> = candidates.into_iter().collect();
        candidates.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        for dir in candidates {
            let written_below = self
                .files
                .range(format!("{dir}/")..)
                .next()
                .is_some_and(|(p, _)| p.starts_with(&format!("{dir}/")));
            if written_below || !self.base.is_dir(&dir) {
                continue;
            }
            let children = self.base.list_dir(&dir)?;
            if children
                .iter()
                .all(|(name, _)| gone.contains(&join_path(&dir, name)))
            {
                gone.insert(dir);
            }
        }
        let hidden: Vec<String> = gone
            .iter()
            .filter(|path| {
                let mut dir = split_parent(path).0;
                while !dir.is_empty() {
                    if gone.contains(dir) {
                        return false;
                    }
                    dir = split_parent(dir).0;
                }
                true
            })
            .cloned()
            .collect();
        Ok(hidden)
    }
}

/// Adds every ancestor of `path` to `dirs` (the directories a file needs; those the
/// base lacks become entries).
fn parents(path: &str, dirs: &mut BTreeSet<String>) {
    let mut current = split_parent(path).0;
    while !current.is_empty() && dirs.insert(current.to_string()) {
        current = split_parent(current).0;
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

fn row(dest: &str, site: &str, sha256: &[u8; 32], size: u64) -> Row {
    Row {
        path: record::relative(dest, site),
        hash: record::encode_sha256(sha256),
        size: size.to_string(),
    }
}
