//! Every shared object the pip and R layers add finds the libraries it needs, looked for
//! as the dynamic loader will look for them in the built image: a wheel or an R binary
//! linked against a library that nothing provides imports fine at build time and fails
//! in the user's session (`library(sf)`: "libgdal.so.32: cannot open shared object
//! file"). The apt layer is left to Debian's own dependencies: its plugins whose
//! libraries come from Suggests are normal there.
//!
//! The search order is glibc's (ld.so(8), "Rules"; elf/dl-load.c), for each `DT_NEEDED`
//! soname of an object ([`search`] has the details):
//! 1. a name already loaded in this import (by file name or soname) is taken as is, and
//!    a name with a `/` is a path;
//! 2. without a `DT_RUNPATH`: the object's `DT_RPATH`, then those of the objects that
//!    loaded it;
//! 3. `LD_LIBRARY_PATH`, from the image's environment; for objects in an R library also
//!    what R's front end adds (`R_HOME/etc/ldpaths`);
//! 4. the object's `DT_RUNPATH`;
//! 5. the directories of `/etc/ld.so.conf` (with its includes) and of `/etc/ld.so.cache`;
//! 6. the default directories, `/lib` and `/usr/lib` with their multiarch and `64`
//!    forms.
//!
//! A soname counts as found when the path leads (through symbolic links inside the
//! image) to a regular file. The sonames of the NVIDIA driver are never in an image: the
//! container runtime mounts them when a GPU is attached, so they are not asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use crate::apt::index::contents::cached_providers;
use crate::elf::{self, Dynamic};
use crate::image::rootfs::{Kind, join_path, split_parent};
use crate::image::{ImageError, LayerBlob, RootFs};
use crate::oci::Digest;
use crate::oci::types::ImageConfig;
use crate::r::inventory::base::BaseR;

mod search;
pub use search::{SearchPath, ld_so_conf};

/// Libraries of the NVIDIA driver that the NVIDIA container runtime mounts into a
/// container at start (libnvidia-container's list of driver libraries): CUDA wheels
/// link against them, and no image may carry them.
const DRIVER_SONAMES: &[&str] = &[
    "libcuda.so.1",
    "libnvidia-ml.so.1",
    "libnvidia-ptxjitcompiler.so.1",
    "libnvidia-nvvm.so.4",
    "libnvcuvid.so.1",
    "libnvidia-encode.so.1",
    "libnvidia-opticalflow.so.1",
    "libnvidia-cfg.so.1",
    "libnvidia-opencl.so.1",
    "libnvoptix.so.1",
    "libnvidia-allocator.so.1",
    "libGLX_nvidia.so.0",
    "libEGL_nvidia.so.0",
    "libGLESv2_nvidia.so.2",
    "libGLESv1_CM_nvidia.so.1",
];

/// The largest object read to find its dynamic section (CUDA libraries in wheels reach
/// a few hundred MB; their section lies near the end, so the whole file is read).
const MAX_OBJECT: u64 = 1 << 30;

/// One shared object (or executable) a layer adds, with what its dynamic section says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its path in the image, without a leading `/`.
    pub path: String,
    /// `pip` or `r`: which layer added it.
    pub layer: &'static str,
    pub dynamic: Dynamic,
}

/// A soname an object needs that nothing in the image provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The object, without a leading `/`.
    pub path: String,
    pub layer: &'static str,
    pub soname: String,
    /// Debian packages that ship the soname, from the Contents indexes in the cache
    /// (empty when none is cached or none knows it).
    pub providers: Vec<String>,
}

/// The Debian packages that ship each of some sonames (those it knows).
pub type Providers<'a> = dyn Fn(&BTreeSet<String>) -> BTreeMap<String, Vec<String>> + 'a;

/// What the check found: the needs that fail an import, and those of objects nothing
/// imports (plugins opened on demand, whose libraries a user adds when they need them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub fatal: Vec<Missing>,
    pub optional: Vec<Missing>,
}

