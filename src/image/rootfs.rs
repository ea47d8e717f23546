//! An image's final filesystem, merged from its layers: a path index, plus the contents
//! of the files the caller asked for.
//!
//! # One pass, no extraction
//!
//! [`RootFs::read`] streams each layer once, bottom first, and applies it to an index of
//! paths the way an overlay filesystem stacks layers:
//!
//! - `DIR/.wh.NAME` (a whiteout) deletes `DIR/NAME` and everything under it from the
//!   layers below; `DIR/.wh..wh..opq` (an opaque directory) deletes everything under
//!   `DIR` that came from the layers below. Neither marker appears in the result.
//! - A non-directory replacing a directory deletes what was under it.
//! - A hard link becomes a regular file sharing its target's data (the target must
//!   already exist, in the same layer or a lower one).
//!
//! The index holds metadata only. File contents are kept for the paths a [`Keep`]
//! predicate selects (os-release, the dpkg database, package metadata: small text), so
//! memory grows with the number of paths, never with the size of a layer or a file.
//! A file that was not kept can still be read: [`RootFs::read_file`] then streams its
//! layer again up to that entry.
//!
//! # Containment
//!
//! Entries are checked as they are read: a path with a `..` component or an absolute
//! path is an error naming the layer and the entry, since no legitimate layer has one
//! and extracting tools disagree on what it means. Symbolic links are resolved by
//! [`RootFs::resolve`] as if the image root were `/` (as `chroot`, or `openat2` with
//! `RESOLVE_IN_ROOT`, does): an absolute target starts at the image root and `..` at
//! the root stays at the root. Since nothing is ever read from the host filesystem, no
//! link, however crafted, can make a read leave the image.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::ImageError;
use super::layer::LayerBlob;
use crate::progress::Progress;

/// What kind of file a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// Devices, FIFOs.
    Other,
}

/// What to keep of a file's content while the layers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The whole file (up to [`MAX_KEPT`]).
    Whole,
    /// Only the header block: up to the first empty line (RFC 822-style metadata such
    /// as a Python distribution's `METADATA`, whose description can be long).
    Headers,
    /// No content, only its MD5 and SHA-256, computed as the entry streams by (what
    /// `audit` compares with dpkg's md5sums, pip's RECORD and R's MD5 files). Any size.
    Digests,
}

/// A file's digests, as [`Keep::Digests`] computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigests {
    pub md5: [u8; 16],
    pub sha256: [u8; 32],
}

impl FileDigests {
    pub fn of(bytes: &[u8]) -> FileDigests {
        use sha2::Digest as _;
        FileDigests {
            md5: md5::Md5::digest(bytes).into(),
            sha256: sha2::Sha256::digest(bytes).into(),
        }
    }

    /// Both digests of everything `reader` yields.
    fn of_reader(reader: &mut (impl Read + ?Sized)) -> io::Result<FileDigests> {
        use sha2::Digest as _;
        let (mut md5, mut sha256) = (md5::Md5::new(), sha2::Sha256::new());
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = reader.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            md5.update(&chunk[..n]);
            sha256.update(&chunk[..n]);
        }
        Ok(FileDigests {
            md5: md5.finalize().into(),
            sha256: sha256.finalize().into(),
        })
    }
}

/// The predicate of [`RootFs::read`]: what to keep of the file at a path of a size.
/// `Sync`, since the layers are read on several threads.
pub type KeepFn<'a> = dyn Fn(&str, u64) -> Option<Keep> + Sync + 'a;

/// The largest file whose content is kept in memory (a big dpkg status is a few MB).
pub const MAX_KEPT: u64 = 64 << 20;

/// How much of a file [`Keep::Headers`] reads at most.
const MAX_HEADERS: usize = 256 << 10;

/// Symbolic links followed while resolving one path, as Linux's `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// One path of the merged filesystem.
#[derive(Debug, Clone)]
pub struct Node {
    pub kind: Kind,
    pub mode: u32,
    pub size: u64,
    /// The target of a symbolic link, as written.
    pub link: Option<Box<str>>,
    /// The layer (index, bottom = 0) whose entry holds this file's data.
    pub layer: usize,
    /// For a hard link: the path of the entry holding the data in `layer`.
    data_path: Option<Box<str>>,
    content: Option<Kept>,
    digests: Option<Box<FileDigests>>,
}

#[derive(Debug, Clone)]
struct Kept {
    bytes: Box<[u8]>,
    complete: bool,
}

