//! `Contents-<arch>` indexes: which package ships which file, reduced to what the lock
//! asks of them, the packages that ship a shared library of a given soname.
//!
//! The format (Debian wiki, DebianRepository/Format, "Contents indices"): one line per
//! file, `PATH<whitespace>LOCATIONS`, the path without its leading `/` (and possibly
//! holding spaces: the locations are the last column), the locations a comma-separated
//! list of `[AREA/]SECTION/PACKAGE`. Files from before the format was fixed open with free
//! text ending in a `FILE  LOCATION` line, which is skipped.
//!
//! Where: `dists/SUITE/COMPONENT/Contents-ARCH{.gz,.xz,}` (older archives:
//! `dists/SUITE/Contents-ARCH…`, one for every component; a flat repository: beside its
//! Release). Only a file the signed Release lists is read, fetched by the sha256 it gives
//! ([`Fetcher::fetch_verified`]): a tampered or stale copy is refused, never used.
//! `.gz` is tried first (it decompresses several times faster than `.xz`, which matters
//! more here than the smaller download), then `.xz`, then plain. `Contents-all` (the
//! `Architecture: all` packages) is not read: shared objects are built per architecture,
//! and Debian's is three times the size of `Contents-amd64`.
//!
//! Size: bookworm's `main/Contents-amd64.gz` is 11.6 MB, 148 MB decompressed. It is
//! decompressed as a stream and only the lines of shared objects under a library
//! directory are kept (about 60,000 of 1.5 million); that reduction is cached under the
//! fetch cache by the sha256 of the Contents file, so a warm lock reads a few MB instead.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, TryStreamExt};
use url::Url;

use super::release::IndexFile;
use super::{IndexError, Repository, is_missing, join};
use crate::fetch::{Fetcher, redact};

/// Contents indexes read at once (each is mostly CPU: decompression).
const PARALLEL: usize = 2;

/// The cached reductions: `<cache>/apt-contents/<FORMAT>/<sha256>`. Bump when what
/// [`Libraries::from_contents`] keeps changes.
const CACHE_DIR: &str = "apt-contents";
const FORMAT: &str = "v1";

/// The packages that ship each shared object of one Contents index (or several merged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Libraries {
    /// File name (`libglpk.so.40`) → package → whether one of its copies is in a
    /// directory the dynamic loader searches by default (see [`library_file`]).
    files: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Libraries {
    /// The shared objects of a Contents index's text.
    pub fn from_contents(reader: impl BufRead) -> std::io::Result<Libraries> {
        let mut out = Libraries::default();
        let mut reader = reader;
        let mut line = Vec::with_capacity(256);
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            // The end of an old-style header: what came before was prose.
            if line.starts_with(b"FILE") && is_header_end(&line) {
                out.files.clear();
                continue;
            }
            // Cheap filters first: nearly every line fails one of them.
            if !(line.starts_with(b"usr/lib") || line.starts_with(b"lib"))
                || memchr::memmem::find(&line, b".so").is_none()
            {
                continue;
            }
            let Ok(text) = std::str::from_utf8(&line) else {
                continue;
            };
            let Some((path, locations)) = split_line(text) else {
                continue;
            };
            let Some((name, default_dir)) = library_file(path) else {
                continue;
            };
            for location in locations.split(',') {
                let package = location.rsplit('/').next().unwrap_or_default().trim();
                if crate::apt::relation::is_valid_package_name(package) {
                    out.add(name, package, default_dir);
                }
            }
        }
        Ok(out)
    }

    fn add(&mut self, name: &str, package: &str, default_dir: bool) {
        let packages = self.files.entry(name.to_string()).or_default();
        let seen = packages.entry(package.to_string()).or_insert(default_dir);
        *seen |= default_dir;
    }

    /// How many shared-object file names are known.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The packages that ship a file named `soname` where the loader finds it by
    /// default; when none does, those that ship it in another library directory (a
    /// library reached through `ld.so.conf.d` or an alternative, such as
    /// `x86_64-linux-gnu/blas/libblas.so.3`). Sorted; empty when no package ships it.
    pub fn providers(&self, soname: &str) -> Vec<String> {
        let Some(packages) = self.files.get(soname) else {
            return Vec::new();
        };
        let default: Vec<String> = packages
            .iter()
            .filter(|(_, in_default)| **in_default)
            .map(|(p, _)| p.clone())
            .collect();
        if default.is_empty() {
            packages.keys().cloned().collect()
        } else {
            default
        }
    }

    /// The cache file's text: a header naming the Contents file's sha256, one
    /// `NAME\tPACKAGE\t{d,o}` line each, and a count that proves the file whole.
    fn to_cache(&self, sha256: &str) -> String {
        let mut out = format!("rtlock apt-contents {FORMAT} {sha256}\n");
        let mut count = 0usize;
        for (name, packages) in &self.files {
            for (package, default_dir) in packages {
                let flag = if *default_dir { 'd' } else { 'o' };
                out.push_str(&format!("{name}\t{package}\t{flag}\n"));
                count += 1;
            }
        }
        out.push_str(&format!("end {count}\n"));
        out
    }
}