/// The needs of `objects` that nothing in `tree` (the whole built image) provides.
/// `providers` gives the Debian packages that ship a soname, for the message.
///
/// Each object nothing else in `objects` needs is a root. The roots the interpreter
/// itself opens ([`is_entry_point`]: an extension module, an R package's `libs/*.so`)
/// are loaded as ld.so loads them, breadth first, a name already loaded (by file name
/// or soname) being taken as is: that is how a library bundled in `scipy.libs/` without
/// a RUNPATH of its own finds its sibling, which the extension module's RUNPATH loaded
/// first. What they cannot load is fatal, unless a file of that name is somewhere in
/// the image: an earlier import may have loaded it (flash-attn's need of torch's
/// `libc10.so`, RcppParallel's `libtbb.so`), and ld.so then takes it by name. What the
/// other objects lack is only reported.
pub fn missing(
    tree: &RootFs,
    objects: &[Object],
    search: &SearchPath,
    providers: &Providers<'_>,
) -> Findings {
    let by_path: BTreeMap<&str, usize> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.path.as_str(), i))
        .collect();
    let needed: BTreeSet<&str> = objects
        .iter()
        .flat_map(|o| o.dynamic.needed.iter().map(String::as_str))
        .collect();
    let is_needed = |o: &Object| names_of(o).iter().any(|n| needed.contains(n.as_str()));
    let mut visited = vec![false; objects.len()];
    let mut fatal = BTreeSet::new();
    let entry_roots = (0..objects.len()).filter(|&i| {
        let o = &objects[i];
        is_entry_point(o) && !is_needed(o)
    });
    // Every name some import loads: another import may find it so.
    let mut loaded = BTreeSet::new();
    for root in entry_roots.collect::<Vec<_>>() {
        let mut load = Load {
            visited: &mut visited,
            missing: &mut fatal,
            loaded: &mut loaded,
        };
        load.from(tree, objects, &by_path, search, root);
    }
    // Whatever no import reaches, each as a root of its own.
    let mut optional = BTreeSet::new();
    for root in 0..objects.len() {
        if !visited[root] {
            let mut load = Load {
                visited: &mut visited,
                missing: &mut optional,
                loaded: &mut BTreeSet::new(),
            };
            load.from(tree, objects, &by_path, search, root);
        }
    }
    let optional: BTreeSet<_> = optional.difference(&fatal).cloned().collect();
    let mut preloadable = files_named(tree, fatal.iter().map(|(_, soname, _)| soname.as_str()));
    preloadable.extend(loaded);
    let fatal: BTreeSet<_> = fatal
        .into_iter()
        .filter(|(path, soname, _)| {
            let found = preloadable.contains(soname.as_str());
            if found {
                tracing::debug!(
                    "/{path} needs {soname}, which it finds only if an earlier import loaded it"
                );
            }
            !found
        })
        .collect();
    let sonames: BTreeSet<String> = fatal
        .iter()
        .chain(&optional)
        .map(|(_, soname, _)| soname.clone())
        .collect();
    let known = if sonames.is_empty() {
        BTreeMap::new()
    } else {
        providers(&sonames)
    };
    let listed = |found: BTreeSet<(String, String, &'static str)>| -> Vec<Missing> {
        found
            .into_iter()
            .map(|(path, soname, layer)| Missing {
                providers: known.get(&soname).cloned().unwrap_or_default(),
                path,
                layer,
                soname,
            })
            .collect()
    };
    Findings {
        fatal: listed(fatal),
        optional: listed(optional),
    }
}

/// The file name and soname an object is known to the loader by.
fn names_of(object: &Object) -> Vec<String> {
    let (_, file) = split_parent(&object.path);
    let mut names = vec![file.to_string()];
    names.extend(object.dynamic.soname.clone());
    names
}

/// Whether the interpreter itself opens `object`: for R, an R package's `libs/*.so`
/// (what `library.dynam` loads); for Python, an extension module by its name (the
/// suffixes of `importlib.machinery.EXTENSION_SUFFIXES`: `.cpython-311-x86_64-linux-gnu.so`,
/// `.abi3.so`, or a bare `.so`, though not a `lib*.so`, which is a library shipped
/// beside the modules or a plugin of one).
pub fn is_entry_point(object: &Object) -> bool {
    let (dir, file) = split_parent(&object.path);
    if !file.ends_with(".so") {
        return false;
    }
    match object.layer {
        "r" => dir.ends_with("/libs"),
        _ => {
            file.contains(".cpython-")
                || file.contains(".pypy")
                || file.ends_with(".abi3.so")
                || !file.starts_with("lib")
        }
    }
}

/// Which of `names` some regular file is called in a folder imports come from (Python's
/// site and dist-packages, R's libraries), where another package's import may have
/// loaded it.
fn files_named<'a>(tree: &RootFs, names: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    const IMPORTED_FROM: [&str; 4] = [
        "/site-packages/",
        "/dist-packages/",
        "/site-library/",
        "/R/library/",
    ];
    let wanted: BTreeSet<&str> = names.collect();
    if wanted.is_empty() {
        return BTreeSet::new();
    }
    tree.paths()
        .filter(|(path, node)| {
            node.kind == Kind::File && IMPORTED_FROM.iter().any(|dir| path.contains(dir))
        })
        .filter_map(|(path, _)| wanted.get(split_parent(path).1).map(|n| n.to_string()))
        .collect()
}