/// The merged filesystem of an image. Paths are relative to the root, without a
/// leading `/` (`etc/os-release`); methods accept either form.
///
/// Reading a file that was not kept goes back to its layer's blob, so keep the
/// [`OpenedImage`](super::OpenedImage) the layers came from alive as long as this.
#[derive(Debug)]
pub struct RootFs {
    nodes: BTreeMap<String, Node>,
    layers: Vec<LayerBlob>,
    /// For a filesystem made by [`RootFs::from_nodes`]: where its nodes came from. It has
    /// no layers to read a file's content from again, so reading a file whose content
    /// was not given is an error naming this.
    detached: Option<String>,
}

impl RootFs {
    /// Reads `layers` (bottom first), keeping the content of each file for which
    /// `keep(path, size)` says so.
    pub fn read(layers: &[LayerBlob], keep: &KeepFn<'_>) -> Result<RootFs, ImageError> {
        Self::read_with_progress(layers, keep, &Progress::hidden())
    }

    /// [`read`](Self::read), with a bar per layer on `progress`.
    ///
    /// The layers are inflated and scanned on every core at once (inflating is nearly
    /// all of the cost, and a base has several large layers), then applied one after
    /// the other, bottom first, so the result and the first error are those of one
    /// pass in order.
    pub fn read_with_progress(
        layers: &[LayerBlob],
        keep: &KeepFn<'_>,
        progress: &Progress,
    ) -> Result<RootFs, ImageError> {
        let mut rootfs = RootFs {
            nodes: BTreeMap::new(),
            layers: layers.to_vec(),
            detached: None,
        };
        let bars: Vec<_> = (0..layers.len())
            .map(|index| {
                progress.bytes(
                    format!("reading layer {}/{}", index + 1, layers.len()),
                    Some(layers[index].location.len),
                )
            })
            .collect();
        let scanned = scan_layers(layers, keep, bars);
        for (index, changes) in scanned.into_iter().enumerate() {
            rootfs.apply(index, changes?)?;
        }
        Ok(rootfs)
    }

    /// Applies one layer's changes over the layers below it.
    fn apply(&mut self, index: usize, changes: Vec<Change>) -> Result<(), ImageError> {
        for change in changes {
            match change {
                Change::Opaque { dir } => self.remove_under(&dir, index),
                Change::Whiteout { path } => self.remove_path(&path, index),
                Change::Put { path, node } => self.insert(path, node, index),
                Change::HardLink {
                    path,
                    raw,
                    target,
                    mode,
                } => {
                    let node = self.hard_link(index, &raw, &target, mode)?;
                    self.insert(path, node, index);
                }
            }
        }
        Ok(())
    }

    /// The node a hard link stands for: its target's data under the link's mode.
    fn hard_link(
        &self,
        index: usize,
        raw: &str,
        target: &str,
        mode: u32,
    ) -> Result<Node, ImageError> {
        let fail = |why: String| layer_error(&self.layers, index, Some(raw), why);
        let normalized = entry_path(target.trim_start_matches('/'))
            .map_err(|why| fail(format!("its hard link target `{target}`: {why}")))?
            .ok_or_else(|| fail(format!("a hard link to the root `{target}`")))?;
        let existing = self.nodes.get(&normalized).ok_or_else(|| {
            fail(format!(
                "a hard link to `{target}`, which does not exist in this layer or below it"
            ))
        })?;
        if existing.kind != Kind::File {
            return Err(fail(format!(
                "a hard link to `{target}`, which is not a regular file"
            )));
        }
        let mut node = existing.clone();
        node.mode = mode;
        if node.data_path.is_none() {
            node.data_path = Some(normalized.into());
        }
        Ok(node)
    }

    fn insert(&mut self, path: String, node: Node, index: usize) {
        let replaces_dir = self
            .nodes
            .get(&path)
            .is_some_and(|old| old.kind == Kind::Dir && node.kind != Kind::Dir);
        if replaces_dir {
            self.remove_under(&path, index);
        }
        self.nodes.insert(path, node);
    }

    /// Removes `path` and everything under it that came from layers below `index`.
    fn remove_path(&mut self, path: &str, index: usize) {
        if self.nodes.get(path).is_some_and(|n| n.layer < index) {
            self.nodes.remove(path);
        }
        self.remove_under(path, index);
    }

