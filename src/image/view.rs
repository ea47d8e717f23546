//! A merged filesystem stored in one file: every path's metadata (kind, mode, size,
//! symlink target) and the whole content of the files a [`Keep`] predicate chose.
//!
//! Reading an image's layers means inflating and walking every tar of it: about a
//! second of CPU for a runtime base image, every time. A reader that needs only the
//! path tree and a few small files (the apt installer: merged-/usr symlinks, which
//! directories exist, the dpkg database) can read this instead, in milliseconds. The
//! content of any other file is not in it, and [`read`] gives a [`RootFs`] that says so
//! when asked for one (it has no layers to fall back on).
//!
//! # Format
//!
//! All numbers little-endian; strings are a `u32` length and UTF-8 bytes.
//!
//! ```text
//! MAGIC  version:u32  count:u64
//! count × { path:str  kind:u8  mode:u32  size:u64  flags:u8
//!           [link:str   when flags & LINK]
//!           [size bytes when flags & CONTENT] }
//! sha256 of everything above (32 bytes)
//! ```
//!
//! The trailing hash makes a damaged file (truncated, or changed on disk) an error
//! rather than a wrong filesystem; a cache holding one reads the layers again.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::ImageError;
use super::rootfs::{Keep, Kind, MAX_KEPT, Node, RootFs};

const MAGIC: &[u8] = b"rtlock-rootfs-view\n";

/// Bump when the encoding changes.
const VERSION: u32 = 1;

/// `flags`: a symlink target follows.
const LINK: u8 = 1;
/// `flags`: the file's content follows.
const CONTENT: u8 = 2;

const HASH_LEN: usize = 32;

/// One stored path, as [`RootFs::from_nodes`] takes it.
type StoredNode = (String, Node, Option<Box<[u8]>>);

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The stored bytes are not a view this version of rtlock wrote.
    #[error("{origin} is not a usable filesystem view: {problem}")]
    Damaged { origin: String, problem: Damage },
    /// The filesystem to store was read without keeping a file the view must hold.
    #[error(
        "/{path}: its content was not kept when the layers were read, so a view of them \
         cannot hold it (the layers were read with another keep predicate)"
    )]
    NotKept { path: String },
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// What is wrong with stored bytes that are not a view (see [`ViewError::Damaged`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    #[error("only {0} bytes long")]
    TooShort(usize),
    #[error("its content does not match its hash")]
    Hash,
    #[error("it does not start as a view does")]
    Magic,
    #[error("version {0}, this rtlock reads version {VERSION}")]
    Version(u32),
    #[error("{bytes} bytes after its {count} paths")]
    Trailing { bytes: usize, count: u64 },
    #[error("it ends {0} bytes short of a field")]
    Truncated(usize),
    #[error("a path that is not UTF-8")]
    NotUtf8,
    #[error("/{path} has the unknown kind {kind}")]
    UnknownKind { path: String, kind: u8 },
    #[error("/{path} has the unknown flags {flags:#x}")]
    UnknownFlags { path: String, flags: u8 },
    #[error("/{path} is too large")]
    TooLarge { path: String },
}

/// `rootfs` as view bytes: every node, and the content of each regular file `keep`
/// selects (which `rootfs` must have kept whole).
pub fn encode(
    rootfs: &RootFs,
    keep: &dyn Fn(&str, u64) -> Option<Keep>,
) -> Result<Vec<u8>, ViewError> {
    let mut out = Vec::with_capacity(64 * rootfs.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(rootfs.len() as u64).to_le_bytes());
    for (path, node) in rootfs.paths() {
        let content = if node.kind == Kind::File
            && node.size <= MAX_KEPT
            && keep(path, node.size).is_some()
        {
            let bytes = node.kept().ok_or_else(|| ViewError::NotKept {
                path: path.to_string(),
            })?;
            Some(bytes)
        } else {
            None
        };
        put_str(&mut out, path);
        out.push(kind_code(node.kind));
        out.extend_from_slice(&node.mode.to_le_bytes());
        out.extend_from_slice(&node.size.to_le_bytes());
        let flags = if node.link.is_some() { LINK } else { 0 }
            | if content.is_some() { CONTENT } else { 0 };
        out.push(flags);
        if let Some(link) = &node.link {
            put_str(&mut out, link);
        }
        if let Some(bytes) = content {
            out.extend_from_slice(bytes);
        }
    }
    let hash = Sha256::digest(&out);
    out.extend_from_slice(&hash);
    Ok(out)
}