/// What loading roots records: the objects reached, the needs found nowhere (object,
/// soname, layer), and every name loaded.
struct Load<'a> {
    visited: &'a mut [bool],
    missing: &'a mut BTreeSet<(String, String, &'static str)>,
    loaded: &'a mut BTreeSet<String>,
}

impl Load<'_> {
    /// Loads `root` as ld.so would. Objects of `objects` it reaches are followed in
    /// turn; libraries outside them (the base's, apt's) are not.
    fn from(
        &mut self,
        tree: &RootFs,
        objects: &[Object],
        by_path: &BTreeMap<&str, usize>,
        search: &SearchPath,
        root: usize,
    ) {
        let mut loaded: BTreeSet<String> = names_of(&objects[root]).into_iter().collect();
        let mut in_closure = BTreeSet::from([root]);
        // (object, the RPATHs of the objects that loaded it, nearest first)
        let mut queue = std::collections::VecDeque::from([(root, Vec::<String>::new())]);
        while let Some((index, loader_rpaths)) = queue.pop_front() {
            self.visited[index] = true;
            let object = &objects[index];
            let dirs = search.for_object(object, &loader_rpaths);
            let mut passed_on = search.own_rpath(object);
            for dir in &loader_rpaths {
                if !passed_on.contains(dir) {
                    passed_on.push(dir.clone());
                }
            }
            for soname in &object.dynamic.needed {
                if soname.contains('/')
                    || DRIVER_SONAMES.contains(&soname.as_str())
                    || loaded.contains(soname)
                {
                    continue;
                }
                let found = dirs.iter().find_map(|dir| {
                    let path = join_path(dir.trim_start_matches('/'), soname);
                    match tree.stat(&path) {
                        Ok(Some((resolved, node))) if node.kind == Kind::File => Some(resolved),
                        _ => None,
                    }
                });
                let Some(resolved) = found else {
                    self.missing
                        .insert((object.path.clone(), soname.clone(), object.layer));
                    continue;
                };
                loaded.insert(soname.clone());
                if let Some(&next) = by_path.get(resolved.as_str())
                    && in_closure.insert(next)
                {
                    loaded.extend(names_of(&objects[next]));
                    queue.push_back((next, passed_on.clone()));
                }
            }
        }
        self.loaded.extend(loaded);
    }
}