    /// Removes everything under `dir` that came from layers below `index`.
    fn remove_under(&mut self, dir: &str, index: usize) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < index)
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.nodes.remove(&key);
        }
    }

    /// The node at `path` itself (a symlink is not followed, parents are).
    pub fn lstat(&self, path: &str) -> Result<Option<(String, &Node)>, ImageError> {
        let resolved = self.resolve_with(path, false)?;
        Ok(self.nodes.get(&resolved).map(|n| (resolved, n)))
    }

    /// The node `path` leads to, following symlinks inside the image, with its resolved
    /// path.
    pub fn stat(&self, path: &str) -> Result<Option<(String, &Node)>, ImageError> {
        let resolved = self.resolve(path)?;
        Ok(self.nodes.get(&resolved).map(|n| (resolved, n)))
    }

    /// Does `path` lead to something?
    pub fn exists(&self, path: &str) -> bool {
        self.stat(path)
            .is_ok_and(|s| s.is_some() || self.is_implicit_dir(path))
    }

    /// Is `path` a directory (explicit, or implied by the paths under it)?
    pub fn is_dir(&self, path: &str) -> bool {
        match self.stat(path) {
            Ok(Some((_, node))) => node.kind == Kind::Dir,
            Ok(None) => self.is_implicit_dir(path),
            Err(_) => false,
        }
    }

    fn is_implicit_dir(&self, path: &str) -> bool {
        let Ok(resolved) = self.resolve(path) else {
            return false;
        };
        let prefix = format!("{resolved}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// `path` with every symbolic link resolved inside the image root: the canonical
    /// path (relative to the root, no leading `/`), whether or not it exists.
    pub fn resolve(&self, path: &str) -> Result<String, ImageError> {
        self.resolve_with(path, true)
    }

    fn resolve_with(&self, path: &str, follow_last: bool) -> Result<String, ImageError> {
        let mut todo: Vec<String> = components(path).rev().map(str::to_string).collect();
        let mut done: Vec<String> = Vec::new();
        let mut followed = 0;
        while let Some(part) = todo.pop() {
            if part == ".." {
                done.pop(); // never above the root
                continue;
            }
            done.push(part);
            let here = done.join("/");
            let Some(node) = self.nodes.get(&here) else {
                continue;
            };
            if node.kind != Kind::Symlink || (todo.is_empty() && !follow_last) {
                continue;
            }
            followed += 1;
            if followed > MAX_SYMLINKS {
                return Err(ImageError::Layout(format!(
                    "/{path}: too many levels of symbolic links (a loop at /{here}?)"
                )));
            }
            let target = node.link.as_deref().unwrap_or("");
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            todo.extend(components(target).rev().map(str::to_string));
        }
        Ok(done.join("/"))
    }

    /// The whole content of the file `path` leads to, or `None` when there is no such
    /// regular file. Kept content is returned at once; otherwise the file's layer is
    /// read again up to its entry. Files larger than [`MAX_KEPT`] are refused: this is
    /// for configuration and metadata, and memory must not grow with what an image holds.
    pub fn read_file(&self, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
        let Some((resolved, node)) = self.stat(path)? else {
            return Ok(None);
        };
        if node.kind != Kind::File {
            return Ok(None);
        }
        if let Some(kept) = &node.content
            && kept.complete
        {
            return Ok(Some(kept.bytes.to_vec()));
        }
        if node.size > MAX_KEPT {
            return Err(ImageError::Layout(format!(
                "/{resolved} is {} bytes, more than rtlock reads into memory ({MAX_KEPT} bytes): \
                 the image is unusual or damaged",
                node.size
            )));
        }
        let data_path = node.data_path.as_deref().unwrap_or(&resolved);
        self.reread(node.layer, data_path).map(Some)
    }

    /// The digests of the regular file `path` leads to, or `None` when there is no such
    /// file: those [`Keep::Digests`] computed, else those of its whole kept content, else
    /// of its content read again from its layer (slow: for the odd file only).
    pub fn digests(&self, path: &str) -> Result<Option<FileDigests>, ImageError> {
        let Some((resolved, node)) = self.stat(path)? else {
            return Ok(None);
        };
        if node.kind != Kind::File {
            return Ok(None);
        }
        if let Some(digests) = &node.digests {
            return Ok(Some(**digests));
        }
        if let Some(bytes) = node.kept() {
            return Ok(Some(FileDigests::of(bytes)));
        }
        let data_path = node.data_path.as_deref().unwrap_or(&resolved);
        let mut digests = None;
        self.reread_with(node.layer, data_path, &mut |entry| {
            digests = Some(FileDigests::of_reader(entry)?);
            Ok(())
        })?;
        Ok(digests)
    }

    /// Like [`read_file`](Self::read_file), but for a file kept with [`Keep::Headers`]
    /// returns just what was kept (at least the header block).
    pub fn read_head(&self, path: &str) -> Result<Option<Vec<u8>>, ImageError> {
        if let Some((_, node)) = self.stat(path)?
            && let Some(kept) = &node.content
        {
            return Ok(Some(kept.bytes.to_vec()));
        }
        self.read_file(path)
    }

    /// Streams layer `index` again up to the entry `path` and returns its content.
    fn reread(&self, index: usize, path: &str) -> Result<Vec<u8>, ImageError> {
        let mut bytes = Vec::new();
        self.reread_with(index, path, &mut |entry| {
            entry.read_to_end(&mut bytes).map(|_| ())
        })?;
        Ok(bytes)
    }

    /// Streams layer `index` again up to the entry `path` and hands its content to `read`.
    fn reread_with(
        &self,
        index: usize,
        path: &str,
        read: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
    ) -> Result<(), ImageError> {
        if let Some(origin) = &self.detached {
            return Err(ImageError::Layout(format!(
                "/{path}: {origin} holds this file's metadata but not its content, and there \
                 is no layer to read it from (a reader asked for a file it did not keep)"
            )));
        }
        let reader = self.layers[index].open()?;
        let mut archive = tar::Archive::new(reader);
        let fail =
            |e: io::Error| layer_error(&self.layers, index, Some(path), describe_read_error(&e));
        for entry in archive.entries().map_err(fail)? {
            let mut entry = entry.map_err(fail)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if entry_path(&raw).ok().flatten().as_deref() == Some(path) {
                return read(&mut entry).map_err(fail);
            }
        }
        Err(layer_error(
            &self.layers,
            index,
            Some(path),
            "the entry is gone on a second read".into(),
        ))
    }

    /// The entries of the directory `path` leads to: `(name, node)` sorted by name.
    /// Directories only implied by deeper paths are listed with no node.
    pub fn list_dir(&self, path: &str) -> Result<Vec<(String, Option<&Node>)>, ImageError> {
        let dir = self.resolve(path)?;
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out: Vec<(String, Option<&Node>)> = Vec::new();
        for (key, node) in self.nodes.range(prefix.clone()..) {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            match rest.split_once('/') {
                None => out.push((rest.to_string(), Some(node))),
                Some((first, _)) => {
                    if out.last().is_none_or(|(name, _)| name != first) {
                        out.push((first.to_string(), None));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 = earlier.1.or(later.1);
                true
            } else {
                false
            }
        });
        Ok(out)
    }

    /// Every path of the merged filesystem, sorted, with its node.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of paths.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The filesystem of one uncompressed tar file at `path` (a cache's, a test's), read
    /// as a single layer.
    pub fn read_tar(path: &std::path::Path, keep: &KeepFn<'_>) -> Result<RootFs, ImageError> {
        let location = super::store::BlobLocation::file(path)
            .map_err(|e| ImageError::io(format!("cannot open {}", path.display()), e))?;
        let blob = LayerBlob {
            media_type: Some(crate::oci::media_type::OCI_LAYER_TAR.to_string()),
            digest: None,
            size: None,
            diff_id: None,
            location,
        };
        Self::read(&[blob], keep)
    }

    /// A filesystem known from a stored description rather than read from layers:
    /// `nodes` (every path, as [`paths`](Self::paths) gives them) with the whole content
    /// of some regular files. `origin` names where they came from, for errors: reading
    /// any other file's content fails with it, since there is no layer to read it from.
    ///
    /// Paths must be normalized (as [`paths`](Self::paths) gives them) and given content
    /// must be a regular file's, `size` bytes long: a description that breaks this is
    /// damaged, and refused.
    pub fn from_nodes(
        nodes: impl IntoIterator<Item = (String, Node, Option<Box<[u8]>>)>,
        origin: &str,
    ) -> Result<RootFs, ImageError> {
        let bad = |path: &str, why: String| ImageError::Layout(format!("{origin}: /{path} {why}"));
        let mut map = BTreeMap::new();
        for (path, mut node, content) in nodes {
            if entry_path(&path).ok().flatten().as_deref() != Some(path.as_str()) {
                return Err(bad(&path, "is not a normalized path in the image".into()));
            }
            if let Some(bytes) = content {
                if node.kind != Kind::File || bytes.len() as u64 != node.size {
                    return Err(bad(
                        &path,
                        format!(
                            "comes with {} bytes of content but is a {:?} of {} bytes",
                            bytes.len(),
                            node.kind,
                            node.size
                        ),
                    ));
                }
                node.content = Some(Kept {
                    bytes,
                    complete: true,
                });
            }
            if map.insert(path.clone(), node).is_some() {
                return Err(bad(&path, "is given twice".into()));
            }
        }
        Ok(RootFs {
            nodes: map,
            layers: Vec::new(),
            detached: Some(origin.to_string()),
        })
    }
}

impl Node {
    /// A node described by its metadata alone, for [`RootFs::from_nodes`].
    pub fn described(kind: Kind, mode: u32, size: u64, link: Option<Box<str>>) -> Node {
        Node {
            kind,
            mode,
            size,
            link,
            layer: 0,
            data_path: None,
            content: None,
            digests: None,
        }
    }

    /// The file's whole content, when it was kept (a [`Keep::Headers`] prefix is not).
    pub fn kept(&self) -> Option<&[u8]> {
        self.content
            .as_ref()
            .filter(|kept| kept.complete)
            .map(|kept| &*kept.bytes)
    }
}

/// Why an entry's path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum UnsafePath {
    #[error(
        "an absolute path in a layer: layers hold paths relative to the image root; \
         this layer was made by a broken or hostile tool"
    )]
    Absolute,
    #[error(
        "a `..` component would place it outside the image root; \
         this layer was made by a broken or hostile tool"
    )]
    Parent,
}

