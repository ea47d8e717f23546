//! An R package tarball (`NAME_VERSION.tar.gz`), as CRAN-like repositories serve it:
//! a source package, or a binary one (the installed tree `R CMD INSTALL` leaves, as
//! binary repositories serve them under `src/contrib`). Both hold one top directory
//! named after the package with its `DESCRIPTION`.
//!
//! Read at lock time for the facts the index does not give (the DESCRIPTION itself,
//! whether it is a binary, the shared libraries its compiled code needs) and at build
//! time for its files. Every entry must stay inside the package's directory: a path
//! with `..`, an absolute path, a link that points out of it, or a second top
//! directory is refused before anything is used.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// The largest DESCRIPTION read (real ones are a few KB).
const MAX_DESCRIPTION: u64 = 1 << 20;

/// The largest shared object whose dynamic section is read (the largest R packages'
/// objects are about 100 MB).
const MAX_SHARED_OBJECT: u64 = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TarballError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an R package tarball: {problem}", path.display())]
    Invalid { path: PathBuf, problem: String },
    #[error("{} holds `{entry}`, which {problem}; the tarball is refused", path.display())]
    Escapes {
        path: PathBuf,
        entry: String,
        problem: &'static str,
    },
}

/// What a package tarball says of itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TarballFacts {
    /// The MD5 of the tarball's bytes (what CRAN-like PACKAGES list as `MD5sum`).
    pub md5: String,
    /// The top directory: the package's name.
    pub top: String,
    pub description: String,
    /// Its ELF shared objects (path inside the package, DT_NEEDED sonames).
    pub shared_objects: Vec<SharedObject>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedObject {
    pub path: String,
    pub needed: Vec<String>,
    pub soname: Option<String>,
}

/// Versions the facts [`read_cached`] keeps.
const FACTS_FORMAT: &str = "v1";

/// [`read`], kept under `cache_root` by the tarball's sha256 (which names its bytes
/// forever): a second `lock` of the same packages decompresses nothing.
pub fn read_cached(
    path: &Path,
    sha256: &str,
    cache_root: &Path,
) -> Result<TarballFacts, TarballError> {
    let kept = cache_root
        .join("r-tarballs")
        .join(FACTS_FORMAT)
        .join(format!("{sha256}.json"));
    if let Some(facts) = std::fs::read(&kept)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    {
        return Ok(facts);
    }
    let facts = read(path)?;
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(kept.parent().unwrap_or(cache_root))?;
        let json = serde_json::to_vec(&facts).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&kept, &json)
    };
    if let Err(e) = write() {
        // Costs only a second read next time.
        tracing::debug!("could not keep the facts of {}: {e}", path.display());
    }
    Ok(facts)
}

/// Reads the facts of the tarball at `path`.
pub fn read(path: &Path) -> Result<TarballFacts, TarballError> {
    let mut top: Option<String> = None;
    let mut description = None;
    let mut shared_objects = Vec::new();
    for_each_entry(path, &mut top, |relative, entry| {
        let io = |source| TarballError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !entry.header().entry_type().is_file() {
            return Ok(());
        }
        let size = entry.size();
        if relative == "DESCRIPTION" {
            if size > MAX_DESCRIPTION {
                return Err(invalid(path, "its DESCRIPTION is larger than 1 MiB"));
            }
            let mut text = String::new();
            entry.read_to_string(&mut text).map_err(io)?;
            description = Some(text);
            return Ok(());
        }
        let mut head = [0u8; 4];
        let mut read = 0;
        while read < 4 {
            match entry.read(&mut head[read..]).map_err(io)? {
                0 => break,
                n => read += n,
            }
        }
        if read < 4 || !crate::elf::is_elf(&head) {
            return Ok(());
        }
        if size > MAX_SHARED_OBJECT {
            return Err(invalid(
                path,
                &format!("its shared object {relative} is larger than 512 MiB"),
            ));
        }
        let mut bytes = head.to_vec();
        entry.read_to_end(&mut bytes).map_err(io)?;
        let dynamic = crate::elf::dynamic(&bytes)
            .map_err(|e| invalid(path, &format!("its shared object {relative}: {e}")))?;
        if let Some(dynamic) = dynamic {
            shared_objects.push(SharedObject {
                path: relative.to_string(),
                needed: dynamic.needed,
                soname: dynamic.soname,
            });
        }
        Ok(())
    })?;
    let top = top.ok_or_else(|| invalid(path, "it is empty"))?;
    let md5 = md5_of(path).map_err(|source| TarballError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let description =
        description.ok_or_else(|| invalid(path, &format!("it has no {top}/DESCRIPTION")))?;
    Ok(TarballFacts {
        md5,
        top,
        description,
        shared_objects,
    })
}

/// Calls `each` with every entry's path below the top directory and the entry, after
/// checking that it stays inside; `top` is set to the top directory's name.
pub fn for_each_entry(
    path: &Path,
    top: &mut Option<String>,
    mut each: impl FnMut(
        &str,
        &mut tar::Entry<'_, GzDecoder<std::fs::File>>,
    ) -> Result<(), TarballError>,
) -> Result<(), TarballError> {
    let io = |source| TarballError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let relative = check_entry(path, &raw, top, &entry)?;
        each(&relative, &mut entry)?;
    }
    Ok(())
}