/// The ELF files of layer `index` of `tree` that are still there in the whole image
/// (not hidden or replaced by a layer above), with their dynamic sections.
pub fn objects_of_layer(
    tree: &RootFs,
    blob: &LayerBlob,
    index: usize,
    layer: &'static str,
) -> Result<Vec<Object>, ImageError> {
    let fail = |entry: Option<&str>, e: std::io::Error| ImageError::Layer {
        layer: format!("the {layer} layer ({blob})"),
        entry: entry.map(str::to_string),
        problem: e.to_string(),
    };
    let mut archive = tar::Archive::new(blob.open()?);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(|e| fail(None, e))? {
        let mut entry = entry.map_err(|e| fail(None, e))?;
        if entry.header().entry_type() != tar::EntryType::Regular || entry.size() < 4 {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = raw
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_string();
        // Under its canonical path (a parent may be a symbolic link of the base), as the
        // loader's search finds it.
        let path = match tree.lstat(&path) {
            Ok(Some((resolved, node))) if node.layer == index && node.kind == Kind::File => {
                resolved
            }
            _ => continue,
        };
        let mut head = [0u8; 4];
        entry
            .read_exact(&mut head)
            .map_err(|e| fail(Some(&raw), e))?;
        if !elf::is_elf(&head) {
            continue;
        }
        if entry.size() > MAX_OBJECT {
            tracing::warn!(
                "/{path} is {} bytes, more than rtlock reads to find the libraries it needs: \
                 not checked",
                entry.size()
            );
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        bytes.extend_from_slice(&head);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| fail(Some(&raw), e))?;
        match elf::dynamic(&bytes) {
            Ok(Some(dynamic)) if !dynamic.needed.is_empty() => out.push(Object {
                path,
                layer,
                dynamic,
            }),
            Ok(_) => {}
            // A file that only starts like ELF (test data, a truncated file shipped by a
            // package) is not a library the loader would ever map.
            Err(e) => tracing::debug!("/{path}: {e}; not checked"),
        }
    }
    Ok(out)
}

/// Why the check refused the image.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    #[error("{}", describe(.0))]
    Missing(Vec<Missing>),
    #[error("cannot read the built image to check the libraries its shared objects need")]
    Read(#[source] ImageError),
}

/// Lines of missing sonames shown; the rest are counted.
const SHOWN: usize = 20;

fn describe(missing: &[Missing]) -> String {
    let mut out = String::from(
        "shared objects of the built image need libraries that nothing in it provides \
         (the dynamic loader would refuse to load them):",
    );
    for m in missing.iter().take(SHOWN) {
        let owner = match (m.layer, r_package_of(&m.path)) {
            ("r", Some(package)) => format!("R package {package}"),
            (layer, _) => format!("{layer} layer"),
        };
        out.push_str(&format!(
            "\n  /{} ({owner}) needs {}: {}",
            m.path,
            m.soname,
            shipped_by(m)
        ));
    }
    if missing.len() > SHOWN {
        out.push_str(&format!("\n  … and {} more", missing.len() - SHOWN));
    }
    out.push_str(
        "\nhelp: add the packages that ship them to [apt] packages and run `rtlock lock`; \
         for R packages, `[r] system-requirements = true` (the default) has the lock add them",
    );
    out
}

/// Who ships the soname `m` lacks, as far as the cached Contents indexes know.
fn shipped_by(m: &Missing) -> String {
    match m.providers.as_slice() {
        [] => "no Contents index in the cache knows a package that ships it".to_string(),
        [one] => format!("Debian's {one} ships it"),
        many => format!("{} ship it", many.join(", ")),
    }
}

/// `igraph` of `usr/local/lib/R/site-library/igraph/libs/igraph.so`.
fn r_package_of(path: &str) -> Option<&str> {
    let (before, _) = path.split_once("/libs/")?;
    before.rsplit('/').next().filter(|p| !p.is_empty())
}

/// Where a passing check is remembered: `<cache>/checks/loader-v1/<config digest>`. The
/// image config names every layer (its diff_ids) and the environment, all the check
/// depends on, so a rebuild of an unchanged lock does not read the image again.
const STAMPS: &str = "checks/loader-v1";

/// The layers of `image`, bottom first, to be read by [`check`].
pub fn blobs_of(image: &crate::oci::output::Image) -> Result<Vec<LayerBlob>, LoaderError> {
    image
        .layers
        .iter()
        .map(LayerBlob::of_image_layer)
        .collect::<Result<_, _>>()
        .map_err(LoaderError::Read)
}

/// Checks the objects of the `checked` layers (their index in `layers`, bottom first,
/// and their name) in the image made of `layers` with `config`, whose config digest is
/// `config_digest`. Blocking: it reads every layer.
pub fn check(
    layers: &[LayerBlob],
    checked: &[(usize, &'static str)],
    config: &ImageConfig,
    config_digest: &Digest,
    cache_root: &Path,
) -> Result<(), LoaderError> {
    let stamp = cache_root.join(STAMPS).join(config_digest.hex());
    if checked.is_empty() || stamp.exists() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let with_r = checked.iter().any(|(_, name)| *name == "r");
    let keep = |path: &str, size: u64| {
        search::wanted(path, size).or_else(|| {
            with_r
                .then(|| crate::r::layer::library::base_keep(path, size))
                .flatten()
        })
    };
    let tree = RootFs::read(layers, &keep).map_err(LoaderError::Read)?;
    let r_home = if with_r {
        BaseR::from_rootfs(&tree, config)
            .map_err(LoaderError::Read)?
            .r
            .map(|r| r.home)
    } else {
        None
    };
    let env = config
        .config
        .as_ref()
        .and_then(|c| c.env.clone())
        .unwrap_or_default();
    let search = SearchPath::of_image(&tree, &env, &config.architecture, r_home.as_deref());
    let mut objects = Vec::new();
    for (index, name) in checked {
        objects.extend(
            objects_of_layer(&tree, &layers[*index], *index, name).map_err(LoaderError::Read)?,
        );
    }
    let providers = |sonames: &BTreeSet<String>| cached_providers(cache_root, sonames);
    let found = missing(&tree, &objects, &search, &providers);
    tracing::debug!(
        "loader check: {} objects in {:?}, {} sonames missing ({} of objects nothing imports)",
        objects.len(),
        started.elapsed(),
        found.fatal.len() + found.optional.len(),
        found.optional.len()
    );
    for m in &found.optional {
        tracing::warn!(
            "/{} needs {}, which nothing in the image provides; nothing imports it, so the \
             image works until something loads it ({})",
            m.path,
            m.soname,
            shipped_by(m)
        );
    }
    if !found.fatal.is_empty() {
        return Err(LoaderError::Missing(found.fatal));
    }
    // A stamp that cannot be written costs only a check next time.
    let _ = std::fs::create_dir_all(stamp.parent().unwrap_or(cache_root))
        .and_then(|()| std::fs::write(&stamp, b""));
    Ok(())
}

#[cfg(test)]
mod tests;
