//! One verified package tarball read into layer entries relative to its package
//! directory, through [`crate::r::tarball::for_each_entry`] (which refuses any entry
//! that leaves that directory), with its DESCRIPTION checked against the lock.
//!
//! File contents wait in a [`Spool`] until the layer is written: memory up to a budget
//! shared by all tarballs, then files in a temporary directory, so memory does not grow
//! with package size.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use crate::deb822::owned::paragraphs;
use crate::lockfile::RKind;
use crate::oci::layer::{Content, Entry, EntryKind};
use crate::r::tarball::{TarballError, for_each_entry};

use super::{RLayerError, Tarball};

/// Files up to this size may stay in memory (while the spool's budget lasts).
const IN_MEMORY: u64 = 64 << 10;

/// File contents kept in memory across all tarballs of a layer.
pub const MEMORY_BUDGET: u64 = 48 << 20;

/// Where file contents wait until the layer is written.
#[derive(Debug)]
pub struct Spool {
    pub dir: tempfile::TempDir,
    budget: AtomicI64,
    files: AtomicUsize,
}

impl Spool {
    pub fn new(budget: u64) -> Result<Spool, RLayerError> {
        let dir = tempfile::Builder::new()
            .prefix("rtlock-r-")
            .tempdir()
            .map_err(|source| RLayerError::Spool {
                dir: std::env::temp_dir(),
                source,
            })?;
        Ok(Spool {
            dir,
            budget: AtomicI64::new(budget as i64),
            files: AtomicUsize::new(0),
        })
    }

    fn in_memory(&self, size: u64) -> bool {
        if size > IN_MEMORY {
            return false;
        }
        let size = size as i64;
        if self.budget.fetch_sub(size, Ordering::Relaxed) >= size {
            true
        } else {
            self.budget.fetch_add(size, Ordering::Relaxed);
            false
        }
    }

    /// The content of a file of `size` bytes read from `reader`.
    fn content(&self, reader: &mut dyn Read, size: u64) -> std::io::Result<Content> {
        if self.in_memory(size) {
            let mut bytes = Vec::with_capacity(size as usize);
            reader.read_to_end(&mut bytes)?;
            return Ok(Content::Bytes(bytes));
        }
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let path: PathBuf = self.dir.path().join(n.to_string());
        let mut file = std::fs::File::create(&path)?;
        std::io::copy(reader, &mut file)?;
        Ok(Content::Path(path))
    }
}

/// A tarball read: its entries relative to the package directory (`""` is the
/// directory itself), with the modes and mtimes the tarball gives, and what its
/// DESCRIPTION says.
#[derive(Debug)]
pub struct Unpacked {
    pub entries: Vec<Entry>,
    /// The `SystemRequirements` field, when it has one.
    pub system_requirements: Option<String>,
}

