//! One wheel, unzipped and checked: every file with its scheme directory, content
//! (in memory within a shared budget, else spooled to disk) and sha256; the
//! `.dist-info` directory's name and entry points.
//!
//! Refused, naming the wheel and the entry: paths that are absolute or climb with
//! `..`, symlinks (wheels have none), `.data/<key>/` keys other than the five the spec
//! names, a file whose sha256 differs from its RECORD row, and a wheel whose METADATA
//! names another distribution or version than its lock entry.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use pep440_rs::Version;
use sha2::{Digest as _, Sha256};

use super::target::SchemeKey;
use super::{InstallError, Wheel, record};
use crate::oci::layer::Content;

/// Files up to this size may stay in memory (while the [`Spool`]'s budget lasts).
const IN_MEMORY: u64 = 64 << 10;

/// Where file contents wait until the layer is written: memory up to a budget shared
/// by all wheels of the layer, then files in a temporary directory.
#[derive(Debug)]
pub struct Spool {
    pub dir: tempfile::TempDir,
    budget: AtomicI64,
}

impl Spool {
    /// A spool keeping at most `budget` bytes of contents in memory.
    pub fn new(budget: u64) -> std::io::Result<Spool> {
        Ok(Spool {
            dir: tempfile::Builder::new().prefix("rtlock-pip-").tempdir()?,
            budget: AtomicI64::new(budget as i64),
        })
    }