/// The filesystem stored in `bytes`; `origin` names them in errors.
pub fn decode(bytes: &[u8], origin: &str) -> Result<RootFs, ViewError> {
    let damaged = |problem: Damage| ViewError::Damaged {
        origin: origin.to_string(),
        problem,
    };
    let body_len = bytes
        .len()
        .checked_sub(HASH_LEN)
        .ok_or_else(|| damaged(Damage::TooShort(bytes.len())))?;
    let (body, hash) = bytes.split_at(body_len);
    if Sha256::digest(body).as_slice() != hash {
        return Err(damaged(Damage::Hash));
    }
    let mut cursor = Cursor { rest: body };
    let magic = cursor.take(MAGIC.len()).map_err(damaged)?;
    if magic != MAGIC {
        return Err(damaged(Damage::Magic));
    }
    let version = cursor.u32().map_err(damaged)?;
    if version != VERSION {
        return Err(damaged(Damage::Version(version)));
    }
    let count = cursor.u64().map_err(damaged)?;
    let mut nodes = Vec::new();
    for _ in 0..count {
        nodes.push(cursor.node().map_err(damaged)?);
    }
    if !cursor.rest.is_empty() {
        return Err(damaged(Damage::Trailing {
            bytes: cursor.rest.len(),
            count,
        }));
    }
    Ok(RootFs::from_nodes(nodes, origin)?)
}

