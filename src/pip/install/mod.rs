//! The wheel installer: the lock's wheels, verified, become the entries of one layer
//! on the base image, as `pip install --no-deps --no-compile` run as root would leave
//! them (the binary distribution format, PEP 427/491).
//!
//! - [`target`]: where files go, from the base's own `python3` (its purelib, which is
//!   also its platlib on the layouts rtlock knows, `<prefix>/bin` for scripts).
//! - [`wheel`]: one wheel unzipped and checked (RECORD hashes, paths that stay inside
//!   their scheme directory, `.data` keys), file contents spooled to disk past a memory
//!   budget so memory does not grow with wheel size.
//! - [`scripts`]: console-script wrappers and `#!python` shebangs, as pip writes them.
//! - [`record`]: RECORD rows (sha256 in urlsafe base64, paths relative to site-packages).
//! - [`layer`]: the wheels together: conflicts, the installed `RECORD`, `INSTALLER`,
//!   `REQUESTED`, parent directories, and whiteouts for a base distribution a wheel
//!   replaces (as pip uninstalls before installing).
//!
//! No bytecode is written: the layer holds no `.pyc` (Python compiles on first import,
//! into `__pycache__` when the directory is writable).

pub mod layer;
pub mod record;
pub mod scripts;
pub mod target;
pub mod wheel;

use std::path::PathBuf;

pub use layer::{PipLayer, base_keep, make_layer};
pub use target::Target;

/// What rtlock writes into each installed distribution's `INSTALLER`.
pub const INSTALLER: &str = "rtlock";

/// A verified wheel of the lock, with what the lock says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wheel {
    /// The project name as the lock writes it.
    pub name: String,
    pub version: String,
    /// The wheel's file name (`pandas-2.2.3-cp311-…whl`), for messages.
    pub filename: String,
    /// The verified file (in the fetch cache).
    pub file: PathBuf,
    /// Asked for by the manifest (gets a `REQUESTED` file, as pip does for what the
    /// user named).
    pub requested: bool,
}

/// Why the wheels could not become a layer.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "the base image has no `python3` interpreter (looked in /usr/local/bin, /usr/bin, /bin, \
         /opt/conda/bin{after_apt})\n\
         help: use a base image with Python, or add python3 to the manifest's [apt] packages"
    )]
    NoInterpreter { after_apt: &'static str },
    #[error(
        "the interpreter {interpreter} of the base image has a site-packages directory rtlock \
         does not understand: {purelib}"
    )]
    Scheme {
        interpreter: String,
        purelib: String,
    },
    #[error(
        "cannot read the wheel {wheel} of {package} ({}): {problem}\n\
         help: the file passed its sha256 check, so it is the one the lock names; if the \
         index serves a broken wheel, pin another version",
        file.display()
    )]
    Corrupt {
        package: String,
        wheel: String,
        file: PathBuf,
        problem: String,
    },
    #[error(
        "the wheel {wheel} of {package} has an unsafe entry `{entry}`: {reason}\n\
         help: this wheel cannot be installed; pin another version or report it to the \
         project's maintainers"
    )]
    UnsafeEntry {
        package: String,
        wheel: String,
        entry: String,
        reason: String,
    },
    #[error(
        "the wheel {wheel} of {package}: `{entry}` does not match its RECORD hash \
         (RECORD says sha256={expected}, the file has sha256={actual})\n\
         help: the wheel is damaged or was altered after it was built; pin another version"
    )]
    HashMismatch {
        package: String,
        wheel: String,
        entry: String,
        expected: String,
        actual: String,
    },
    #[error(
        "the wheel {wheel} locked as {package} {version} is {found}: its METADATA says so\n\
         help: the lock's url, sha256 and size name another distribution's file (it passed \
         its sha256 check, so the lock itself points at it); run `rtlock lock` to pin the \
         real {package}, and review where the lock was changed"
    )]
    NotTheLocked {
        package: String,
        version: String,
        wheel: String,
        /// `NAME VERSION` as the wheel's METADATA gives them.
        found: String,
    },
    #[error(
        "two wheels install the same file /{path}: {first} and {second}\n\
         help: remove one of the two packages from the manifest"
    )]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    #[error(
        "cannot spool the files of the wheel {wheel} into {}: {source}\n\
         help: check free space and permissions of the temporary directory (TMPDIR)",
        dir.display()
    )]
    Spool {
        wheel: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the base image's Python installation: {0}")]
    Base(#[from] crate::image::ImageError),
    /// A thread reading the wheels panicked.
    #[error(transparent)]
    Task(#[from] crate::task::TaskFailed),
}