/// One Contents index's reduction as the cache keeps it ([`Libraries::to_cache`]):
/// read as text, never rebuilt into maps, since a lock asks it about a handful of
/// sonames (one pass over a few MB) where building the maps would cost more than the
/// whole question.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Table {
    /// The `NAME\tPACKAGE\t{d,o}` lines, without the header and the count.
    lines: String,
}

impl Table {
    /// The reduction cached for the Contents file `sha256`; `None` when it is of
    /// another format or file, or not whole (then it is made again).
    fn parse(mut text: String, sha256: &str) -> Option<Table> {
        let header = format!("rtlock apt-contents {FORMAT} {sha256}\n");
        if !text.starts_with(&header) {
            return None;
        }
        let body = text.strip_suffix('\n')?;
        let (body, last) = body.rsplit_once('\n')?;
        let count: usize = last.strip_prefix("end ")?.parse().ok()?;
        let lines = body.get(header.len()..).unwrap_or_default();
        let lines_seen = if lines.is_empty() {
            0
        } else {
            memchr::memchr_iter(b'\n', lines.as_bytes()).count() + 1
        };
        if lines_seen != count {
            return None;
        }
        let end = header.len() + lines.len() + usize::from(!lines.is_empty());
        text.truncate(end);
        text.drain(..header.len());
        Some(Table { lines: text })
    }

    /// `(name, package, in a default directory)` of every line.
    fn entries(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.lines.lines().filter_map(|line| {
            let mut fields = line.split('\t');
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some(name), Some(package), Some(flag), None) => Some((name, package, flag == "d")),
                _ => None,
            }
        })
    }
}

/// `FILE<spaces>LOCATION`, the last line of an old-style header.
fn is_header_end(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    words.next() == Some("FILE") && words.next() == Some("LOCATION") && words.next().is_none()
}

/// (path, locations) of a Contents line: the locations are the last column, the path
/// all before it (it may hold spaces).
fn split_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_end();
    let (path, locations) = line.rsplit_once([' ', '\t'])?;
    let path = path.trim_end();
    (!path.is_empty() && !locations.is_empty()).then_some((path, locations))
}

/// The file name of `path` when it is a shared object (`*.so`, `*.so.*`) under a library
/// directory, and whether it sits in one the dynamic loader searches by default: `lib`,
/// `usr/lib`, their `64` variants and multiarch subdirectories (`usr/lib/x86_64-linux-gnu`).
/// `lib32`, `libx32` and the like hold another ABI's libraries and are left out.
pub fn library_file(path: &str) -> Option<(&str, bool)> {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let under = ["usr/lib/", "lib/", "usr/lib64/", "lib64/"]
        .iter()
        .any(|prefix| path.starts_with(prefix));
    if !under {
        return None;
    }
    let (dir, name) = path.rsplit_once('/')?;
    let shared = name.ends_with(".so") || name.contains(".so.");
    if !shared || name.starts_with(".so") || name.contains(char::is_whitespace) {
        return None;
    }
    let dir = dir.strip_prefix("usr/").unwrap_or(dir);
    let default_dir = match dir.split_once('/') {
        None => true,
        Some(("lib", sub)) => !sub.contains('/') && is_multiarch_triplet(sub),
        Some(_) => false,
    };
    Some((name, default_dir))
}

