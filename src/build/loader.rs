//! Every shared object the pip and R layers add finds the libraries it needs, looked for
//! as the dynamic loader will look for them in the built image: a wheel or an R binary
//! linked against a library that nothing provides imports fine at build time and fails
//! in the user's session (`library(sf)`: "libgdal.so.32: cannot open shared object
//! file"). The apt layer is left to Debian's own dependencies: its plugins whose
//! libraries come from Suggests are normal there.
//!
//! The search order is glibc's (ld.so(8), "Rules"), for each `DT_NEEDED` soname of an
//! object:
//! 1. a name with a `/` is a path, and nothing is searched;
//! 2. the object's `DT_RPATH`, only when it has no `DT_RUNPATH`;
//! 3. `LD_LIBRARY_PATH`, from the image's environment; R's front end puts `R_HOME/lib`
//!    there before it starts (`R_HOME/etc/ldpaths`, `R_LD_LIBRARY_PATH`), so objects in
//!    an R library also search it;
//! 4. the object's `DT_RUNPATH`;
//! 5. the directories of `/etc/ld.so.conf` and the files it includes (what `ldconfig`
//!    puts in `ld.so.cache`);
//! 6. the default directories, `/lib` and `/usr/lib` with their multiarch and `64`
//!    forms.
//!
//! `$ORIGIN` (the object's own directory), `$LIB` and `$PLATFORM` are expanded in RPATH
//! and RUNPATH as ld.so does. A soname counts as found when the path leads (through
//! symbolic links inside the image) to a regular file. The sonames of the NVIDIA driver
//! are never in an image: the container runtime mounts them when a GPU is attached, so
//! they are not asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use std::path::Path;

use crate::apt::index::contents::cached_providers;
use crate::elf::{self, Dynamic};
use crate::image::rootfs::{Keep, Kind, join_path, split_parent};
use crate::image::{ImageError, LayerBlob, RootFs};
use crate::oci::Digest;
use crate::oci::types::ImageConfig;
use crate::r::inventory::base::BaseR;

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
];

/// The largest object read to find its dynamic section (CUDA libraries in wheels reach
/// a few hundred MB; their section lies near the end, so the whole file is read).
const MAX_OBJECT: u64 = 1 << 30;

/// How deep `include` lines of ld.so.conf may nest (ldconfig has no limit; a loop must
/// still end).
const MAX_INCLUDE_DEPTH: usize = 8;

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

/// Where the loader looks besides an object's own RPATH and RUNPATH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    /// `LD_LIBRARY_PATH` of the image's environment.
    pub ld_library_path: Vec<String>,
    /// The directory of the image's R's own libraries (`R_HOME/lib`), searched first
    /// for objects under an R library.
    pub r_lib: Option<String>,
    /// The directories of ld.so.conf, in its order.
    pub conf: Vec<String>,
    /// The multiarch triplet (`x86_64-linux-gnu`), for the default directories and `$LIB`.
    pub triplet: String,
    /// `$PLATFORM` (`x86_64`).
    pub platform: String,
}

impl SearchPath {
    /// The search path of `tree` (which must have been read keeping [`wanted`] files)
    /// for an image of `arch` (OCI's name: `amd64`) whose environment is `env`.
    pub fn of_image(tree: &RootFs, env: &[String], arch: &str, r_home: Option<&str>) -> Self {
        let ld_library_path = env
            .iter()
            .find_map(|e| e.strip_prefix("LD_LIBRARY_PATH="))
            .map(split_path_list)
            .unwrap_or_default();
        let (triplet, platform) = triplet_of(arch);
        SearchPath {
            ld_library_path,
            r_lib: r_home.map(|home| format!("{}/lib", home.trim_end_matches('/'))),
            conf: ld_so_conf(tree),
            triplet: triplet.to_string(),
            platform: platform.to_string(),
        }
    }

    /// The directories searched for `object`'s needs, in the loader's order.
    /// `loader_rpaths` are the RPATHs of the objects that loaded it, nearest first,
    /// already expanded: without a RUNPATH of its own, ld.so searches its RPATH and then
    /// theirs.
    fn for_object(&self, object: &Object, loader_rpaths: &[String]) -> Vec<String> {
        let mut dirs = Vec::new();
        if object.dynamic.runpath.is_empty() {
            dirs.extend(self.own_rpath(object));
            dirs.extend(loader_rpaths.iter().cloned());
        }
        if object.layer == "r"
            && let Some(lib) = &self.r_lib
        {
            dirs.push(lib.clone());
        }
        dirs.extend(self.ld_library_path.iter().cloned());
        dirs.extend(self.expand_all(&object.dynamic.runpath, &object.path));
        dirs.extend(self.conf.iter().cloned());
        dirs.extend(self.default_dirs());
        dirs
    }

    /// The RPATH `object` passes on to what it loads: its own, unless a RUNPATH makes
    /// ld.so ignore it.
    fn own_rpath(&self, object: &Object) -> Vec<String> {
        if object.dynamic.runpath.is_empty() {
            self.expand_all(&object.dynamic.rpath, &object.path)
        } else {
            Vec::new()
        }
    }

