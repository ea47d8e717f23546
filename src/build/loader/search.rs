//! Where ld.so looks for a soname in the image: the directories of the environment,
//! `ld.so.conf` and `ld.so.cache`, R's `ldpaths`, the defaults, and the expansion of an
//! object's RPATH and RUNPATH. Where the image leaves a choice open (`$PLATFORM` depends
//! on the CPU the container runs on), every plausible answer is searched: a check that
//! fails a build the loader would accept is worse than one that misses a rare failure.

use std::collections::BTreeSet;

use super::Object;
use crate::image::RootFs;
use crate::image::rootfs::{Keep, join_path, split_parent};

/// How deep `include` lines of ld.so.conf may nest (ldconfig has no limit; a loop must
/// still end).
const MAX_INCLUDE_DEPTH: usize = 8;

/// The directories one ld.so.conf may add (a hostile file must not make the search
/// list, searched for every soname, grow without bound).
const MAX_CONF_DIRS: usize = 4096;

/// Where the loader looks besides an object's own RPATH and RUNPATH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPath {
    /// `LD_LIBRARY_PATH` of the image's environment.
    pub ld_library_path: Vec<String>,
    /// What R's front end adds to `LD_LIBRARY_PATH` before it starts (`R_HOME/lib`,
    /// Java's server directory, … from `R_HOME/etc/ldpaths`), for objects in an R library.
    pub r_ld_library_path: Vec<String>,
    /// The directories of ld.so.conf, in its order, then those of ld.so.cache's entries.
    pub conf: Vec<String>,
    /// The multiarch triplet (`x86_64-linux-gnu`), for the default directories and `$LIB`.
    pub triplet: String,
    /// The values `$PLATFORM` can take on this architecture.
    pub platforms: Vec<String>,
}

/// What of the image the search path reads.
pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    let conf = path == "etc/ld.so.conf" || path.starts_with("etc/ld.so.conf.d/");
    let cache = path == "etc/ld.so.cache" && size <= 16 << 20;
    let ldpaths = path.ends_with("/etc/ldpaths") || path == "etc/R/ldpaths";
    (conf || cache || ldpaths).then_some(Keep::Whole)
}