/// A GNU triplet as Debian's multiarch directories name them (`x86_64-linux-gnu`,
/// `arm-linux-gnueabihf`, `i386-gnu` on the Hurd).
fn is_multiarch_triplet(dir: &str) -> bool {
    dir.contains("-linux-") || dir.ends_with("-gnu") || dir.contains("-kfreebsd-")
}

/// One Contents index a Release lists: its variants (compressions) in the order tried.
#[derive(Debug, Clone)]
struct ContentsFile {
    /// The suite's directory (`…/dists/bookworm/`).
    dist: Url,
    release_url: Url,
    acquire_by_hash: bool,
    /// `main/` or empty (an old suite-wide file, a flat repository).
    dir: String,
    variants: Vec<IndexFile>,
}

/// The Contents indexes of `repository` for `arch`: one per component, else the
/// suite-wide one. None when the Release lists none (a repository made without them).
fn contents_files(repository: &Repository, arch: &str) -> Result<Vec<ContentsFile>, IndexError> {
    let source = &repository.source;
    let dist = Url::parse(&source.dist_url()).map_err(|e| IndexError::Source {
        origin: source.origin.clone(),
        message: format!("`{}` is not a URL: {e}", source.uri),
    })?;
    let listed = |dir: &str| -> Vec<IndexFile> {
        [".gz", ".xz", ""]
            .iter()
            .filter_map(|ext| {
                repository
                    .release
                    .file(&format!("{dir}Contents-{arch}{ext}"))
            })
            .cloned()
            .collect()
    };
    let file = |dir: String, variants: Vec<IndexFile>| ContentsFile {
        dist: dist.clone(),
        release_url: repository.release_url.clone(),
        acquire_by_hash: repository.release.acquire_by_hash,
        dir,
        variants,
    };
    let mut out: Vec<ContentsFile> = source
        .components
        .iter()
        .map(|c| (format!("{c}/"), listed(&format!("{c}/"))))
        .filter(|(_, v)| !v.is_empty())
        .map(|(dir, v)| file(dir, v))
        .collect();
    if out.is_empty() {
        let whole = listed("");
        if !whole.is_empty() {
            out.push(file(String::new(), whole));
        }
    }
    Ok(out)
}

fn cache_path(fetcher: &Fetcher, sha256: &str) -> PathBuf {
    fetcher
        .cache()
        .root()
        .join(CACHE_DIR)
        .join(FORMAT)
        .join(sha256)
}

/// The packages that ship each of `sonames`, from every Contents reduction an earlier
/// `lock` left in the cache under `cache_root` (whichever archives those were): a hint
/// for a message, when no Release is at hand to say which index is current. A soname
/// no cached index knows is absent.
pub fn cached_providers(
    cache_root: &Path,
    sonames: &BTreeSet<String>,
) -> BTreeMap<String, Vec<String>> {
    let dir = cache_root.join(CACHE_DIR).join(FORMAT);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return BTreeMap::new();
    };
    let mut tables = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Ok(text) = std::fs::read_to_string(entry.path())
            && let Some(table) = Table::parse(text, &name)
        {
            tables.push(table);
        }
    }
    let indexes = tables.len();
    SharedObjects { tables, indexes }.providers_of(sonames)
}

/// A cached reduction of any variant of `file` (they hold the same lines).
fn cached(fetcher: &Fetcher, file: &ContentsFile) -> Option<Table> {
    file.variants.iter().find_map(|v| {
        let text = std::fs::read_to_string(cache_path(fetcher, &v.sha256)).ok()?;
        Table::parse(text, &v.sha256)
    })
}

