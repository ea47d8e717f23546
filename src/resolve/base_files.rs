//! The files of the base image that resolvers read (dpkg status, apt sources, keyrings,
//! preferences), cached by the base's manifest digest.
//!
//! Reading them means reading every layer of the base (a later layer may change any of
//! them): seconds for a real runtime image. A manifest digest names its layers forever,
//! so the first `lock` keeps these files in a small tar under the cache and every later
//! `lock` of the same base reads that instead.
//!
//! Next to them, the apt installer's view of the base ([`read_apt_view`]): every path's
//! metadata and the dpkg database, stored by whichever of `lock` and `build` reads the
//! layers first, so that the other does not read them again.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::apt::install::base_keep;
use crate::image::rootfs::{Keep, Kind};
use crate::image::view::{self, ViewError};
use crate::image::{ImageError, RootFs};
use crate::oci::Digest;

/// Bump when [`wanted`] changes: a cached copy then holds the wrong set of files.
const FORMAT: &str = "v1";

/// The apt view's directory. Bump when [`base_keep`] changes: a stored view then lacks
/// files the installer reads (which it reports as an error rather than reading them).
const APT_VIEW: &str = "apt-view-v1";

/// The paths resolvers read.
pub fn wanted(path: &str) -> bool {
    path == "var/lib/dpkg/status"
        || path == "var/lib/dpkg/arch"
        || path.starts_with("etc/apt/")
        || path.starts_with("usr/share/keyrings/")
}

/// The [`RootFs::read`] predicate for [`wanted`] paths.
pub fn keep(path: &str, _size: u64) -> Option<Keep> {
    wanted(path).then_some(Keep::Whole)
}

/// What the apt installer reads of the base with this manifest (its whole path tree,
/// and the content of [`base_keep`]'s files), if an earlier `lock` or `build` stored it.
/// A view that cannot be read is ignored: the caller reads the layers and stores a new one.
pub fn read_apt_view(cache_root: &Path, manifest: &Digest) -> Option<RootFs> {
    let path = apt_view_path(cache_root, manifest);
    match view::read(&path) {
        Ok(rootfs) => Some(rootfs),
        Err(ViewError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::debug!("ignoring the base's apt view: {e}");
            None
        }
    }
}

/// Stores the apt installer's view of `rootfs`, the base with this manifest, which must
/// have been read keeping at least [`base_keep`]'s files. A view that cannot be stored
/// only costs reading the layers again next time.
pub fn store_apt_view(cache_root: &Path, manifest: &Digest, rootfs: &RootFs) {
    let path = apt_view_path(cache_root, manifest);
    if let Err(e) = view::write(&path, rootfs, &base_keep) {
        tracing::debug!("could not store the base's apt view: {e}");
    }
}

/// Where [`store_apt_view`] puts the view of the base with this manifest.
pub fn apt_view_path(cache_root: &Path, manifest: &Digest) -> PathBuf {
    cache_root
        .join("base-files")
        .join(APT_VIEW)
        .join(format!("{}.view", manifest.hex()))
}

fn cached_path(cache_root: &Path, manifest: &Digest) -> PathBuf {
    cache_root
        .join("base-files")
        .join(FORMAT)
        .join(format!("{}.tar", manifest.hex()))
}

/// The cached files of the base with this manifest, if an earlier `lock` kept them.
pub fn read_cached(cache_root: &Path, manifest: &Digest) -> Option<RootFs> {
    let path = cached_path(cache_root, manifest);
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

/// Keeps the [`wanted`] files of `rootfs` for [`read_cached`]. A cache that cannot be
/// written only costs reading the layers again next time.
pub fn store(cache_root: &Path, manifest: &Digest, rootfs: &RootFs) {
    let path = cached_path(cache_root, manifest);
    if let Err(e) = write_tar(&path, rootfs) {
        tracing::debug!("could not keep the base's files in {}: {e}", path.display());
    }
}

fn write_tar(path: &Path, rootfs: &RootFs) -> Result<(), Box<dyn std::error::Error>> {
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