/// How a layer is named in errors: `2/3 (sha256:…)`.
fn layer_name(layers: &[LayerBlob], index: usize) -> String {
    format!("{}/{} ({})", index + 1, layers.len(), layers[index])
}

fn layer_error(
    layers: &[LayerBlob],
    index: usize,
    entry: Option<&str>,
    problem: String,
) -> ImageError {
    ImageError::Layer {
        layer: layer_name(layers, index),
        entry: entry.map(str::to_string),
        problem,
    }
}

/// One entry of a layer, as [`RootFs::apply`] applies it.
enum Change {
    /// `DIR/.wh..wh..opq`: what the layers below have under `dir` goes.
    Opaque {
        dir: String,
    },
    /// `DIR/.wh.NAME`: `path` and what is under it in the layers below go.
    Whiteout {
        path: String,
    },
    Put {
        path: String,
        node: Node,
    },
    /// Resolved when applied: its target may come from a lower layer.
    HardLink {
        path: String,
        raw: String,
        target: String,
        mode: u32,
    },
}

/// Every layer scanned, at most one per core at a time, in the layers' order.
fn scan_layers(
    layers: &[LayerBlob],
    keep: &KeepFn<'_>,
    bars: Vec<crate::progress::Bar>,
) -> Vec<Result<Vec<Change>, ImageError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(layers.len());
    if threads <= 1 {
        return bars
            .into_iter()
            .enumerate()
            .map(|(index, bar)| scan_layer(layers, index, keep, bar))
            .collect();
    }
    let work: std::sync::Mutex<Vec<(usize, crate::progress::Bar)>> =
        std::sync::Mutex::new(bars.into_iter().enumerate().rev().collect());
    let mut done: Vec<(usize, Result<Vec<Change>, ImageError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    // Bottom layers first. The lock is released before the scan (a
                    // guard in the `while let` itself would live through the body).
                    let next = || work.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    while let Some((index, bar)) = next() {
                        out.push((index, scan_layer(layers, index, keep, bar)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_by_key(|(index, _)| *index);
    done.into_iter().map(|(_, scanned)| scanned).collect()
}

/// Streams layer `index` once: its entries as changes, with the content of the files
/// `keep` selects.
fn scan_layer(
    layers: &[LayerBlob],
    index: usize,
    keep: &KeepFn<'_>,
    bar: crate::progress::Bar,
) -> Result<Vec<Change>, ImageError> {
    let reader = layers[index].open_with_progress(Some(bar))?.read_ahead();
    let mut archive = tar::Archive::new(reader);
    let read_error = |entry: Option<&str>, e: io::Error| {
        layer_error(layers, index, entry, describe_read_error(&e))
    };
    let mut changes = Vec::new();
    let entries = archive.entries().map_err(|e| read_error(None, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| read_error(None, e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = entry_path(&raw)
            .map_err(|why| layer_error(layers, index, Some(&raw), why.to_string()))?
        else {
            continue; // the root directory itself
        };
        let (parent, name) = split_parent(&path);
        if name == ".wh..wh..opq" {
            changes.push(Change::Opaque {
                dir: parent.to_string(),
            });
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            changes.push(Change::Whiteout {
                path: join_path(parent, hidden),
            });
            continue;
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0);
        let mut node = Node {
            kind: Kind::Other,
            mode,
            size: 0,
            link: None,
            layer: index,
            data_path: None,
            content: None,
            digests: None,
        };
        match header.entry_type() {
            tar::EntryType::Directory => node.kind = Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                node.kind = Kind::File;
                node.size = entry.size();
                match keep(&path, node.size) {
                    Some(Keep::Digests) => {
                        let digests = FileDigests::of_reader(&mut entry)
                            .map_err(|e| read_error(Some(&raw), e))?;
                        node.digests = Some(Box::new(digests));
                    }
                    Some(how) if node.size <= MAX_KEPT => {
                        node.content = Some(
                            read_kept(&mut entry, how).map_err(|e| read_error(Some(&raw), e))?,
                        );
                    }
                    _ => {}
                }
            }
            tar::EntryType::Symlink => {
                node.kind = Kind::Symlink;
                let target = entry.link_name_bytes().unwrap_or_default();
                node.link = Some(String::from_utf8_lossy(&target).into());
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = String::from_utf8_lossy(&target).into_owned();
                changes.push(Change::HardLink {
                    path,
                    raw,
                    target,
                    mode,
                });
                continue;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            _ => node.kind = Kind::Other,
        }
        changes.push(Change::Put { path, node });
    }
    archive
        .into_inner()
        .finish()
        .map_err(|e| read_error(None, e))?;
    Ok(changes)
}

/// An entry's path, normalized (`./a//b/` → `a/b`); `None` for the root itself. A `..`
/// component or an absolute path is refused.
fn entry_path(raw: &str) -> Result<Option<String>, UnsafePath> {
    if raw.starts_with('/') {
        return Err(UnsafePath::Absolute);
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(UnsafePath::Parent),
            p => parts.push(p),
        }
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    })
}

/// The components of a path given by a caller or a symlink target.
fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|p| !p.is_empty() && *p != ".")
}

/// `usr/bin/dot` → (`usr/bin`, `dot`); a top-level name has the parent `""`.
pub fn split_parent(path: &str) -> (&str, &str) {
    path.rsplit_once('/').unwrap_or(("", path))
}

/// The inverse of [`split_parent`]: `name` under `dir` (`""` is the root).
pub fn join_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn read_kept(entry: &mut impl Read, how: Keep) -> io::Result<Kept> {
    match how {
        Keep::Whole => {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            Ok(Kept {
                bytes: bytes.into(),
                complete: true,
            })
        }
        Keep::Digests => unreachable!("digests are computed by the caller, no content is kept"),
        Keep::Headers => {
            let mut bytes = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = entry.read(&mut chunk)?;
                if n == 0 {
                    return Ok(Kept {
                        bytes: bytes.into(),
                        complete: true,
                    });
                }
                let from = bytes.len().saturating_sub(1);
                bytes.extend_from_slice(&chunk[..n]);
                let blank = bytes[from..].windows(2).any(|w| w == b"\n\n");
                if blank || bytes.len() >= MAX_HEADERS {
                    return Ok(Kept {
                        bytes: bytes.into(),
                        complete: false,
                    });
                }
            }
        }
    }
}

/// A read error of a layer, worded for the user: verification errors say what did not
/// match; anything else is a damaged layer.
fn describe_read_error(e: &io::Error) -> String {
    let text = e.to_string();
    if text.contains("hashes to") {
        return text;
    }
    format!(
        "cannot be read as a tar layer ({text}): the blob is truncated or corrupt, or not a layer; \
         fetch the image again"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert_eq!(
            entry_path("./etc/os-release").unwrap().as_deref(),
            Some("etc/os-release")
        );
        assert_eq!(entry_path("./").unwrap(), None);
        assert_eq!(entry_path("../../etc/passwd"), Err(UnsafePath::Parent));
        assert_eq!(entry_path("a/../../b"), Err(UnsafePath::Parent));
        assert_eq!(entry_path("/etc/passwd"), Err(UnsafePath::Absolute));
    }
}