/// Keeps a reduction, and gives it in the form a cached one is read in. A cache that
/// cannot be written only costs a re-read next time.
fn keep(fetcher: &Fetcher, sha256: &str, libraries: &Libraries) -> Table {
    let text = libraries.to_cache(sha256);
    let path = cache_path(fetcher, sha256);
    let kept = (|| -> Option<()> {
        let mut temp = fetcher.cache().temp_file().ok()?;
        temp.write_all(text.as_bytes()).ok()?;
        std::fs::create_dir_all(path.parent()?).ok()?;
        temp.persist(&path).ok()?;
        Some(())
    })();
    if kept.is_none() {
        tracing::debug!("could not keep {} in the cache", path.display());
    }
    Table::parse(text, sha256).expect("to_cache writes what Table::parse reads")
}

/// The shared objects of one Contents index: the cached reduction, else the file
/// fetched by its signed sha256 and reduced.
async fn read_contents(fetcher: &Fetcher, file: &ContentsFile) -> Result<Table, IndexError> {
    if let Some(table) = cached(fetcher, file) {
        return Ok(table);
    }
    for variant in &file.variants {
        let mut paths = Vec::with_capacity(2);
        if file.acquire_by_hash {
            paths.push(format!("{}by-hash/SHA256/{}", file.dir, variant.sha256));
        }
        paths.push(variant.path.clone());
        for candidate in paths {
            let url = join(&file.dist, &candidate)?;
            let blob = match fetcher
                .fetch_verified(&url, &variant.sha256, Some(variant.size))
                .await
            {
                Ok(blob) => blob,
                // Debian lists the plain file's hash but does not serve it.
                Err(e) if is_missing(&e) => continue,
                Err(e) => {
                    return Err(IndexError::Fetch {
                        what: format!(
                            "{} does not match the signed {} (or could not be fetched)",
                            variant.path,
                            redact(&file.release_url)
                        ),
                        source: e,
                    });
                }
            };
            let started = std::time::Instant::now();
            let (path, name) = (blob.path.clone(), variant.path.clone());
            let libraries = tokio::task::spawn_blocking(move || reduce_file(&path, &name))
                .await
                .map_err(|e| IndexError::Packages {
                    url: redact(&url),
                    message: format!("reading it failed: {e}"),
                })?
                .map_err(|e| IndexError::Packages {
                    url: redact(&url),
                    message: format!("cannot decompress it: {e}"),
                })?;
            tracing::debug!(
                "apt: {} read in {:?}: {} shared objects",
                redact(&url),
                started.elapsed(),
                libraries.len()
            );
            return Ok(keep(fetcher, &variant.sha256, &libraries));
        }
    }
    Err(IndexError::Release {
        url: redact(&file.release_url),
        message: format!(
            "lists {}Contents files that the server does not have",
            file.dir
        ),
    })
}

/// Decompresses as it reads, by the file name's extension.
fn reduce_file(path: &Path, name: &str) -> std::io::Result<Libraries> {
    let file = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Libraries::from_contents(BufReader::with_capacity(1 << 16, reader))
}

/// What the Contents indexes say about some sonames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SonameProviders {
    /// Soname → the packages that ship it ([`Libraries::providers`]), sorted. A soname
    /// no index knows is absent.
    pub providers: BTreeMap<String, Vec<String>>,
    /// How many Contents indexes were read (0: no repository lists any).
    pub indexes: usize,
}

impl SonameProviders {
    /// The packages that ship each of `sonames`, by `shared_objects`.
    pub fn of(shared_objects: &SharedObjects, sonames: &BTreeSet<String>) -> SonameProviders {
        SonameProviders {
            providers: shared_objects.providers_of(sonames),
            indexes: shared_objects.indexes,
        }
    }
}

/// The packages of `repositories` that ship each of `sonames` for `arch`, from their
/// `Contents-ARCH` indexes (each checked against its signed Release).
pub async fn soname_providers(
    fetcher: &Fetcher,
    repositories: &[Repository],
    arch: &str,
    sonames: &BTreeSet<String>,
) -> Result<SonameProviders, IndexError> {
    let shared_objects = libraries(fetcher, repositories, arch).await?;
    Ok(SonameProviders::of(&shared_objects, sonames))
}