impl SearchPath {
    /// The search path of `tree` (read keeping [`wanted`] files) for an image of `arch`
    /// (OCI's name: `amd64`) whose environment is `env`; `r_home` is its R's `R.home()`.
    pub fn of_image(tree: &RootFs, env: &[String], arch: &str, r_home: Option<&str>) -> Self {
        let ld_library_path = env
            .iter()
            .find_map(|e| e.strip_prefix("LD_LIBRARY_PATH="))
            .map(split_path_list)
            .unwrap_or_default();
        let (triplet, platforms) = triplet_of(arch);
        let mut conf = ld_so_conf(tree);
        for dir in ld_so_cache_dirs(tree) {
            if !conf.contains(&dir) {
                conf.push(dir);
            }
        }
        SearchPath {
            ld_library_path,
            r_ld_library_path: r_home.map(|h| r_ldpaths(tree, h)).unwrap_or_default(),
            conf,
            triplet: triplet.to_string(),
            platforms: platforms.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// The directories searched for `object`'s needs, in the loader's order.
    /// `loader_rpaths` are the RPATHs of the objects that loaded it, nearest first,
    /// already expanded: without a RUNPATH of its own, ld.so searches its RPATH and then
    /// theirs.
    pub(super) fn for_object(&self, object: &Object, loader_rpaths: &[String]) -> Vec<String> {
        let mut dirs = Vec::new();
        if object.dynamic.runpath.is_empty() {
            dirs.extend(self.own_rpath(object));
            dirs.extend(loader_rpaths.iter().cloned());
        }
        if object.layer == "r" {
            dirs.extend(self.r_ld_library_path.iter().cloned());
        }
        dirs.extend(self.ld_library_path.iter().cloned());
        dirs.extend(self.expand_all(&object.dynamic.runpath, &object.path));
        dirs.extend(self.conf.iter().cloned());
        dirs.extend(self.default_dirs());
        dirs
    }

    /// The RPATH `object` passes on to what it loads: its own, unless a RUNPATH makes
    /// ld.so ignore it.
    pub(super) fn own_rpath(&self, object: &Object) -> Vec<String> {
        if object.dynamic.runpath.is_empty() {
            self.expand_all(&object.dynamic.rpath, &object.path)
        } else {
            Vec::new()
        }
    }

    fn expand_all(&self, dirs: &[String], path: &str) -> Vec<String> {
        let (origin, _) = split_parent(path);
        dirs.iter().flat_map(|d| self.expand(d, origin)).collect()
    }

    /// A RPATH or RUNPATH entry with its dynamic string tokens expanded (ld.so(8),
    /// "Dynamic string tokens"), as absolute paths: one for each `$PLATFORM` value it may
    /// stand for. An entry relative to the process's working directory says nothing
    /// about the image and gives none.
    fn expand(&self, dir: &str, origin: &str) -> Vec<String> {
        let lib = format!("lib/{}", self.triplet);
        let origin = format!("/{origin}");
        let platforms: &[String] = if dir.contains("PLATFORM") {
            &self.platforms
        } else {
            &self.platforms[..self.platforms.len().min(1)]
        };
        platforms
            .iter()
            .map(|platform| {
                substitute(
                    dir,
                    &[("ORIGIN", &origin), ("LIB", &lib), ("PLATFORM", platform)],
                )
            })
            .filter(|d| d.starts_with('/'))
            .collect()
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

/// `$NAME` and `${NAME}` replaced in one left-to-right pass; as ld.so's `is_dst`, a
/// bare `$NAME` counts only when no name character follows (`$LIBX` is not `$LIB`).
/// Unknown tokens are left as written.
fn substitute(text: &str, tokens: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let hit = tokens.iter().find_map(|(name, value)| {
            if let Some(tail) = after.strip_prefix('{').and_then(|a| a.strip_prefix(name))
                && let Some(tail) = tail.strip_prefix('}')
            {
                return Some((*value, tail));
            }
            let tail = after.strip_prefix(name)?;
            let boundary = !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
            boundary.then_some((*value, tail))
        });
        match hit {
            Some((value, tail)) => {
                out.push_str(value);
                rest = tail;
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The directories of `etc/ld.so.conf`, following `include` lines (glob patterns; a
/// relative one against the including file's directory, as ldconfig reads them).
/// `hwcap` lines are ignored.
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
    let (here, _) = split_parent(path);
    let text = String::from_utf8_lossy(&bytes);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if let Some(patterns) = line.strip_prefix("include")
            && patterns.starts_with([' ', '\t'])
        {
            for pattern in patterns.split_whitespace() {
                let pattern = match pattern.strip_prefix('/') {
                    Some(absolute) => absolute.to_string(),
                    None => join_path(here, pattern),
                };
                for file in glob(tree, &pattern) {
                    read_conf(tree, &file, depth + 1, seen, out);
                }
            }
            continue;
        }
        if line.is_empty() || line.starts_with("hwcap") {
            continue;
        }
        // One directory a line, for ldconfig; older ones split on white space, commas
        // and colons too, which costs nothing to accept.
        for dir in line.split([' ', '\t', ',', ':']).filter(|d| !d.is_empty()) {
            if out.len() >= MAX_CONF_DIRS {
                return;
            }
            if dir.starts_with('/') && !out.iter().any(|d| d == dir) {
                out.push(dir.trim_end_matches('/').to_string());
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

/// Whether the file name `name` matches `pattern`: `*`, `?`, and `[…]` taken as any one
/// character (lenient: a few more files read, never one missed). Iterative, with the
/// last `*` remembered, so a hostile pattern costs at most pattern × name steps.
pub(super) fn wildcard(pattern: &str, name: &str) -> bool {
    let pattern = class_as_any(pattern);
    let (p, n) = (pattern.as_slice(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// `[…]` classes replaced by `?`.
fn class_as_any(pattern: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(pattern.len());
    let mut bytes = pattern.bytes();
    while let Some(b) = bytes.next() {
        if b == b'[' {
            for c in bytes.by_ref() {
                if c == b']' {
                    break;
                }
            }
            out.push(b'?');
        } else {
            out.push(b);
        }
    }
    out
}

/// The directories of the libraries `etc/ld.so.cache` lists (glibc's
/// `glibc-ld.so.cache1.1` format, dl-cache.h): `ldconfig DIR` registers a directory in
/// the cache only, and ld.so reads the cache, not ld.so.conf. The old `ld.so-1.7.0`
/// format, which may precede it, is skipped. A damaged cache gives nothing.
pub fn ld_so_cache_dirs(tree: &RootFs) -> Vec<String> {
    let Ok(Some(bytes)) = tree.read_file("etc/ld.so.cache") else {
        return Vec::new();
    };
    cache_dirs(&bytes)
}

const CACHE_MAGIC_NEW: &[u8] = b"glibc-ld.so.cache1.1";
const CACHE_MAGIC_OLD: &[u8] = b"ld.so-1.7.0";

pub(super) fn cache_dirs(bytes: &[u8]) -> Vec<String> {
    let Some(start) = new_format_start(bytes) else {
        return Vec::new();
    };
    let header = &bytes[start..];
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            b.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    // magic+version (20), nlibs (4), len_strings (4), flags (1), padding (3),
    // extension offset (4), unused (12): entries follow at 48, 24 bytes each.
    let Some(nlibs) = u32_at(header, 20) else {
        return Vec::new();
    };
    let mut dirs = BTreeSet::new();
    for i in 0..nlibs as usize {
        let Some(at) = i.checked_mul(24).and_then(|o| o.checked_add(48)) else {
            break;
        };
        // flags (4), key (4), value (4): the value is the library's path, an offset
        // from the start of this header.
        let Some(value) = u32_at(header, at + 8) else {
            break;
        };
        let Some(path) = c_string(header, value as usize) else {
            continue;
        };
        if let Some((dir, _)) = path.rsplit_once('/')
            && dir.starts_with('/')
        {
            dirs.insert(dir.to_string());
        }
        if dirs.len() >= MAX_CONF_DIRS {
            break;
        }
    }
    dirs.into_iter().collect()
}

/// Where the new-format header begins: at 0, or after an old-format table.
fn new_format_start(bytes: &[u8]) -> Option<usize> {
    if bytes.starts_with(CACHE_MAGIC_NEW) {
        return Some(0);
    }
    if !bytes.starts_with(CACHE_MAGIC_OLD) {
        return None;
    }
    // Old header: magic (11), padding to 12, nlibs (4); entries of 12 bytes; the new
    // header follows, aligned to 8 bytes.
    let nlibs = u32::from_le_bytes(bytes.get(12..16)?.try_into().ok()?) as usize;
    let end = nlibs.checked_mul(12)?.checked_add(16)?;
    let start = end.checked_add(7)? & !7;
    bytes
        .get(start..)?
        .starts_with(CACHE_MAGIC_NEW)
        .then_some(start)
}

fn c_string(bytes: &[u8], at: usize) -> Option<&str> {
    let tail = bytes.get(at..)?;
    let end = memchr::memchr(0, tail)?;
    std::str::from_utf8(&tail[..end]).ok()
}

/// What R's front end puts before `LD_LIBRARY_PATH` (`R_HOME/etc/ldpaths`, sourced by
/// the `R` script): its `: ${NAME=VALUE}` defaults read statically, with `${R_HOME}` and
/// the names defined before expanded. Every default of `R_LD_LIBRARY_PATH` counts
/// (the file picks one in an `if`, which is not run here). Without the file:
/// `R_HOME/lib`, R's own default.
fn r_ldpaths(tree: &RootFs, r_home: &str) -> Vec<String> {
    let home = r_home.trim_end_matches('/');
    let mut dirs = vec![format!("{home}/lib")];
    let path = format!("{}/etc/ldpaths", home.trim_start_matches('/'));
    let Ok(Some(bytes)) = tree.read_file(&path) else {
        return dirs;
    };
    let text = String::from_utf8_lossy(&bytes);
    let mut vars: Vec<(String, String)> = vec![("R_HOME".into(), home.to_string())];
    for line in text.lines() {
        let Some(body) = line
            .trim()
            .strip_prefix(": ${")
            .and_then(|b| b.strip_suffix('}'))
        else {
            continue;
        };
        let Some((name, value)) = body.split_once('=') else {
            continue;
        };
        let name = name.trim_end_matches(':');
        let tokens: Vec<(&str, &str)> =
            vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let value = substitute(value, &tokens);
        if name == "R_LD_LIBRARY_PATH" {
            for dir in split_path_list(&value) {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
        if !vars.iter().any(|(n, _)| n == name) {
            vars.push((name.to_string(), value));
        }
    }
    dirs
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

/// The multiarch triplet of an OCI architecture, and the values `$PLATFORM` takes there
/// (glibc's `GLRO(dl_platform)`: on x86_64 a CPU-dependent name, else the kernel's
/// `AT_PLATFORM`).
fn triplet_of(arch: &str) -> (&'static str, &'static [&'static str]) {
    match arch {
        "arm64" => ("aarch64-linux-gnu", &["aarch64"]),
        "arm" => ("arm-linux-gnueabihf", &["v7l", "v8l", "armv7l"]),
        "ppc64le" => (
            "powerpc64le-linux-gnu",
            &["power8", "power9", "power10", "ppc64le"],
        ),
        "s390x" => ("s390x-linux-gnu", &["z13", "z14", "z15", "z16", "s390x"]),
        "386" => ("i386-linux-gnu", &["i686", "i586", "i386"]),
        _ => ("x86_64-linux-gnu", &["x86_64", "haswell", "xeon_phi"]),
    }
}
