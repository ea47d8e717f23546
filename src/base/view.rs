//! The base image's files, read once and kept by manifest digest.
//!
//! Reading them means reading every layer of the base (a later layer may change any
//! file): seconds for a real runtime image. A manifest digest names its layers forever,
//! so what an ecosystem reads of a base is kept under the cache by that digest and
//! every later `lock` or `build` of the same base reads it instead: a small tar of the
//! files a resolver reads ([`read_cached`], [`store`]), or a whole-tree view for an
//! installer ([`read_view`], [`store_view`]). Which files, and the format names that
//! version each copy, belong to the ecosystem that reads them.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::pin::ResolvedBase;
use crate::image::rootfs::{Keep, Kind};
use crate::image::view::{self, ViewError};
use crate::image::{self, ImageError, ImageSource, OpenOptions, OpenedImage, RootFs};
use crate::oci::Digest;
use crate::oci::reference::Reference;
use crate::oci::registry::Registry;

/// The base pinned by its manifest digest, opened through `registry` (its layers land
/// in the fetch cache, where `build` finds them).
pub async fn open(base: &ResolvedBase, registry: &Registry) -> Result<OpenedImage, ImageError> {
    let reference: Reference = base.reference.parse().map_err(ImageError::Reference)?;
    let pinned = reference.with_digest(base.manifest.clone()).to_string();
    image::open(
        &ImageSource::Registry { reference: pinned },
        &OpenOptions {
            platform: base.platform.clone(),
            registry: Some(registry.clone()),
        },
    )
    .await
}

/// The view (every path's metadata, and the content of the files it was stored with)
/// called `name` of the base with this manifest, if an earlier `lock` or `build` stored
/// it. A view that cannot be read is ignored: the caller reads the layers and stores a
/// new one.
pub fn read_view(cache_root: &Path, name: &str, manifest: &Digest) -> Option<RootFs> {
    let path = view_path(cache_root, name, manifest);
    match view::read(&path) {
        Ok(rootfs) => Some(rootfs),
        Err(ViewError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::debug!("ignoring the base's view {name}: {e}");
            None
        }
    }
}

/// Stores the view `name` of `rootfs`, the base with this manifest, with the content of
/// the files `keep` names (which `rootfs` must have been read keeping). A view that
/// cannot be stored only costs reading the layers again next time.
pub fn store_view(
    cache_root: &Path,
    name: &str,
    manifest: &Digest,
    rootfs: &RootFs,
    keep: &dyn Fn(&str, u64) -> Option<Keep>,
) {
    let path = view_path(cache_root, name, manifest);
    if let Err(e) = view::write(&path, rootfs, keep) {
        tracing::debug!("could not store the base's view {name}: {e}");
    }
}

/// Where [`store_view`] puts the view `name` of the base with this manifest.
pub fn view_path(cache_root: &Path, name: &str, manifest: &Digest) -> PathBuf {
    cache_root
        .join("base-files")
        .join(name)
        .join(format!("{}.view", manifest.hex()))
}

fn facts_path(cache_root: &Path, name: &str, manifest: &Digest) -> PathBuf {
    cache_root
        .join("base-files")
        .join(name)
        .join(format!("{}.json", manifest.hex()))
}

/// The facts called `name` (a format name that versions them) an earlier `lock` kept of
/// the base with this manifest; facts that no longer deserialize are read again.
pub fn read_facts<T: serde::de::DeserializeOwned>(
    cache_root: &Path,
    name: &str,
    manifest: &Digest,
) -> Option<T> {
    let bytes = std::fs::read(facts_path(cache_root, name, manifest)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Keeps `facts` for [`read_facts`]; failing costs only a read of the layers next time.
pub fn store_facts<T: serde::Serialize>(
    cache_root: &Path,
    name: &str,
    manifest: &Digest,
    facts: &T,
) {
    let path = facts_path(cache_root, name, manifest);
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
        let json = serde_json::to_vec(facts).map_err(std::io::Error::other)?;
        crate::atomic_file::write(&path, &json)
    };
    if let Err(e) = write() {
        tracing::debug!(
            "could not keep the base's facts {name} in {}: {e}",
            path.display()
        );
    }
}

fn cached_path(cache_root: &Path, name: &str, manifest: &Digest) -> PathBuf {
    cache_root
        .join("base-files")
        .join(name)
        .join(format!("{}.tar", manifest.hex()))
}

/// The files kept as `name` of the base with this manifest, if an earlier `lock` kept
/// them.
pub fn read_cached(cache_root: &Path, name: &str, manifest: &Digest) -> Option<RootFs> {
    let path = cached_path(cache_root, name, manifest);
    if !path.exists() {
        return None;
    }
    match RootFs::read_tar(&path, &|_, _| Some(Keep::Whole)) {
        Ok(rootfs) => Some(rootfs),
        Err(e) => {
            tracing::debug!("ignoring the unreadable {}: {e}", path.display());
            None
        }
    }
}

/// Keeps the files of `rootfs` that `wanted` names as `name`, for [`read_cached`]. A
/// cache that cannot be written only costs reading the layers again next time.
pub fn store(
    cache_root: &Path,
    name: &str,
    manifest: &Digest,
    rootfs: &RootFs,
    wanted: &dyn Fn(&str) -> bool,
) {
    let path = cached_path(cache_root, name, manifest);
    if let Err(e) = write_tar(&path, rootfs, wanted) {
        tracing::debug!("could not keep the base's files in {}: {e}", path.display());
    }
}

fn write_tar(
    path: &Path,
    rootfs: &RootFs,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = path.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    {
        let mut tar = tar::Builder::new(&mut temp);
        let mut dirs_written = BTreeSet::new();
        for (path, node) in rootfs.paths().filter(|(p, _)| wanted(p)) {
            // Parents first, so the reader sees directories, not implied paths.
            for (end, _) in path.match_indices('/') {
                let parent = &path[..end];
                if dirs_written.insert(parent.to_string()) {
                    append(
                        &mut tar,
                        parent,
                        tar::EntryType::Directory,
                        0o755,
                        &[],
                        None,
                    )?;
                }
            }
            match node.kind {
                Kind::Dir => {
                    if dirs_written.insert(path.to_string()) {
                        append(
                            &mut tar,
                            path,
                            tar::EntryType::Directory,
                            node.mode,
                            &[],
                            None,
                        )?;
                    }
                }
                Kind::Symlink => {
                    let target = node.link.as_deref().unwrap_or_default();
                    let kind = tar::EntryType::Symlink;
                    append(&mut tar, path, kind, 0o777, &[], Some(target))?;
                }
                _ => {
                    if let Some(bytes) = rootfs.read_file(path)? {
                        let kind = tar::EntryType::Regular;
                        append(&mut tar, path, kind, node.mode, &bytes, None)?;
                    }
                }
            }
        }
        tar.finish()?;
    }
    temp.as_file_mut().flush()?;
    temp.persist(path)?;
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    bytes: &[u8],
    link: Option<&str>,
) -> Result<(), ImageError> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode & 0o7777);
    header.set_size(bytes.len() as u64);
    header.set_mtime(0);
    let io = |e| ImageError::io(format!("writing {path} to the base files cache"), e);
    if let Some(link) = link {
        header.set_link_name(link).map_err(io)?;
    }
    tar.append_data(&mut header, path, bytes).map_err(io)
}