/// The shared objects of every Contents index of some archives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SharedObjects {
    tables: Vec<Table>,
    /// How many Contents indexes were read (0: no repository lists any).
    pub indexes: usize,
}

impl SharedObjects {
    /// [`Libraries::providers`] over every index at once.
    pub fn providers(&self, soname: &str) -> Vec<String> {
        self.providers_of(&BTreeSet::from([soname.to_string()]))
            .remove(soname)
            .unwrap_or_default()
    }

    /// The providers of each of `sonames` that some index knows, in one pass.
    pub fn providers_of(&self, sonames: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
        let mut found: BTreeMap<&str, Libraries> = BTreeMap::new();
        for table in &self.tables {
            for (name, package, default_dir) in table.entries() {
                if let Some(soname) = sonames.get(name) {
                    found
                        .entry(soname.as_str())
                        .or_default()
                        .add(name, package, default_dir);
                }
            }
        }
        found
            .into_iter()
            .map(|(soname, libraries)| (soname.to_string(), libraries.providers(soname)))
            .collect()
    }

    /// How many distinct shared-object file names the indexes know.
    pub fn len(&self) -> usize {
        let mut names = BTreeSet::new();
        for table in &self.tables {
            names.extend(table.entries().map(|(name, _, _)| name));
        }
        names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.lines.is_empty())
    }

    /// These and `other`'s, as if read together.
    pub fn merge(&mut self, other: SharedObjects) {
        self.tables.extend(other.tables);
        self.indexes += other.indexes;
    }
}