    fn expand_all(&self, dirs: &[String], path: &str) -> Vec<String> {
        let (origin, _) = split_parent(path);
        dirs.iter().filter_map(|d| self.expand(d, origin)).collect()
    }

    /// A RPATH or RUNPATH entry with its dynamic string tokens expanded, as an absolute
    /// path; `None` for an entry relative to the process's working directory, which the
    /// image cannot say anything about.
    fn expand(&self, dir: &str, origin: &str) -> Option<String> {
        let lib = format!("lib/{}", self.triplet);
        let mut out = dir.to_string();
        for (token, value) in [
            ("ORIGIN", format!("/{origin}")),
            ("LIB", lib),
            ("PLATFORM", self.platform.clone()),
        ] {
            out = out
                .replace(&format!("${{{token}}}"), &value)
                .replace(&format!("${token}"), &value);
        }
        out.starts_with('/').then_some(out)
    }

    fn default_dirs(&self) -> Vec<String> {
        let t = &self.triplet;
        vec![
            format!("/lib/{t}"),
            format!("/usr/lib/{t}"),
            "/lib".into(),
            "/usr/lib".into(),
            "/lib64".into(),
            "/usr/lib64".into(),
        ]
    }
}

/// What of the image the check reads: ld.so.conf and what it includes.
pub fn wanted(path: &str, _size: u64) -> Option<Keep> {
    (path == "etc/ld.so.conf" || path.starts_with("etc/ld.so.conf.d/")).then_some(Keep::Whole)
}

/// The Debian packages that ship each of some sonames (those it knows).
pub type Providers<'a> = dyn Fn(&BTreeSet<String>) -> BTreeMap<String, Vec<String>> + 'a;

/// The needs of `objects` that nothing in `tree` (the whole built image) provides.
/// `providers` gives the Debian packages that ship a soname, for the message.
///
/// Each object nothing else in `objects` needs is a root, the file the interpreter
/// opens (an extension module, an R package's `libs/*.so`); its needs are followed as
/// ld.so loads them, breadth first, a name already loaded (by file name or soname)
/// being taken as is. That is how a library bundled in `scipy.libs/` without a RUNPATH
/// of its own finds its sibling: the extension module's RUNPATH loaded it first.
pub fn missing(
    tree: &RootFs,
    objects: &[Object],
    search: &SearchPath,
    providers: &Providers<'_>,
) -> Vec<Missing> {
    let by_path: BTreeMap<&str, usize> = objects
        .iter()
        .enumerate()
        .map(|(i, o)| (o.path.as_str(), i))
        .collect();
    let needed: BTreeSet<&str> = objects
        .iter()
        .flat_map(|o| o.dynamic.needed.iter().map(String::as_str))
        .collect();
    let is_needed = |o: &Object| {
        let (_, file) = split_parent(&o.path);
        needed.contains(file)
            || o.dynamic
                .soname
                .as_deref()
                .is_some_and(|s| needed.contains(s))
    };
    let mut visited = vec![false; objects.len()];
    let mut out: BTreeSet<(String, String, &'static str)> = BTreeSet::new();
    let roots = (0..objects.len()).filter(|&i| !is_needed(&objects[i]));
    // Then whatever no root reached (objects that only need each other), each as a root.
    let rest: Vec<usize> = (0..objects.len()).collect();
    for root in roots.collect::<Vec<_>>().into_iter().chain(rest) {
        if visited[root] {
            continue;
        }
        load(
            tree,
            objects,
            &by_path,
            search,
            root,
            &mut visited,
            &mut out,
        );
    }
    let mut out: Vec<Missing> = out
        .into_iter()
        .map(|(path, soname, layer)| Missing {
            path,
            layer,
            soname,
            providers: Vec::new(),
        })
        .collect();
    let sonames: BTreeSet<String> = out.iter().map(|m| m.soname.clone()).collect();
    if !sonames.is_empty() {
        let known = providers(&sonames);
        for m in &mut out {
            m.providers = known.get(&m.soname).cloned().unwrap_or_default();
        }
    }
    out
}

/// Loads `root` as ld.so would, recording (object, soname, layer) for each need found
/// nowhere. Objects of `objects` it reaches are marked `visited`; libraries outside
/// them (the base's, apt's) are not followed.
fn load(
    tree: &RootFs,
    objects: &[Object],
    by_path: &BTreeMap<&str, usize>,
    search: &SearchPath,
    root: usize,
    visited: &mut [bool],
    out: &mut BTreeSet<(String, String, &'static str)>,
) {
    let names_of = |o: &Object| {
        let (_, file) = split_parent(&o.path);
        let mut names = vec![file.to_string()];
        names.extend(o.dynamic.soname.clone());
        names
    };
    let mut loaded: BTreeSet<String> = names_of(&objects[root]).into_iter().collect();
    let mut in_closure = BTreeSet::from([root]);
    // (object, the RPATHs of the objects that loaded it, nearest first)
    let mut queue = std::collections::VecDeque::from([(root, Vec::<String>::new())]);
    while let Some((index, loader_rpaths)) = queue.pop_front() {
        visited[index] = true;
        let object = &objects[index];
        let dirs = search.for_object(object, &loader_rpaths);
        let mut passed_on = search.own_rpath(object);
        passed_on.extend(loader_rpaths.iter().cloned());
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
                out.insert((object.path.clone(), soname.clone(), object.layer));
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

/// The directories of `etc/ld.so.conf`, following `include` lines (glob patterns,
/// relative ones against `/etc`, as ldconfig reads them). `hwcap` lines are ignored.
pub fn ld_so_conf(tree: &RootFs) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    read_conf(tree, "etc/ld.so.conf", 0, &mut seen, &mut out);
    out
}

fn read_conf(
    tree: &RootFs,
    path: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) {
    if depth > MAX_INCLUDE_DEPTH || !seen.insert(path.to_string()) {
        return;
    }
    let Ok(Some(bytes)) = tree.read_file(path) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include") {
            if !pattern.starts_with([' ', '\t']) {
                continue;
            }
            for pattern in pattern.split_whitespace() {
                let pattern = if pattern.starts_with('/') {
                    pattern.trim_start_matches('/').to_string()
                } else {
                    format!("etc/{pattern}")
                };
                for file in glob(tree, &pattern) {
                    read_conf(tree, &file, depth + 1, seen, out);
                }
            }
            continue;
        }
        if line.starts_with("hwcap") {
            continue;
        }
        // Directories may be separated by spaces, tabs, commas or colons (ldconfig).
        for dir in line.split([' ', '\t', ',', ':']).filter(|d| !d.is_empty()) {
            // `DIR=TYPE` (libc4/libc5 days) still names DIR.
            let dir = dir.split('=').next().unwrap_or(dir);
            if dir.starts_with('/') && !out.iter().any(|d| d == dir) {
                out.push(dir.to_string());
            }
        }
    }
}

/// The files `pattern` (`etc/ld.so.conf.d/*.conf`: wildcards in the last component
/// only, which is how every ld.so.conf seen in practice writes it) matches, sorted as
/// glob(3) sorts them.
fn glob(tree: &RootFs, pattern: &str) -> Vec<String> {
    let (dir, name) = split_parent(pattern);
    if !name.contains(['*', '?', '[']) {
        return vec![pattern.to_string()];
    }
    let Ok(entries) = tree.list_dir(dir) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|(entry, _)| !entry.starts_with('.') && wildcard(name, entry))
        .map(|(entry, _)| join_path(dir, &entry))
        .collect()
}

