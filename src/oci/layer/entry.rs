//! What goes into a layer: plain data that installers (apt, pip, R) produce.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::oci::Digest;

/// One filesystem entry of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the image root, `/`-separated, e.g. `usr/bin/dot` (a leading `/` or
    /// `./` is accepted and removed; `..` and empty components are refused).
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits, setuid/setgid/sticky included (`0o7777` at most).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch; `None` means the source-date-epoch. Later times are
    /// clamped to the source-date-epoch.
    pub mtime: Option<i64>,
    /// Extended attributes (e.g. `security.capability`), only where a package carries them.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Directory,
    File(Content),
    /// `target` is stored as given (absolute targets are resolved inside the container).
    Symlink {
        target: String,
    },
    /// A second name for the regular file at `target` (a path of the same layer).
    HardLink {
        target: String,
    },
}

/// Where a file's bytes come from: small files in memory, large ones streamed from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Bytes(Vec<u8>),
    Path(PathBuf),
    /// A file that must hash to `digest` (a blob copied into an image archive): hashed
    /// as it is streamed, and a mismatch fails the write ([`super::LayerError::BlobMismatch`]).
    Blob {
        path: PathBuf,
        digest: Digest,
    },
}

impl Entry {
    fn new(path: &str, kind: EntryKind, mode: u32) -> Entry {
        Entry {
            path: path.to_string(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: None,
            xattrs: BTreeMap::new(),
        }
    }

    /// A directory owned by root.
    pub fn dir(path: &str, mode: u32) -> Entry {
        Entry::new(path, EntryKind::Directory, mode)
    }

    /// An overlay whiteout: `DIR/.wh.NAME` hides `DIR/NAME` of the layers below.
    pub fn whiteout(path: &str) -> Entry {
        let name = match path.rsplit_once('/') {
            Some((parent, name)) => format!("{parent}/.wh.{name}"),
            None => format!(".wh.{path}"),
        };
        Entry::file(&name, 0o644, Content::Bytes(Vec::new()))
    }

    /// Whether this entry is an overlay whiteout (see [`Entry::whiteout`]).
    pub fn is_whiteout(&self) -> bool {
        let name = self
            .path
            .rsplit_once('/')
            .map_or(self.path.as_str(), |(_, n)| n);
        name.starts_with(".wh.")
    }

    /// A regular file owned by root.
    pub fn file(path: &str, mode: u32, content: Content) -> Entry {
        Entry::new(path, EntryKind::File(content), mode)
    }

    /// A symbolic link (mode 0777, as Linux reports them).
    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::new(
            path,
            EntryKind::Symlink {
                target: target.to_string(),
            },
            0o777,
        )
    }

    /// A hard link to the regular file `target` of the same layer.
    pub fn hard_link(path: &str, target: &str) -> Entry {
        Entry::new(
            path,
            EntryKind::HardLink {
                target: target.to_string(),
            },
            0o644,
        )
    }

    pub fn owner(mut self, uid: u32, gid: u32) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, mtime: i64) -> Entry {
        self.mtime = Some(mtime);
        self
    }

    pub fn xattr(mut self, name: &str, value: &[u8]) -> Entry {
        self.xattrs.insert(name.to_string(), value.to_vec());
        self
    }
}
