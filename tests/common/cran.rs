//! The test bed's CRAN-like repository of real R packages (`RTLOCK_TEST_CRAN`, made by
//! `scripts/testbed/cran.sh`), served on 127.0.0.1, and R itself as the oracle of what
//! `install.packages` brings in from it.
//!
//! ```ignore
//! let repo = CranRepo::serve();                  // the cached tree, read-only
//! let url = repo.url();                          // http://127.0.0.1:PORT/ (R's `repos`)
//! let broken = CranRepo::serve_copy();           // a private copy, to break on purpose
//! std::fs::remove_file(broken.contrib().join("PACKAGES")).unwrap();
//! let want = r_closure(&testbed().image_r, &repo.url(), &["ggplot2"], false);
//! assert!(want.contains("rlang") && !want.contains("grid"));
//! ```
//!
//! What the repository holds is read from its own files: [`packages`] parses
//! `src/contrib/PACKAGES`, [`archived`] lists `src/contrib/Archive/`, [`description`]
//! reads the `DESCRIPTION` inside a tarball. `Archive/<Pkg>/` answers with the
//! `index.html` listing the bed wrote, as a web server's directory listing would.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;
use url::Url;

use super::server::StaticServer;
use super::testbed::{ok, testbed};

/// The fields of one package, as `PACKAGES` or a `DESCRIPTION` spells them.
pub type Fields = BTreeMap<String, String>;

/// The repository served over HTTP on 127.0.0.1; stops when dropped.
pub struct CranRepo {
    server: StaticServer,
    /// Holds the private copy of [`CranRepo::serve_copy`] alive.
    _copy: Option<TempDir>,
}

impl CranRepo {
    /// Serves the cached repository itself. It is shared by every test: never write into
    /// [`CranRepo::root`] of this one (use [`CranRepo::serve_copy`]).
    pub fn serve() -> CranRepo {
        CranRepo {
            server: StaticServer::start(cran_dir()),
            _copy: None,
        }
    }

    /// Serves a private copy of the repository (about 90 MB), for a test that changes
    /// it: corrupts a tarball, removes `PACKAGES`, edits an index.
    pub fn serve_copy() -> CranRepo {
        let copy = TempDir::new().expect("a temporary directory for the CRAN copy");
        copy_tree(cran_dir(), copy.path()).unwrap_or_else(|e| {
            panic!(
                "copy {} to {}: {e}",
                cran_dir().display(),
                copy.path().display()
            )
        });
        CranRepo {
            server: StaticServer::start(copy.path()),
            _copy: Some(copy),
        }
    }

    /// `http://127.0.0.1:PORT/`: the repository URL as R's `repos` option takes it
    /// (packages are under `src/contrib/`).
    pub fn url(&self) -> Url {
        self.server.base_url()
    }

    /// The served directory (it holds `src/contrib/`).
    pub fn root(&self) -> &Path {
        self.server.root()
    }

    /// `root()/src/contrib`.
    pub fn contrib(&self) -> PathBuf {
        self.root().join("src").join("contrib")
    }

    /// The server, for its request counts and fault injection.
    pub fn server(&self) -> &StaticServer {
        &self.server
    }
}

/// The cached repository (`RTLOCK_TEST_CRAN`): the directory holding `src/contrib/`.
pub fn cran_dir() -> &'static Path {
    let dir = &testbed().cran;
    assert!(
        dir.join("src/contrib/PACKAGES").is_file(),
        "RTLOCK_TEST_CRAN={} has no src/contrib/PACKAGES: rebuild the bed (scripts/test --stop; \
         scripts/test --bed-only)",
        dir.display()
    );
    dir
}

/// Paragraphs of a DCF file (`PACKAGES`, `DESCRIPTION`): `Field: value` lines, a line
/// starting with white space continues the value, blank lines separate paragraphs.
pub fn parse_dcf(text: &str) -> Vec<Fields> {
    let mut out = Vec::new();
    let mut current = Fields::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            last = None;
        } else if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|k| current.get_mut(k)) {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.insert(key.to_string(), value.trim().to_string());
            last = Some(key.to_string());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `src/contrib/PACKAGES` of the repository at `dir`, by package name.
pub fn packages(dir: &Path) -> BTreeMap<String, Fields> {
    let path = dir.join("src/contrib/PACKAGES");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    parse_dcf(&text)
        .into_iter()
        .map(|p| (p["Package"].clone(), p))
        .collect()
}

/// The versions in `src/contrib/Archive/<Pkg>/` of the repository at `dir`, by package
/// (from the tarballs' names).
pub fn archived(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let archive = dir.join("src/contrib/Archive");
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&archive) else {
        return out;
    };
    for entry in entries {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let pkg = entry.file_name().to_string_lossy().into_owned();
        let prefix = format!("{pkg}_");
        let mut versions: Vec<String> = std::fs::read_dir(entry.path())
            .unwrap()
            .filter_map(|f| {
                let name = f.unwrap().file_name().to_string_lossy().into_owned();
                name.strip_prefix(&prefix)?
                    .strip_suffix(".tar.gz")
                    .map(str::to_string)
            })
            .collect();
        versions.sort();
        out.insert(pkg, versions);
    }
    out
}