/// The view stored at `path`.
pub fn read(path: &Path) -> Result<RootFs, ViewError> {
    let bytes = std::fs::read(path).map_err(|source| ViewError::Io {
        what: "cannot read the filesystem view",
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes, &format!("the filesystem view {}", path.display()))
}

/// Stores the view of `rootfs` (see [`encode`]) at `path`, atomically: a reader sees
/// the whole file or none.
pub fn write(
    path: &Path,
    rootfs: &RootFs,
    keep: &dyn Fn(&str, u64) -> Option<Keep>,
) -> Result<(), ViewError> {
    let bytes = encode(rootfs, keep)?;
    let io = |source| ViewError::Io {
        what: "cannot write the filesystem view",
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    crate::atomic_file::write(path, &bytes).map_err(io)
}

fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::File => 0,
        Kind::Dir => 1,
        Kind::Symlink => 2,
        Kind::Other => 3,
    }
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Reads the body of a view front to back; errors say what was cut short.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Damage> {
        if self.rest.len() < n {
            return Err(Damage::Truncated(n - self.rest.len()));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Damage> {
        Ok(self.take(N)?.try_into().expect("take gives N bytes"))
    }

    fn u32(&mut self) -> Result<u32, Damage> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, Damage> {
        self.array().map(u64::from_le_bytes)
    }

    fn str(&mut self) -> Result<String, Damage> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Damage::NotUtf8)
    }

    fn node(&mut self) -> Result<StoredNode, Damage> {
        let path = self.str()?;
        let kind = match self.array::<1>()?[0] {
            0 => Kind::File,
            1 => Kind::Dir,
            2 => Kind::Symlink,
            3 => Kind::Other,
            kind => return Err(Damage::UnknownKind { path, kind }),
        };
        let mode = self.u32()?;
        let size = self.u64()?;
        let flags = self.array::<1>()?[0];
        if flags & !(LINK | CONTENT) != 0 {
            return Err(Damage::UnknownFlags { path, flags });
        }
        let link = if flags & LINK != 0 {
            Some(self.str()?.into_boxed_str())
        } else {
            None
        };
        let content = if flags & CONTENT != 0 {
            let Ok(len) = usize::try_from(size) else {
                return Err(Damage::TooLarge { path });
            };
            Some(self.take(len)?.into())
        } else {
            None
        };
        Ok((path, Node::described(kind, mode, size, link), content))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-layer filesystem: a merged-/usr symlink, a directory, a kept file, a file
    /// that is not kept, a hard link to the kept one.
    fn sample(dir: &Path) -> RootFs {
        let path = dir.join("layer.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut add = |name: &str, kind: tar::EntryType, mode: u32, data: &[u8], link: &str| {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_size(data.len() as u64);
            if !link.is_empty() {
                header.set_link_name(link).unwrap();
            }
            tar.append_data(&mut header, name, data).unwrap();
        };
        add("usr/bin/", tar::EntryType::Directory, 0o755, b"", "");
        add("bin", tar::EntryType::Symlink, 0o777, b"", "usr/bin");
        add("etc/kept", tar::EntryType::Regular, 0o644, b"kept\n", "");
        add("usr/bin/tool", tar::EntryType::Regular, 0o4755, b"#!", "");
        add("etc/also", tar::EntryType::Link, 0o600, b"", "etc/kept");
        tar.into_inner().unwrap();
        RootFs::read_tar(&path, &keep).unwrap()
    }

    fn keep(path: &str, _size: u64) -> Option<Keep> {
        path.starts_with("etc/").then_some(Keep::Whole)
    }

    #[test]
    fn round_trips_metadata_and_kept_content() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = sample(dir.path());
        let view = decode(&encode(&rootfs, &keep).unwrap(), "test").unwrap();
        let describe = |fs: &RootFs| -> Vec<_> {
            fs.paths()
                .map(|(p, n)| {
                    let kept = n.kept().map(<[u8]>::to_vec);
                    (p.to_string(), n.kind, n.mode, n.size, n.link.clone(), kept)
                })
                .collect()
        };
        assert_eq!(describe(&view), describe(&rootfs));
        assert_eq!(view.resolve("bin/tool").unwrap(), "usr/bin/tool");
        assert_eq!(view.read_file("etc/also").unwrap().unwrap(), b"kept\n");
    }

    #[test]
    fn content_not_kept_is_an_error_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let view = decode(&encode(&sample(dir.path()), &keep).unwrap(), "test").unwrap();
        let err = view.read_file("bin/tool").unwrap_err().to_string();
        assert!(
            err.contains("/usr/bin/tool") && err.contains("test"),
            "{err}"
        );
    }

    #[test]
    fn a_file_the_predicate_wants_but_the_rootfs_did_not_keep_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = sample(dir.path());
        let all = |_: &str, _: u64| Some(Keep::Whole);
        let err = encode(&rootfs, &all).unwrap_err();
        assert!(matches!(&err, ViewError::NotKept { path } if path == "usr/bin/tool"));
    }

    #[test]
    fn damaged_bytes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = encode(&sample(dir.path()), &keep).unwrap();
        let mut flipped = good.clone();
        flipped[MAGIC.len() + 20] ^= 1;
        let cases = [
            ("truncated", good[..good.len() - 1].to_vec(), Damage::Hash),
            ("flipped", flipped, Damage::Hash),
            ("empty", Vec::new(), Damage::TooShort(0)),
        ];
        for (what, bytes, wanted) in cases {
            let err = decode(&bytes, "test").err();
            assert!(
                matches!(&err, Some(ViewError::Damaged { problem, .. }) if *problem == wanted),
                "{what}: {err:?}"
            );
        }
    }

    /// A body cut inside a field, with a hash that matches what is left: the cursor says
    /// how much is missing.
    #[test]
    fn a_body_cut_short_with_a_good_hash_says_how_short() {
        let dir = tempfile::tempdir().unwrap();
        let good = encode(&sample(dir.path()), &keep).unwrap();
        // The magic, the version, and 3 of the count's 8 bytes.
        let mut body = good[..MAGIC.len() + 4 + 3].to_vec();
        let hash = Sha256::digest(&body);
        body.extend_from_slice(&hash);
        let err = decode(&body, "the view V").unwrap_err();
        assert!(
            matches!(
                &err,
                ViewError::Damaged {
                    problem: Damage::Truncated(5),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "the view V is not a usable filesystem view: it ends 5 bytes short of a field"
        );
    }

    #[test]
    fn another_version_is_refused_even_with_a_good_hash() {
        let dir = tempfile::tempdir().unwrap();
        let good = encode(&sample(dir.path()), &keep).unwrap();
        let mut body = good[..good.len() - HASH_LEN].to_vec();
        body[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&(VERSION + 1).to_le_bytes());
        let hash = Sha256::digest(&body);
        body.extend_from_slice(&hash);
        let err = decode(&body, "test").unwrap_err().to_string();
        assert!(err.contains("version"), "{err}");
    }
}
