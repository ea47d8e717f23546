//! Where the R layer installs: the first library of `.libPaths()` as root sees it in the
//! image below the layer (the base plus rtlock's apt and pip layers, which may be what
//! brings R), and what that library already holds of the packages the lock installs.

use std::collections::BTreeMap;

use crate::image::rootfs::{Keep, join_path};
use crate::image::{LayerBlob, RootFs};
use crate::oci::layer::{Entry, EntryKind, Layer};
use crate::oci::output::ImageLayer;
use crate::oci::types::ImageConfig;
use crate::r::inventory::base::BaseR;

use super::RLayerError;

/// What of the image the R layer reads: what [`BaseR`] needs to find R and its
/// libraries (every `DESCRIPTION`, `Renviron`, `Rprofile.site`), and dpkg's database
/// (R's version when its `base` package is not readable).
pub fn base_keep(path: &str, size: u64) -> Option<Keep> {
    crate::r::inventory::base::wanted(path, size).or_else(|| crate::base::dpkg::wanted(path, size))
}

/// The library packages go into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// The directory, symbolic links resolved, without a leading `/`
    /// (`usr/local/lib/R/site-library`).
    pub path: String,
    /// `R.home()` of the R it belongs to.
    pub r_home: String,
    /// What the image below holds under `<path>/<Package>` of each package the lock
    /// installs there (paths relative to the library, sorted): what an upgrade hides.
    lower: BTreeMap<String, Vec<String>>,
}

impl Library {
    /// The library of the image's R (the first installation found), and what it holds
    /// of `packages`. `after_below` only changes the message when there is no R.
    pub fn of_image(
        rootfs: &RootFs,
        config: &ImageConfig,
        after_below: bool,
        packages: &[&str],
    ) -> Result<Library, RLayerError> {
        let facts = BaseR::from_rootfs(rootfs, config)?;
        let r = facts.r.ok_or(RLayerError::NoR {
            after: if after_below {
                ", after the apt and pip layers"
            } else {
                ""
            },
        })?;
        let first = r
            .library_paths
            .first()
            .ok_or_else(|| RLayerError::NoLibrary {
                home: r.home.clone(),
            })?;
        let path = rootfs.resolve(first)?;
        // One pass over the image's paths for every package (they are sorted, but the
        // index offers no range: the library's part is a small share of them anyway).
        let wanted: std::collections::BTreeSet<&str> = packages.iter().copied().collect();
        let prefix = format!("{path}/");
        let mut lower: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (image_path, _) in rootfs.paths() {
            let Some(relative) = image_path.strip_prefix(&prefix) else {
                continue;
            };
            let package = relative.split('/').next().unwrap_or_default();
            if wanted.contains(package) {
                lower
                    .entry(package.to_string())
                    .or_default()
                    .push(relative.to_string());
            }
        }
        Ok(Library {
            path,
            r_home: r.home,
            lower,
        })
    }

    /// The library as R names it (`/usr/local/lib/R/site-library`).
    pub fn absolute(&self) -> String {
        format!("/{}", self.path)
    }

    /// `<library>/<relative>` as an image path.
    pub fn join(&self, relative: &str) -> String {
        join_path(&self.path, relative)
    }

    /// The packages of the lock that the image below already has in this library, each
    /// with what it holds there.
    pub fn held(&self) -> impl Iterator<Item = &str> {
        self.lower.keys().map(String::as_str)
    }

    /// Whiteouts that hide what the image below holds of the packages that `entries`
    /// install again (an upgrade), except the paths `entries` write themselves: the
    /// old directory is gone and only the new package's files remain, as after
    /// `R CMD INSTALL`. Only the topmost stale path of a subtree gets one.
    ///
    /// Whiteouts of single paths rather than one opaque marker on the package's
    /// directory: an applier that extracts the layer into its overlay directory
    /// (Docker's overlay2) turns a whiteout followed by a directory of the same name
    /// into a plain directory that lets the old files show through, and not every
    /// applier honours an opaque marker beside files of its own layer.
    pub fn stale(&self, entries: &[Entry]) -> Vec<Entry> {
        // Written paths, and whether each is a directory (under which old paths may
        // still need hiding) or not (which replaces the old subtree whole).
        let written: BTreeMap<&str, bool> = entries
            .iter()
            .map(|e| (e.path.as_str(), e.kind == EntryKind::Directory))
            .collect();
        let mut whiteouts = Vec::new();
        for held in self.lower.values() {
            // Subtrees dealt with whole: hidden, or replaced by a file. Checked by
            // ancestor, since in sorted order `x.txt` comes between `x` and `x/y`.
            let mut done: std::collections::BTreeSet<&str> = Default::default();
            for relative in held {
                let under_done = relative
                    .match_indices('/')
                    .any(|(at, _)| done.contains(&relative[..at]));
                if under_done {
                    continue;
                }
                let path = self.join(relative);
                match written.get(path.as_str()) {
                    Some(true) => continue,
                    Some(false) => {}
                    None => whiteouts.push(Entry::whiteout(&path)),
                }
                done.insert(relative);
            }
        }
        whiteouts
    }
}

/// The merged filesystem of `base` plus `below` (rtlock's layers), with
/// [`base_keep`]'s files kept.
pub fn read_image(base: &[ImageLayer], below: &[Layer]) -> Result<RootFs, RLayerError> {
    let blobs = LayerBlob::stack(base, below)?;
    Ok(RootFs::read(&blobs, &base_keep)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::layer::Content;

    fn library(lower: &[(&str, &[&str])]) -> Library {
        Library {
            path: "usr/local/lib/R/site-library".into(),
            r_home: "/usr/lib/R".into(),
            lower: lower
                .iter()
                .map(|(name, paths)| {
                    (
                        name.to_string(),
                        paths.iter().map(|p| p.to_string()).collect(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn an_upgrade_hides_the_old_files_the_new_package_does_not_write() {
        let lib = library(&[(
            "R6",
            &[
                "R6",
                "R6/DESCRIPTION",
                "R6/doc",
                "R6/doc.txt",
                "R6/doc/a.html",
                "R6/doc/b.html",
                "R6/html",
                "R6/html/old.html",
                "R6/libs",
                "R6/libs/R6.so",
            ],
        )]);
        let file = |p: &str| {
            Entry::file(
                &format!("usr/local/lib/R/site-library/{p}"),
                0o644,
                Content::Bytes(Vec::new()),
            )
        };
        let dir = |p: &str| Entry::dir(&format!("usr/local/lib/R/site-library/{p}"), 0o755);
        let entries = vec![
            dir("R6"),
            file("R6/DESCRIPTION"),
            dir("R6/html"),
            file("R6/html/new.html"),
            file("R6/libs"),
        ];
        let hidden: Vec<String> = lib.stale(&entries).into_iter().map(|e| e.path).collect();
        assert_eq!(
            hidden,
            [
                "usr/local/lib/R/site-library/R6/.wh.doc",
                "usr/local/lib/R/site-library/R6/.wh.doc.txt",
                "usr/local/lib/R/site-library/R6/html/.wh.old.html",
                // A directory the new package has as a file: the applier replaces it,
                // and a whiteout beside the file would hide the file too.
            ]
        );
    }

    #[test]
    fn a_package_the_library_lacks_gets_no_whiteout() {
        let lib = library(&[]);
        let entries = vec![Entry::dir("usr/local/lib/R/site-library/glue", 0o755)];
        assert!(lib.stale(&entries).is_empty());
        assert_eq!(lib.absolute(), "/usr/local/lib/R/site-library");
    }
}
