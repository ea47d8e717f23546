//! Replacing files atomically: write a temporary file in the same directory, flush it to
//! disk, then rename it over the target. Readers see the old file or the new one, never a
//! half-written one, and an interrupted write leaves the old file untouched.
//!
//! A writer only replaces what is its own to replace: a regular file, or nothing. A
//! device, fifo, socket or directory at the path is refused (renaming over `/dev/null`
//! as root would leave a regular file where the device was). A symlink is followed to
//! its final target, and that target is replaced, so a lock kept elsewhere and linked
//! into a project stays linked.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Symlink hops followed before giving up, as the kernel's own limit (ELOOP).
const MAX_SYMLINK_HOPS: usize = 40;

/// Writes `bytes` to `path` atomically (see the module documentation).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, |out| out.write_all(bytes))
}

/// Replaces `path` (through symlinks) with what `fill` writes, atomically. `fill` gets a
/// buffered writer to a temporary file in the target's directory; the file is renamed
/// into place only when `fill`, the flush and the sync all succeed.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let target = replaceable_target(path)?;
    let tmp = tempfile::Builder::new()
        .prefix(".rtlock-")
        .suffix(".tmp")
        .tempfile_in(parent_dir(&target))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, tmp);
    fill(&mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.as_file().sync_all()?;
    // Keep the permissions an existing file had (a lock checked out read-only stays so).
    if let Ok(meta) = std::fs::metadata(&target) {
        tmp.as_file().set_permissions(meta.permissions())?;
    } else {
        set_readable(tmp.as_file())?;
    }
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// The file a write to `path` replaces: `path` itself, or the final target of the
/// symlinks it names. Refused (with [`NotARegularFile`] inside the error) when something
/// other than a regular file is there. Nothing is created or changed.
pub fn replaceable_target(path: &Path) -> std::io::Result<PathBuf> {
    let target = final_target(path)?;
    match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_file() => Ok(target),
        Ok(meta) => Err(std::io::Error::other(NotARegularFile {
            path: path.to_path_buf(),
            target,
            kind: file_kind(&meta.file_type()),
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(target),
        Err(e) => Err(e),
    }
}

/// Whether `a` and `b` name the same existing file (through symlinks and hard links).
#[cfg(unix)]
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Something other than a regular file is where a file was to be written.
#[derive(Debug)]
pub(crate) struct NotARegularFile {
    /// The path as given.
    pub path: PathBuf,
    /// Where its symlinks lead (the path itself when it is not a symlink).
    pub target: PathBuf,
    pub kind: &'static str,
}

impl fmt::Display for NotARegularFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is a {}", self.target.display(), self.kind)?;
        if self.target != self.path {
            write!(f, " (the symlink {} leads there)", self.path.display())?;
        }
        write!(
            f,
            ", not a regular file: rtlock writes only over a regular file or nothing\n\
             help: choose another path, or remove what is there first"
        )
    }
}

impl std::error::Error for NotARegularFile {}

/// Follows the symlinks of `path` (the last component only; directories are resolved
/// by the kernel) to the path that is not a symlink, whether or not it exists.
fn final_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = parent_dir(&current).join(link);
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other(format!(
        "{}: more than {MAX_SYMLINK_HOPS} symlinks, or a symlink loop",
        path.display()
    )))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_fifo() {
        "fifo (named pipe)"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn file_kind(file_type: &std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// tempfile creates files 0600; a lock, layout or cached blob should be readable like any
/// file the user creates (0644 under the usual umask), and cache blobs are hard-linked
/// into layouts others read.
#[cfg(unix)]
pub fn set_readable(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
pub fn set_readable(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime.lock");
        super::write(&path, b"one").unwrap();
        super::write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names(dir.path()), vec!["runtime.lock"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("requirements.txt");
        std::fs::write(&path, b"old").unwrap();
        let error = super::write_with(&path, |out| {
            out.write_all(b"half of the new")?;
            Err(std::io::ErrorKind::StorageFull.into())
        })
        .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), vec!["requirements.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn writes_through_symlinks_to_their_final_target() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("real");
        std::fs::create_dir(&real_dir).unwrap();
        let target = real_dir.join("runtime.lock");
        std::fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink("real/runtime.lock", dir.path().join("hop")).unwrap();
        std::os::unix::fs::symlink("hop", dir.path().join("runtime.lock")).unwrap();

        super::write(&dir.path().join("runtime.lock"), b"new").unwrap();

        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let link = std::fs::symlink_metadata(dir.path().join("runtime.lock")).unwrap();
        assert!(link.file_type().is_symlink(), "the link stays a link");
        assert_eq!(names(&real_dir), vec!["runtime.lock"], "no temporary left");
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_creates_its_target() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("elsewhere.lock", dir.path().join("runtime.lock")).unwrap();
        super::write(&dir.path().join("runtime.lock"), b"new").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("elsewhere.lock")).unwrap(),
            b"new"
        );
    }

    #[test]
    fn refuses_a_directory_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("runtime.lock");
        std::fs::create_dir(&sub).unwrap();
        let error = super::write(&sub, b"x").unwrap_err();
        assert!(error.to_string().contains("is a directory"), "{error}");
        assert!(sub.is_dir());
        assert_eq!(names(dir.path()), vec!["runtime.lock"]);
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_symlink_loop() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        let error = super::write(&dir.path().join("a"), b"x").unwrap_err();
        assert!(error.to_string().contains("symlink loop"), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn same_file_sees_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        std::fs::write(&a, b"x").unwrap();
        std::fs::hard_link(&a, dir.path().join("hard")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("soft")).unwrap();
        std::fs::write(dir.path().join("other"), b"x").unwrap();
        assert!(super::same_file(&a, &dir.path().join("hard")));
        assert!(super::same_file(&a, &dir.path().join("soft")));
        assert!(!super::same_file(&a, &dir.path().join("other")));
        assert!(!super::same_file(&a, &dir.path().join("missing")));
    }
}