/// The `DESCRIPTION` of `<Pkg>/` inside a package tarball (binary ones have `Built:`).
pub fn description(tarball: &Path) -> Fields {
    let file =
        std::fs::File::open(tarball).unwrap_or_else(|e| panic!("open {}: {e}", tarball.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().expect("a tar.gz") {
        let mut entry = entry.expect("a tar entry");
        let path = entry.path().unwrap().into_owned();
        if path.components().count() == 2 && path.ends_with("DESCRIPTION") {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return parse_dcf(&text).into_iter().next().unwrap_or_default();
        }
    }
    panic!("{} holds no <Pkg>/DESCRIPTION", tarball.display())
}

/// R's version order: numeric components split on `.` and `-`.
pub fn r_version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['.', '-'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a).cmp(&parts(b))
}

/// Names in a `Depends`/`Imports`/`LinkingTo` value, without `R` and version constraints.
pub fn dependency_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|d| d.split('(').next().unwrap_or("").trim().to_string())
        .filter(|d| !d.is_empty() && d != "R")
        .collect()
}

/// A small R runtime of the bed's R base from `repo`: R6, and ellipsis with rlang, which
/// it needs (all three binaries, so the base needs no compiler).
pub fn small_r_manifest(repo: &CranRepo) -> String {
    format!(
        "[base]\nimage = \"{}\"\n[r]\npackages = [\"R6\", \"ellipsis\"]\nrepos = [\"{}\"]\n",
        testbed().image_r,
        repo.url()
    )
}

/// `docker pull` of `image` once per test binary (from the bed's plain registry).
pub fn pull(image: &str) {
    static PULLED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut pulled = PULLED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if pulled.contains(image) {
        return;
    }
    ok(
        &format!("docker pull {image}"),
        super::testbed::docker(&["pull", "-q", image]),
    );
    pulled.insert(image.to_string());
}

/// `Rscript -e CODE ARGS…` in a fresh container of `image` (pulled first). With
/// `host_network` it shares this machine's network, so it reaches servers on 127.0.0.1
/// (and never a proxy for them); else it has no network.
pub fn rscript(image: &str, host_network: bool, code: &str, args: &[&str]) -> Output {
    pull(image);
    let bed = testbed();
    let network = if host_network { "host" } else { "none" };
    Command::new("docker")
        .env("DOCKER_HOST", &bed.docker_host)
        .args(["run", "--rm", "--network", network])
        .args([
            "-e",
            "no_proxy=127.0.0.1,localhost",
            "-e",
            "NO_PROXY=127.0.0.1,localhost",
        ])
        .args([image, "Rscript", "-e", code])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"))
}

/// R's view of what installing `pkgs` from `repo` into `image` brings in, the oracle of
/// rtlock's R resolution: `tools::package_dependencies(…, db = available.packages(repos =
/// repo), which = c("Depends", "Imports", "LinkingTo"), recursive = TRUE)` of the requested
/// packages, with their own `Suggests` first when `suggests` is set (as
/// `install.packages(dependencies = TRUE)` does: Suggests of the requested packages only,
/// then Depends/Imports/LinkingTo of everything), united with the requested names, less
/// every package installed in the image (`installed.packages()`) and the base packages.
/// Suggested packages the repository lacks are dropped, as R drops them.
///
/// Unlike `install.packages`, `package_dependencies` also walks through the dependencies
/// of installed packages (then drops those installed): the two agree whenever the image's
/// installed packages have their own dependencies installed.
///
/// Panics when a requested package or a hard dependency is not in the repository.
pub fn r_closure(image: &str, repo: &Url, pkgs: &[&str], suggests: bool) -> BTreeSet<String> {
    const CODE: &str = r#"
        a <- commandArgs(TRUE)
        repo <- a[1]; suggests <- a[2] == "TRUE"; pkgs <- a[-(1:2)]
        db <- available.packages(repos = repo)
        missing <- setdiff(pkgs, rownames(db))
        if (length(missing)) stop("not in the repository: ", paste(missing, collapse = ", "))
        hard <- c("Depends", "Imports", "LinkingTo")
        roots <- pkgs
        if (suggests) {
            s <- unlist(tools::package_dependencies(pkgs, db = db, which = "Suggests"), use.names = FALSE)
            roots <- union(roots, intersect(s, rownames(db)))
        }
        deps <- unlist(tools::package_dependencies(roots, db = db, which = hard, recursive = TRUE),
            use.names = FALSE)
        all <- union(roots, deps)
        installed <- rownames(installed.packages())
        base <- rownames(installed.packages(priority = "base"))
        lost <- setdiff(all, c(rownames(db), installed, base))
        if (length(lost)) stop("dependencies not in the repository: ", paste(lost, collapse = ", "))
        writeLines(sort(setdiff(all, c(installed, base))))
    "#;
    let mut args = vec![repo.as_str(), if suggests { "TRUE" } else { "FALSE" }];
    args.extend_from_slice(pkgs);
    let out = ok(
        &format!("R's package_dependencies of {pkgs:?} from {repo} in {image}"),
        rscript(image, true, CODE, &args),
    );
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The packages installed in `image`, by name, with their `Priority` (`base`,
/// `recommended` or empty), as `installed.packages()` lists them.
pub fn installed_in(image: &str) -> BTreeMap<String, String> {
    let out = ok(
        &format!("installed.packages() in {image}"),
        rscript(
            image,
            false,
            r#"ip <- installed.packages(); p <- ip[, "Priority"]; p[is.na(p)] <- ""
               writeLines(paste(ip[, "Package"], p))"#,
            &[],
        ),
    );
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((
                words.next()?.to_string(),
                words.next().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

fn copy_tree(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let to = dest.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else {
            std::fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
