//! Why a `.deb` could not become part of the apt layer.

use std::path::PathBuf;

use crate::image::ImageError;

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The file could not be read (I/O, or a compressed member that does not decompress).
    #[error(
        "cannot read the .deb of {package} ({}): {source}\n\
         help: the file passed its sha256 check, so it is the one the lock names; \
         check the disk, or delete it from the cache and build again",
        file.display()
    )]
    Read {
        package: String,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a Debian binary package as dpkg-deb writes them.
    #[error(
        "the .deb of {package} ({}) is not a Debian package rtlock can install: {problem}",
        file.display()
    )]
    NotADeb {
        package: String,
        file: PathBuf,
        problem: String,
    },
    /// The control file names another package, version or architecture than the lock
    /// entry whose sha256 the file matched.
    #[error(
        "the .deb locked as {package} {version} ({arch}) is {found}: its control file says so\n\
         help: the lock's url, sha256 and size name another package's file (it passed its \
         sha256 check, so the lock itself points at it); run `rtlock lock` to pin the real \
         {package}, and review where the lock was changed"
    )]
    NotTheLocked {
        package: String,
        version: String,
        arch: String,
        /// `PACKAGE VERSION (ARCH)` as the control file gives them.
        found: String,
    },
    /// A data entry that would land outside its place (absolute, `..`, or through a
    /// symlink another package of this install ships): refused, whatever dpkg would do.
    #[error(
        "the .deb of {package} has an unsafe entry `{entry}`: {reason}\n\
         help: this package cannot be installed by rtlock; remove it from the manifest \
         or report it to its maintainers"
    )]
    UnsafePath {
        package: String,
        entry: String,
        reason: String,
    },
    /// Large files are spooled to a temporary directory while the layer is made.
    #[error(
        "cannot spool the files of {package} into {}: {source}\n\
         help: check free space and permissions of the temporary directory (TMPDIR)",
        dir.display()
    )]
    Spool {
        package: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The base image's dpkg database could not be read.
    #[error("cannot read the base image's dpkg database: {0}")]
    Base(#[from] ImageError),
    /// A thread reading the debs panicked.
    #[error(transparent)]
    Task(#[from] crate::task::TaskFailed),
}