    fn take(&self, size: u64) -> bool {
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
}

/// A file of a wheel, ready to install.
#[derive(Debug, Clone)]
pub struct WheelFile {
    pub key: SchemeKey,
    /// Relative to the key's directory.
    pub path: String,
    pub content: Content,
    /// 0o755 when the zip says executable (as pip does), else 0o644.
    pub mode: u32,
    pub sha256: [u8; 32],
    pub size: u64,
}

/// A wheel read and checked.
#[derive(Debug, Clone)]
pub struct ReadWheel {
    /// `pandas-2.2.3.dist-info` (in purelib/platlib).
    pub dist_info: String,
    /// Every file except the wheel's own RECORD (rewritten on install), zip order.
    pub files: Vec<WheelFile>,
    /// `entry_points.txt`, when the wheel has one.
    pub entry_points: Option<String>,
}

/// Reads `wheel` (blocking), spooling contents into `spool`.
pub fn read(wheel: &Wheel, spool: &Spool) -> Result<ReadWheel, InstallError> {
    let corrupt = |problem: String| InstallError::Corrupt {
        package: wheel.name.clone(),
        wheel: wheel.filename.clone(),
        file: wheel.file.clone(),
        problem,
    };
    let unsafe_entry = |entry: &str, reason: &str| InstallError::UnsafeEntry {
        package: wheel.name.clone(),
        wheel: wheel.filename.clone(),
        entry: entry.to_string(),
        reason: reason.to_string(),
    };
    let file = File::open(&wheel.file).map_err(|e| corrupt(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| corrupt(format!("not a zip archive: {e}")))?;

    let names: Vec<String> = (0..zip.len())
        .map(|i| {
            let entry = zip.by_index(i).map_err(|e| corrupt(e.to_string()))?;
            entry
                .name()
                .map(|n| n.into_owned())
                .map_err(|e| corrupt(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let dist_info = find_dist_info(&names, wheel)
        .ok_or_else(|| corrupt("it has no `.dist-info` directory with a WHEEL file".to_string()))?;
    let data_dir = format!("{}.data", dist_info.trim_end_matches(".dist-info"));
    let record_name = format!("{dist_info}/RECORD");
    let read_small =
        |zip: &mut zip::ZipArchive<_>, name: &str| -> Result<Option<String>, InstallError> {
            let Some(index) = names.iter().position(|n| n == name) else {
                return Ok(None);
            };
            let mut entry = zip.by_index(index).map_err(|e| corrupt(e.to_string()))?;
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| corrupt(format!("{name}: {e}")))?;
            Ok(Some(text))
        };
    let metadata = read_small(&mut zip, &format!("{dist_info}/METADATA"))?
        .ok_or_else(|| corrupt(format!("it has no {dist_info}/METADATA")))?;
    check_identity(wheel, &metadata)?;
    let wheel_meta = read_small(&mut zip, &format!("{dist_info}/WHEEL"))?.unwrap_or_default();
    check_wheel_version(&wheel_meta).map_err(|e| corrupt(e.to_string()))?;
    let root_is_purelib = wheel_meta.lines().any(|l| {
        l.split_once(':')
            .is_some_and(|(k, v)| k.trim() == "Root-Is-Purelib" && v.trim() == "true")
    });
    let hashes = read_small(&mut zip, &record_name)?
        .map(|t| record::parse(&t))
        .unwrap_or_default();
    let entry_points = read_small(&mut zip, &format!("{dist_info}/entry_points.txt"))?;

    let root_key = if root_is_purelib {
        SchemeKey::Purelib
    } else {
        SchemeKey::Platlib
    };
    let mut out = ReadWheel {
        dist_info,
        files: Vec::new(),
        entry_points,
    };
    for (index, name) in names.iter().enumerate() {
        if *name == record_name {
            continue;
        }
        check_path(name).map_err(|reason| unsafe_entry(name, reason))?;
        let (key, path) = match name
            .strip_prefix(&data_dir)
            .and_then(|r| r.strip_prefix('/'))
        {
            Some("") => continue,
            Some(rest) => {
                let (key, path) = rest.split_once('/').unwrap_or((rest, ""));
                let key = SchemeKey::parse(key).ok_or_else(|| {
                    unsafe_entry(
                        name,
                        "`.data` may only hold purelib, platlib, scripts, headers and data",
                    )
                })?;
                (key, path.to_string())
            }
            None => (root_key, name.clone()),
        };
        let mut entry = zip.by_index(index).map_err(|e| corrupt(e.to_string()))?;
        let unix = entry.external_attributes() >> 16;
        if unix & 0o170000 == 0o120000 {
            return Err(unsafe_entry(
                name,
                "a symbolic link (wheels hold only files)",
            ));
        }
        let path = path.trim_end_matches('/').to_string();
        // pip creates directories only for the files in them.
        if entry.is_dir() {
            continue;
        }
        if path.is_empty() {
            return Err(unsafe_entry(name, "a file in place of a `.data` directory"));
        }
        // pip: executable when the zip's mode is a regular file with an x bit.
        let mode = if unix & 0o170000 == 0o100000 && unix & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        let size = entry.size();
        let (content, sha256, size) = if spool.take(size) || key == SchemeKey::Scripts {
            let mut bytes = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| corrupt(format!("{name}: {e}")))?;
            let sha256: [u8; 32] = Sha256::digest(&bytes).into();
            let len = bytes.len() as u64;
            (Content::Bytes(bytes), sha256, len)
        } else {
            spool_file(&mut entry, spool.dir.path(), wheel, name)?
        };
        if let Some((algorithm, expected)) = hashes.get(name) {
            let actual = record::encode_sha256(&sha256);
            let actual = actual.trim_start_matches("sha256=");
            if algorithm == "sha256" && expected != actual {
                return Err(InstallError::HashMismatch {
                    package: wheel.name.clone(),
                    wheel: wheel.filename.clone(),
                    entry: name.clone(),
                    expected: expected.clone(),
                    actual: actual.to_string(),
                });
            }
        }
        out.files.push(WheelFile {
            key,
            path,
            content,
            mode,
            sha256,
            size,
        });
    }
    Ok(out)
}

/// The `NAME-VERSION.dist-info` holding `WHEEL`: the one named like the project when
/// there are several.
fn find_dist_info(names: &[String], wheel: &Wheel) -> Option<String> {
    let mut found: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_suffix("/WHEEL"))
        .filter(|d| d.ends_with(".dist-info") && !d.contains('/'))
        .collect();
    found.sort_unstable();
    let wanted = normalize(&wheel.name);
    found
        .iter()
        .find(|d| {
            d.rsplit_once('-')
                .is_some_and(|(name, _)| normalize(name) == wanted)
        })
        .or(found.first())
        .map(|d| d.to_string())
}

/// PEP 503 normalized name.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if matches!(c, '_' | '.' | '-') {
            '-'
        } else {
            c.to_ascii_lowercase()
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out
}

/// The wheel is the distribution its lock entry names: METADATA's `Name` (PEP 503
/// normalized) and `Version` (PEP 440 equality) are the entry's. The sha256 only proves
/// the file is the one the lock points at, not that the lock points at the right file.
fn check_identity(wheel: &Wheel, metadata: &str) -> Result<(), InstallError> {
    let headers = crate::pip::index::core_metadata::headers(metadata);
    let header = |key: &str| {
        headers
            .iter()
            .find(|(_, k, _)| k.eq_ignore_ascii_case(key))
            .map_or_else(String::new, |(_, _, v)| v.trim().to_string())
    };
    let (name, version) = (header("Name"), header("Version"));
    let same_version = match (
        Version::from_str(&version),
        Version::from_str(&wheel.version),
    ) {
        (Ok(found), Ok(locked)) => found == locked,
        _ => version == wheel.version,
    };
    if normalize(&name) == normalize(&wheel.name) && same_version {
        return Ok(());
    }
    Err(InstallError::NotTheLocked {
        package: wheel.name.clone(),
        version: wheel.version.clone(),
        wheel: wheel.filename.clone(),
        found: format!("{name} {version}"),
    })
}

/// Wheel-Version 1.x is what this installer understands (a 2.x wheel changes the
/// format; pip refuses it too).
fn check_wheel_version(wheel_meta: &str) -> Result<(), WheelVersionError> {
    let version = wheel_meta.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim() == "Wheel-Version")
            .map(|(_, v)| v.trim().to_string())
    });
    match version {
        Some(v) if v.split('.').next() == Some("1") => Ok(()),
        Some(v) => Err(WheelVersionError::Unsupported(v)),
        None => Err(WheelVersionError::Missing),
    }
}