/// `*` and `?` matching of a whole file name (`[…]` classes match nothing).
fn wildcard(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(b'['), _) => false,
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// `LD_LIBRARY_PATH`'s directories: split on `:` and `;` as ld.so splits it; empty
/// entries (the working directory) say nothing about the image.
fn split_path_list(value: &str) -> Vec<String> {
    value
        .split([':', ';'])
        .filter(|d| d.starts_with('/'))
        .map(str::to_string)
        .collect()
}

/// The multiarch triplet and `$PLATFORM` of an OCI architecture.
fn triplet_of(arch: &str) -> (&'static str, &'static str) {
    match arch {
        "arm64" => ("aarch64-linux-gnu", "aarch64"),
        "arm" => ("arm-linux-gnueabihf", "armv7l"),
        "ppc64le" => ("powerpc64le-linux-gnu", "ppc64le"),
        "s390x" => ("s390x-linux-gnu", "s390x"),
        "386" => ("i386-linux-gnu", "i686"),
        _ => ("x86_64-linux-gnu", "x86_64"),
    }
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
        let shipped = match m.providers.as_slice() {
            [] => "no Contents index in the cache knows a package that ships it".to_string(),
            [one] => format!("Debian's {one} ships it"),
            many => format!("{} ship it", many.join(", ")),
        };
        out.push_str(&format!(
            "\n  /{} ({owner}) needs {}: {shipped}",
            m.path, m.soname
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
        .map(|layer| {
            let location = crate::image::store::BlobLocation::file(&layer.path).map_err(|e| {
                LoaderError::Read(ImageError::io(
                    format!("cannot open the layer {}", layer.path.display()),
                    e,
                ))
            })?;
            Ok(LayerBlob {
                media_type: Some(layer.descriptor.media_type.clone()),
                digest: Some(layer.descriptor.digest.clone()),
                size: Some(layer.descriptor.size),
                diff_id: Some(layer.diff_id.clone()),
                location,
            })
        })
        .collect()
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
        wanted(path, size).or_else(|| {
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
        "loader check: {} objects in {:?}, {} sonames missing",
        objects.len(),
        started.elapsed(),
        found.len()
    );
    if !found.is_empty() {
        return Err(LoaderError::Missing(found));
    }
    // A stamp that cannot be written costs only a check next time.
    let _ = std::fs::create_dir_all(stamp.parent().unwrap_or(cache_root))
        .and_then(|()| std::fs::write(&stamp, b""));
    Ok(())
}

#[cfg(test)]
mod tests;