fn check_entry(
    path: &Path,
    raw: &str,
    top: &mut Option<String>,
    entry: &tar::Entry<'_, GzDecoder<std::fs::File>>,
) -> Result<String, TarballError> {
    let escapes = |problem| TarballError::Escapes {
        path: path.to_path_buf(),
        entry: raw.to_string(),
        problem,
    };
    if raw.starts_with('/') {
        return Err(escapes("is an absolute path"));
    }
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(escapes("climbs out with `..`"));
    }
    let Some((first, rest)) = parts.split_first() else {
        return Err(escapes("has an empty path"));
    };
    match top {
        Some(t) if t != first => return Err(escapes("lies outside the package's directory")),
        Some(_) => {}
        None => *top = Some(first.to_string()),
    }
    let kind = entry.header().entry_type();
    if kind.is_symlink() || kind.is_hard_link() {
        let target = entry
            .link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        // A hard link names a path from the archive's root; a symbolic link is
        // relative to its directory. Either must stay inside the package.
        let from: Vec<&str> = if kind.is_hard_link() {
            Vec::new()
        } else {
            parts[..parts.len() - 1].to_vec()
        };
        if target.starts_with('/') || !stays_inside(first, &from, &target) {
            return Err(escapes("links outside the package's directory"));
        }
    }
    if !(kind.is_file() || kind.is_dir() || kind.is_symlink() || kind.is_hard_link()) {
        return Err(escapes("is a device, FIFO or other special file"));
    }
    Ok(rest.join("/"))
}

/// Whether `target`, followed from `dir` (components from the archive's root; empty for
/// a hard link, whose target is named from the root), stays under `top`.
fn stays_inside(top: &str, dir: &[&str], target: &str) -> bool {
    let mut at: Vec<&str> = dir.to_vec();
    for part in target.split('/').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            if at.len() <= 1 {
                return false;
            }
            at.pop();
        } else {
            at.push(part);
        }
    }
    at.first() == Some(&top)
}

fn md5_of(path: &Path) -> std::io::Result<String> {
    use md5::Digest as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = md5::Md5::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn invalid(path: &Path, problem: &str) -> TarballError {
    TarballError::Invalid {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(dir: &Path, entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> PathBuf {
        let path = dir.join("pkg_1.0.tar.gz");
        let file = std::fs::File::create(&path).unwrap();
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, kind, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if let Some(link) = link {
                header.set_link_name(link).unwrap();
            }
            // Written by hand so that hostile names (`..`, `/`) reach the archive.
            let bytes = name.as_bytes();
            header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        path
    }

    const FILE: tar::EntryType = tar::EntryType::Regular;

    #[test]
    fn reads_description_and_shared_objects() {
        let dir = tempfile::tempdir().unwrap();
        let elf = std::fs::read("/bin/ls").unwrap();
        let path = tarball(
            dir.path(),
            &[
                ("pkg/", tar::EntryType::Directory, b"", None),
                (
                    "pkg/DESCRIPTION",
                    FILE,
                    b"Package: pkg\nVersion: 1.0\n",
                    None,
                ),
                ("pkg/libs/pkg.so", FILE, &elf, None),
                ("pkg/R/pkg", FILE, b"x <- 1\n", None),
            ],
        );
        let facts = read(&path).unwrap();
        assert_eq!(facts.top, "pkg");
        assert!(facts.description.contains("Version: 1.0"));
        assert_eq!(facts.shared_objects.len(), 1);
        assert_eq!(facts.shared_objects[0].path, "libs/pkg.so");
        assert!(
            facts.shared_objects[0]
                .needed
                .iter()
                .any(|n| n.starts_with("libc.so"))
        );
    }

    #[test]
    fn refuses_entries_that_escape() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, tar::EntryType, Option<&str>, &str); 5] = [
            ("pkg/../../etc/passwd", FILE, None, "climbs out"),
            ("/etc/passwd", FILE, None, "absolute"),
            ("other/DESCRIPTION", FILE, None, "outside the package"),
            (
                "pkg/link",
                tar::EntryType::Symlink,
                Some("../../etc"),
                "links outside",
            ),
            (
                "pkg/abs",
                tar::EntryType::Symlink,
                Some("/etc/passwd"),
                "links outside",
            ),
        ];
        for (name, kind, link, expected) in cases {
            let path = tarball(
                dir.path(),
                &[
                    ("pkg/DESCRIPTION", FILE, b"Package: pkg\n", None),
                    (name, kind, b"", link),
                ],
            );
            let error = read(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{name}: {error}");
        }
    }

    #[test]
    fn links_inside_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let path = tarball(
            dir.path(),
            &[
                ("pkg/DESCRIPTION", FILE, b"Package: pkg\n", None),
                ("pkg/doc/x", tar::EntryType::Symlink, b"", Some("../R/pkg")),
            ],
        );
        assert!(read(&path).is_ok());
    }
}