/// The shared objects of every Contents index of `repositories` for `arch`, merged.
pub async fn libraries(
    fetcher: &Fetcher,
    repositories: &[Repository],
    arch: &str,
) -> Result<SharedObjects, IndexError> {
    let mut files = Vec::new();
    for repository in repositories {
        let found = contents_files(repository, arch)?;
        if found.is_empty() {
            tracing::debug!(
                "apt: {} lists no Contents-{arch}",
                redact(&repository.release_url)
            );
        }
        files.extend(found);
    }
    let started = std::time::Instant::now();
    let tables: Vec<Table> = futures_util::stream::iter(files.iter())
        .map(|file| read_contents(fetcher, file))
        .buffered(PARALLEL)
        .try_collect()
        .await?;
    tracing::debug!(
        "apt: {} Contents indexes in {:?}",
        tables.len(),
        started.elapsed()
    );
    let indexes = tables.len();
    Ok(SharedObjects { tables, indexes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_directories_and_shared_object_names() {
        let default = [
            "usr/lib/x86_64-linux-gnu/libglpk.so.40",
            "usr/lib/x86_64-linux-gnu/libglpk.so.40.3.1",
            "lib/x86_64-linux-gnu/libc.so.6",
            "usr/lib/libfoo.so",
            "lib64/ld-linux-x86-64.so.2",
            "usr/lib/arm-linux-gnueabihf/libz.so.1",
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
        ];
        for path in default {
            assert!(library_file(path).unwrap().1, "{path}");
        }
        let private = [
            "usr/lib/x86_64-linux-gnu/blas/libblas.so.3",
            "usr/lib/R/lib/libR.so",
            "usr/lib/python3/dist-packages/x/_y.cpython-311-x86_64-linux-gnu.so",
        ];
        for path in private {
            assert_eq!(library_file(path).map(|l| l.1), Some(false), "{path}");
        }
        let not = [
            "usr/lib32/libz.so.1",
            "usr/share/doc/libglpk40/copyright",
            "usr/lib/x86_64-linux-gnu/libglpk.a",
            "usr/bin/foo.so",
            "usr/lib/x86_64-linux-gnu/libsonic.sound",
            "usr/lib/x86_64-linux-gnu/.so",
        ];
        for path in not {
            assert_eq!(library_file(path), None, "{path}");
        }
        assert_eq!(
            library_file("usr/lib/x86_64-linux-gnu/libglpk.so.40")
                .unwrap()
                .0,
            "libglpk.so.40"
        );
    }

    const CONTENTS: &str = "\
usr/bin/glpsol                                          math/glpk-utils
usr/lib/x86_64-linux-gnu/libglpk.so                     libdevel/libglpk-dev
usr/lib/x86_64-linux-gnu/libglpk.so.40                  libs/libglpk40
usr/lib/x86_64-linux-gnu/libglpk.so.40.3.1              libs/libglpk40
usr/lib/x86_64-linux-gnu/blas/libblas.so.3              libs/libblas3
usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3  libs/libopenblas0-pthread
usr/lib/x86_64-linux-gnu/libz.so.1                      libs/zlib1g,non-free/libs/zlib1g-alt
usr/lib32/libz.so.1                                     libs/lib32z1
usr/lib/with space/libodd.so.1  libs/odd
usr/share/doc/libglpk40/changelog.Debian.gz             doc/libglpk40
";

    #[test]
    fn a_contents_index_reduces_to_its_shared_objects() {
        let libraries = Libraries::from_contents(CONTENTS.as_bytes()).unwrap();
        assert_eq!(libraries.providers("libglpk.so.40"), ["libglpk40"]);
        assert_eq!(libraries.providers("libglpk.so"), ["libglpk-dev"]);
        // Two packages, an area prefix; lib32's copy is another ABI's.
        assert_eq!(libraries.providers("libz.so.1"), ["zlib1g", "zlib1g-alt"]);
        // Only in private directories: both, for the caller to choose from.
        assert_eq!(
            libraries.providers("libblas.so.3"),
            ["libblas3", "libopenblas0-pthread"]
        );
        assert_eq!(libraries.providers("libodd.so.1"), ["odd"]);
        assert!(libraries.providers("libnothere.so.1").is_empty());
        assert_eq!(libraries.len(), 6);
    }

    #[test]
    fn an_old_style_header_is_skipped() {
        let text = format!(
            "This file maps each file available in the Debian GNU/Linux system to\n\
             the package from which it originates.\n\
             usr/lib/libprose.so.1 in/a-header\n\n\
             FILE                                                    LOCATION\n{CONTENTS}"
        );
        let libraries = Libraries::from_contents(text.as_bytes()).unwrap();
        assert!(libraries.providers("libprose.so.1").is_empty());
        assert_eq!(libraries.providers("libglpk.so.40"), ["libglpk40"]);
    }

    #[test]
    fn the_cached_form_reads_back_only_whole_and_for_its_file() {
        let libraries = Libraries::from_contents(CONTENTS.as_bytes()).unwrap();
        let sha = "a".repeat(64);
        let text = libraries.to_cache(&sha);
        let table = Table::parse(text.clone(), &sha).unwrap();
        assert_eq!(Table::parse(text.clone(), &"b".repeat(64)), None);
        // Cut short (a torn write), or a line lost: not whole.
        assert_eq!(
            Table::parse(text[..text.len() - 10].to_string(), &sha),
            None
        );
        let lost = text.replacen("libglpk.so.40\tlibglpk40\td\n", "", 1);
        assert_ne!(lost, text);
        assert_eq!(Table::parse(lost, &sha), None);
        // Read back, it answers as the reduction does, also with an index twice.
        let once = SharedObjects {
            tables: vec![table.clone()],
            indexes: 1,
        };
        let twice = SharedObjects {
            tables: vec![table.clone(), table],
            indexes: 2,
        };
        for name in [
            "libglpk.so.40",
            "libz.so.1",
            "libblas.so.3",
            "libodd.so.1",
            "libnothere.so.1",
        ] {
            assert_eq!(once.providers(name), libraries.providers(name), "{name}");
            assert_eq!(twice.providers(name), libraries.providers(name), "{name}");
        }
        assert_eq!(once.len(), libraries.len());
        assert_eq!(twice.len(), libraries.len());
        let empty = Libraries::default().to_cache(&sha);
        let empty = Table::parse(empty, &sha).unwrap();
        assert!(empty.lines.is_empty());
        assert_eq!(empty.entries().count(), 0);
    }
}