/// Reads `tarball`, checking that it holds the locked package (its top directory and
/// DESCRIPTION name it, with the locked version) of the locked kind (a binary has the
/// `Built:` field `R CMD INSTALL` writes, a source package has none).
pub fn unpack(tarball: &Tarball, spool: &Spool) -> Result<Unpacked, RLayerError> {
    let unreadable = |source: TarballError| RLayerError::Tarball {
        package: tarball.shown(),
        filename: tarball.filename.clone(),
        source,
    };
    let io = |source: std::io::Error| TarballError::Io {
        path: tarball.file.clone(),
        source,
    };
    let mut top: Option<String> = None;
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut description: Option<String> = None;
    for_each_entry(&tarball.file, &mut top, |relative, entry| {
        if relative.split('/').any(|part| part.starts_with(".wh.")) {
            return Err(TarballError::Escapes {
                path: tarball.file.clone(),
                entry: relative.to_string(),
                problem: "is named like an overlay whiteout (`.wh.`), which would delete \
                          files of the image",
            });
        }
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().map_err(io)? & 0o7777;
        let mtime = header.mtime().ok().map(|t| t as i64);
        let link = || {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let mut made = if kind.is_dir() {
            Entry::dir(relative, mode)
        } else if kind.is_symlink() {
            Entry::symlink(relative, &link())
        } else if kind.is_hard_link() {
            // Named from the archive's root (`pkg/x`); for_each_entry checked it stays
            // in the package directory.
            let target = link();
            let inside = target
                .split('/')
                .filter(|p| !p.is_empty() && *p != ".")
                .skip(1)
                .collect::<Vec<_>>()
                .join("/");
            Entry::hard_link(relative, &inside)
        } else {
            let size = entry.size();
            if relative == "DESCRIPTION" {
                let mut text = String::new();
                entry.read_to_string(&mut text).map_err(io)?;
                description = Some(text.clone());
                Entry::file(relative, mode, Content::Bytes(text.into_bytes()))
            } else {
                let content = spool.content(entry, size).map_err(io)?;
                Entry::file(relative, mode, content)
            }
        };
        if let Some(mtime) = mtime {
            made = made.mtime(mtime);
        }
        // A later entry of the same path replaces the earlier one, as tar extracts.
        entries.insert(relative.to_string(), made);
        Ok(())
    })
    .map_err(unreadable)?;

    let top = top.unwrap_or_default();
    let not_the_locked = |found: String| RLayerError::NotTheLocked {
        package: tarball.shown(),
        filename: tarball.filename.clone(),
        found,
    };
    if top != tarball.name {
        return Err(not_the_locked(format!("the package directory `{top}`")));
    }
    let text = description.ok_or_else(|| not_the_locked(format!("no {top}/DESCRIPTION")))?;
    let fields = paragraphs(&text).into_iter().next().unwrap_or_default();
    let (package, version) = (
        fields.get("Package").unwrap_or_default(),
        fields.get("Version").unwrap_or_default(),
    );
    if package != tarball.name || !same_version(version, &tarball.version) {
        return Err(not_the_locked(format!(
            "a DESCRIPTION of `{package} {version}`"
        )));
    }
    let built = fields.get("Built").is_some();
    let wrong_kind = |found: &'static str, why: &'static str| RLayerError::WrongKind {
        package: tarball.shown(),
        filename: tarball.filename.clone(),
        locked: tarball.kind.as_str(),
        found,
        why,
    };
    match (tarball.kind, built) {
        (RKind::Binary, false) => {
            return Err(wrong_kind(
                "source",
                "its DESCRIPTION has no `Built:` field",
            ));
        }
        (RKind::Source, true) => {
            return Err(wrong_kind(
                "binary",
                "its DESCRIPTION has the `Built:` field of an installed package",
            ));
        }
        _ => {}
    }
    // Directories the tarball leaves out are made, as tar does when it extracts.
    let mut parents = Vec::new();
    for path in entries.keys() {
        let mut at = path.as_str();
        while let Some((parent, _)) = at.rsplit_once('/') {
            if !entries.contains_key(parent) {
                parents.push(parent.to_string());
            }
            at = parent;
        }
        if !path.is_empty() && !entries.contains_key("") {
            parents.push(String::new());
        }
    }
    for parent in parents {
        entries
            .entry(parent.clone())
            .or_insert_with(|| Entry::dir(&parent, 0o755));
    }
    Ok(Unpacked {
        entries: entries.into_values().collect(),
        system_requirements: fields
            .get("SystemRequirements")
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
    })
}

/// The same version in R's order (`1.0-1` is `1.0.1`), or the same text.
fn same_version(found: &str, locked: &str) -> bool {
    if found == locked {
        return true;
    }
    match (
        found.parse::<crate::r::requirement::RVersion>(),
        locked.parse::<crate::r::requirement::RVersion>(),
    ) {
        (Ok(a), Ok(b)) => a.parts() == b.parts(),
        _ => false,
    }
}

/// `entries` (relative to a package directory) moved under `dir`, hard links with them.
pub fn place(entries: Vec<Entry>, dir: &str) -> Vec<Entry> {
    let under = |relative: &str| {
        if relative.is_empty() {
            dir.to_string()
        } else {
            format!("{dir}/{relative}")
        }
    };
    entries
        .into_iter()
        .map(|mut entry| {
            entry.path = under(&entry.path);
            if let EntryKind::HardLink { target } = &entry.kind {
                entry.kind = EntryKind::HardLink {
                    target: under(target),
                };
            }
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tar entry: name, type, mode, data, link target.
    type TarEntry<'a> = (&'a str, tar::EntryType, u32, &'a [u8], Option<&'a str>);

    /// A tarball of `entries` at `dir/NAME_1.0.tar.gz`.
    fn tarball(
        dir: &std::path::Path,
        name: &str,
        kind: RKind,
        entries: &[TarEntry<'_>],
    ) -> Tarball {
        let path = dir.join(format!("{name}_1.0.tar.gz"));
        let file = std::fs::File::create(&path).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (entry, kind, mode, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(*mode);
            header.set_mtime(1_000);
            match link {
                Some(link) => builder.append_link(&mut header, entry, link).unwrap(),
                None => builder.append_data(&mut header, entry, *data).unwrap(),
            }
        }
        builder.into_inner().unwrap().finish().unwrap();
        Tarball {
            name: name.to_string(),
            version: "1.0".to_string(),
            kind,
            filename: format!("{name}_1.0.tar.gz"),
            file: path,
            requires: Vec::new(),
        }
    }

    const FILE: tar::EntryType = tar::EntryType::Regular;
    const BINARY_DESCRIPTION: &[u8] =
        b"Package: pkg\nVersion: 1.0\nBuilt: R 4.2.2; ; 2023-01-01 00:00:00 UTC; unix\n";

    #[test]
    fn a_binary_tarball_becomes_its_tree_with_parents_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![7u8; (IN_MEMORY + 1) as usize];
        let t = tarball(
            dir.path(),
            "pkg",
            RKind::Binary,
            &[
                ("pkg/DESCRIPTION", FILE, 0o664, BINARY_DESCRIPTION, None),
                ("pkg/libs/pkg.so", FILE, 0o775, &big, None),
                ("pkg/R/pkg", FILE, 0o644, b"x", None),
                (
                    "pkg/R/again",
                    tar::EntryType::Link,
                    0o644,
                    b"",
                    Some("pkg/R/pkg"),
                ),
                (
                    "pkg/doc/link",
                    tar::EntryType::Symlink,
                    0o777,
                    b"",
                    Some("../R/pkg"),
                ),
            ],
        );
        let spool = Spool::new(MEMORY_BUDGET).unwrap();
        let unpacked = unpack(&t, &spool).unwrap();
        let placed = place(unpacked.entries, "usr/local/lib/R/site-library/pkg");
        let shown: Vec<(String, u32)> = placed.iter().map(|e| (e.path.clone(), e.mode)).collect();
        let lib = |p: &str| format!("usr/local/lib/R/site-library/{p}");
        assert_eq!(
            shown,
            [
                (lib("pkg"), 0o755),
                (lib("pkg/DESCRIPTION"), 0o664),
                (lib("pkg/R"), 0o755),
                (lib("pkg/R/again"), 0o644),
                (lib("pkg/R/pkg"), 0o644),
                (lib("pkg/doc"), 0o755),
                (lib("pkg/doc/link"), 0o777),
                (lib("pkg/libs"), 0o755),
                (lib("pkg/libs/pkg.so"), 0o775),
            ]
        );
        assert_eq!(
            placed[3].kind,
            EntryKind::HardLink {
                target: lib("pkg/R/pkg")
            }
        );
        assert!(matches!(placed[8].kind, EntryKind::File(Content::Path(_))));
        assert_eq!(placed[1].mtime, Some(1_000));
    }

    #[test]
    fn a_tarball_of_another_package_or_kind_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(MEMORY_BUDGET).unwrap();
        let other = tarball(
            dir.path(),
            "pkg",
            RKind::Binary,
            &[("other/DESCRIPTION", FILE, 0o644, b"Package: other\n", None)],
        );
        let err = unpack(&other, &spool).unwrap_err().to_string();
        assert!(err.contains("the package directory `other`"), "{err}");

        let newer = tarball(
            dir.path(),
            "pkg",
            RKind::Binary,
            &[(
                "pkg/DESCRIPTION",
                FILE,
                0o644,
                b"Package: pkg\nVersion: 2.0\nBuilt: R 4.2.2; ; x; unix\n",
                None,
            )],
        );
        let err = unpack(&newer, &spool).unwrap_err().to_string();
        assert!(err.contains("a DESCRIPTION of `pkg 2.0`"), "{err}");

        let source = tarball(
            dir.path(),
            "pkg",
            RKind::Binary,
            &[(
                "pkg/DESCRIPTION",
                FILE,
                0o644,
                b"Package: pkg\nVersion: 1.0\n",
                None,
            )],
        );
        let err = unpack(&source, &spool).unwrap_err().to_string();
        assert!(err.contains("locked as a binary package"), "{err}");
        assert!(err.contains("no `Built:` field"), "{err}");

        let mut binary = tarball(
            dir.path(),
            "pkg",
            RKind::Source,
            &[("pkg/DESCRIPTION", FILE, 0o644, BINARY_DESCRIPTION, None)],
        );
        binary.kind = RKind::Source;
        let err = unpack(&binary, &spool).unwrap_err().to_string();
        assert!(err.contains("is a binary one"), "{err}");
    }
}
