//! The binary part of the R layer, made without running R: each binary tarball holds the
//! tree `R CMD INSTALL` leaves, which goes to `<library>/<Package>/…` with directories
//! 0755, files 0644 or 0755 (when the tarball gives the file any exec bit), owned by
//! root, and every mtime the layer's epoch. The source tarballs are read at the same
//! time, for [`super::source`].

use crate::lockfile::RKind;
use crate::oci::layer::{Entry, EntryKind, Layer};
use crate::oci::output::ImageLayer;
use crate::oci::types::ImageConfig;

use super::library::{Library, read_image};
use super::source::{BUILD_DIR, SourceTree};
use super::unpack::{MEMORY_BUDGET, Spool, Unpacked, place, unpack};
use super::{RLayerError, Tarball};

/// The binaries made into entries, and the source packages read, on the image's
/// library. The entries may name files in `spool`: keep it until the layer is written.
#[derive(Debug)]
pub struct Made {
    pub library: Library,
    /// The binaries' entries, with whiteouts for the old files of those the library
    /// already had.
    pub entries: Vec<Entry>,
    /// The source packages, lock order.
    pub sources: Vec<SourceTree>,
    pub spool: tempfile::TempDir,
}

impl Made {
    /// The R layer's entries: the binaries' and `built` (what the source builds
    /// installed), with whiteouts for the old files of every package the library had.
    pub fn finish(self, built: Vec<Entry>) -> (Vec<Entry>, tempfile::TempDir) {
        let mut entries: Vec<Entry> = self
            .entries
            .into_iter()
            .filter(|e| !e.is_whiteout())
            .collect();
        entries.extend(built);
        let whiteouts = self.library.stale(&entries);
        entries.extend(whiteouts);
        (entries, self.spool)
    }
}

/// Reads the image (the base's layers plus `below`, rtlock's layers) for its library
/// and every tarball, at the same time; blocking: call it off the async runtime.
pub fn make(
    base: &[ImageLayer],
    below: &[Layer],
    config: &ImageConfig,
    tarballs: &[Tarball],
) -> Result<Made, RLayerError> {
    let spool = Spool::new(MEMORY_BUDGET)?;
    let started = std::time::Instant::now();
    let (image, read) = crate::task::join(
        "the image reader",
        || read_image(base, below),
        || read_all(tarballs, &spool),
    );
    let image = image??;
    let read = read?;
    tracing::debug!(
        "r layer: image and tarballs read in {:?}",
        started.elapsed()
    );
    let names: Vec<&str> = tarballs.iter().map(|t| t.name.as_str()).collect();
    let library = Library::of_image(&image, config, !below.is_empty(), &names)?;
    tracing::debug!("r layer: installing into /{}", library.path);
    for held in library.held() {
        tracing::info!(
            "r layer: {held} of the image's library /{} is replaced (its old files hidden)",
            library.path
        );
    }
    let mut entries = Vec::new();
    let mut sources = Vec::new();
    for (tarball, unpacked) in tarballs.iter().zip(read) {
        match tarball.kind {
            RKind::Binary => {
                let dir = library.join(&tarball.name);
                entries.extend(place(installed(unpacked.entries), &dir));
            }
            RKind::Source => {
                let dir = format!("{BUILD_DIR}/{}", tarball.name);
                sources.push(SourceTree {
                    name: tarball.name.clone(),
                    version: tarball.version.clone(),
                    system_requirements: unpacked.system_requirements,
                    entries: place(unpacked.entries, &dir),
                });
            }
        }
    }
    let whiteouts = library.stale(&entries);
    entries.extend(whiteouts);
    Ok(Made {
        library,
        entries,
        sources,
        spool: spool.dir,
    })
}

/// Every tarball unpacked, on every core (decompression is the slow part).
fn read_all(tarballs: &[Tarball], spool: &Spool) -> Result<Vec<Unpacked>, RLayerError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    crate::task::parallel_map(
        "an R tarball reader",
        tarballs.iter().collect(),
        threads,
        |t| unpack(t, spool),
    )?
    .into_iter()
    .collect()
}

/// A binary package's entries as installed: modes normalized, no owner, no mtime.
fn installed(entries: Vec<Entry>) -> Vec<Entry> {
    entries
        .into_iter()
        .map(|mut entry| {
            entry.mode = match entry.kind {
                EntryKind::Directory => 0o755,
                EntryKind::Symlink { .. } => 0o777,
                EntryKind::File(_) | EntryKind::HardLink { .. } => {
                    if entry.mode & 0o111 != 0 {
                        0o755
                    } else {
                        0o644
                    }
                }
            };
            entry.uid = 0;
            entry.gid = 0;
            entry.mtime = None;
            entry.xattrs.clear();
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layer::Content;

    #[test]
    fn installed_modes_keep_only_the_exec_bit() {
        let entries = vec![
            Entry::dir("pkg", 0o2775).owner(1000, 50).mtime(5),
            Entry::file("pkg/a", 0o664, Content::Bytes(Vec::new())),
            Entry::file("pkg/b", 0o700, Content::Bytes(Vec::new())),
            Entry::file("pkg/c", 0o4751, Content::Bytes(Vec::new())),
            Entry::symlink("pkg/d", "a"),
        ];
        let out: Vec<(u32, u32, u32, Option<i64>)> = installed(entries)
            .iter()
            .map(|e| (e.mode, e.uid, e.gid, e.mtime))
            .collect();
        assert_eq!(
            out,
            [
                (0o755, 0, 0, None),
                (0o644, 0, 0, None),
                (0o755, 0, 0, None),
                (0o755, 0, 0, None),
                (0o777, 0, 0, None),
            ]
        );
    }
}