/// A wheel format this installer does not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum WheelVersionError {
    #[error("its Wheel-Version {0} is not 1.x")]
    Unsupported(String),
    #[error("its WHEEL file has no Wheel-Version")]
    Missing,
}

/// Refuses a zip name that would leave the directory it is installed into.
fn check_path(name: &str) -> Result<(), &'static str> {
    if name.starts_with('/') || name.starts_with('\\') {
        return Err("an absolute path");
    }
    if name.contains('\0') {
        return Err("a NUL byte in the path");
    }
    if name.split(['/', '\\']).any(|part| part == "..") {
        return Err("a `..` component escapes the install directory");
    }
    Ok(())
}

/// Streams one zip entry into a file of the spool, hashing it on the way.
fn spool_file(
    entry: &mut impl Read,
    dir: &Path,
    wheel: &Wheel,
    name: &str,
) -> Result<(Content, [u8; 32], u64), InstallError> {
    let spool_error = |source| InstallError::Spool {
        wheel: wheel.filename.clone(),
        dir: dir.to_path_buf(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .tempfile_in(dir)
        .map_err(spool_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 << 10];
    let mut size = 0u64;
    loop {
        let n = entry.read(&mut buffer).map_err(|e| InstallError::Corrupt {
            package: wheel.name.clone(),
            wheel: wheel.filename.clone(),
            file: wheel.file.clone(),
            problem: format!("{name}: {e}"),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(spool_error)?;
        size += n as u64;
    }
    // Kept until the spool directory goes: the layer writer reads it by path.
    let (_, path) = file.keep().map_err(|e| spool_error(e.error))?;
    Ok((Content::Path(path), hasher.finalize().into(), size))
}

/// The wheels read on every core (decompression and hashing are the work), in order.
pub fn read_all(wheels: &[Wheel], spool: &Spool) -> Result<Vec<ReadWheel>, InstallError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    crate::task::parallel_map(
        "a wheel reader",
        wheels.iter().collect(),
        threads,
        |wheel| read(wheel, spool),
    )?
    .into_iter()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use zip::write::SimpleFileOptions;

    /// A small wheel written here: a package, an executable data script with a
    /// `#!python` shebang, and RECORD rows for all (`extra` entries appended as given).
    fn write_wheel(dir: &Path, extra: &[(&str, &[u8])], bad_hash: bool) -> Wheel {
        let path = dir.join("demo-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let mut files: Vec<(&str, &[u8], u32)> = vec![
            ("demo/__init__.py", b"VALUE = 1\n", 0o644),
            ("demo-1.0.data/scripts/tool", b"#!python\nprint(1)\n", 0o755),
            (
                "demo-1.0.dist-info/WHEEL",
                b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
                0o644,
            ),
            (
                "demo-1.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nName: Demo\nVersion: 1.0.0\n\nName: not-this\n",
                0o644,
            ),
            (
                "demo-1.0.dist-info/entry_points.txt",
                b"[console_scripts]\ndemo = demo:main\n",
                0o644,
            ),
        ];
        files.extend(extra.iter().map(|(n, b)| (*n, *b, 0o644)));
        let mut record = String::new();
        for (name, bytes, mode) in &files {
            let digest = Sha256::digest(if bad_hash { b"other".as_slice() } else { bytes });
            record.push_str(&format!(
                "{name},sha256={},{}\n",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
                bytes.len()
            ));
            zip.start_file(*name, SimpleFileOptions::default().unix_permissions(*mode))
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        record.push_str("demo-1.0.dist-info/RECORD,,\n");
        zip.start_file("demo-1.0.dist-info/RECORD", SimpleFileOptions::default())
            .unwrap();
        zip.write_all(record.as_bytes()).unwrap();
        zip.finish().unwrap();
        Wheel {
            name: "demo".into(),
            version: "1.0".into(),
            filename: "demo-1.0-py3-none-any.whl".into(),
            file: path,
            requested: true,
        }
    }

    #[test]
    fn only_wheel_version_1_is_read() {
        assert_eq!(check_wheel_version("Wheel-Version: 1.0\nTag: x\n"), Ok(()));
        let e = check_wheel_version("Wheel-Version: 2.0\n").unwrap_err();
        assert_eq!(e.to_string(), "its Wheel-Version 2.0 is not 1.x");
        let e = check_wheel_version("Generator: x\n").unwrap_err();
        assert_eq!(e, WheelVersionError::Missing);
        assert_eq!(e.to_string(), "its WHEEL file has no Wheel-Version");
    }

    #[test]
    fn reads_files_keys_modes_and_entry_points() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::new(1 << 20).unwrap();
        let read = read(&write_wheel(dir.path(), &[], false), &spool).unwrap();
        assert_eq!(read.dist_info, "demo-1.0.dist-info");
        assert!(read.entry_points.unwrap().contains("demo = demo:main"));
        let find = |path: &str| read.files.iter().find(|f| f.path == path).unwrap();
        assert_eq!(find("demo/__init__.py").key, SchemeKey::Purelib);
        assert_eq!(find("demo/__init__.py").mode, 0o644);
        let tool = find("tool");
        assert_eq!((tool.key, tool.mode), (SchemeKey::Scripts, 0o755));
        assert!(!read.files.iter().any(|f| f.path.ends_with("RECORD")));
    }

    #[test]
    fn refuses_a_wheel_that_is_not_the_locked_distribution() {
        let spool = Spool::new(1 << 20).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // `Demo 1.0.0` in METADATA is `demo 1.0` (PEP 503 name, PEP 440 version).
        let wheel = write_wheel(dir.path(), &[], false);
        assert!(read(&wheel, &spool).is_ok());
        for (name, version) in [("six", "1.0"), ("demo", "1.1")] {
            let locked = Wheel {
                name: name.into(),
                version: version.into(),
                ..wheel.clone()
            };
            let err = read(&locked, &spool).unwrap_err();
            assert!(matches!(err, InstallError::NotTheLocked { .. }), "{err}");
            let shown = err.to_string();
            assert!(
                shown.contains(&format!("locked as {name} {version} is Demo 1.0.0")),
                "{shown}"
            );
        }
    }

    #[test]
    fn refuses_bad_hashes_escaping_paths_and_unknown_data_keys() {
        let spool = Spool::new(0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = read(&write_wheel(dir.path(), &[], true), &spool).unwrap_err();
        assert!(matches!(err, InstallError::HashMismatch { .. }), "{err}");
        assert!(
            err.to_string().contains("demo-1.0-py3-none-any.whl"),
            "{err}"
        );
        for (entry, reason) in [
            ("../evil.py", "escapes"),
            ("demo-1.0.data/lib/x.py", "purelib, platlib"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let err = read(&write_wheel(dir.path(), &[(entry, b"x")], false), &spool)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("`{entry}`")) && err.contains(reason),
                "{err}"
            );
        }
        assert_eq!(normalize("Python_Dateutil"), "python-dateutil");
        assert_eq!(normalize("a.-_b"), "a-b");
    }
}
