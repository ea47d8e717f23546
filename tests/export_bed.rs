//! The exports of a real lock, read back by the tools they are for, in containers of the
//! test bed's R base: renv.lock parsed by jsonlite (renv itself is not packaged for this
//! machine's Debian, and the public CRAN is out of reach, so `renv::restore()` cannot be
//! the oracle), and `install.packages` from the repositories it names giving exactly its
//! versions.

mod common;

use std::collections::BTreeSet;

use serde_json::Value;

use common::cli::{locked, rtlock_in, succeed};
use common::cran::CranRepo;
use common::testbed::{docker, ok, testbed};

/// Reads /w/renv.lock with jsonlite (installed from the bed's repository into a
/// temporary library), prints what it holds, then installs the packages it names from
/// the repositories it names into a fresh library and prints what landed there.
const READ_BACK: &str = r#"
    repo <- commandArgs(TRUE)[1]
    tools_lib <- tempfile(); dir.create(tools_lib)
    install.packages("jsonlite", lib = tools_lib, repos = repo, quiet = TRUE)
    library(jsonlite, lib.loc = tools_lib)
    l <- fromJSON("/w/renv.lock", simplifyVector = FALSE)
    cat("top", paste(sort(names(l)), collapse = ","), "\n")
    cat("R", l$R$Version, as.character(getRversion()), "\n")
    for (r in l$R$Repositories) cat("repo", r$Name, r$URL, "\n")
    for (p in l$Packages) cat("pkg", p$Package, p$Version, p$Source, p$Repository,
        paste(sort(names(p)), collapse = ","), paste(sort(unlist(p$Requirements)), collapse = ","), "\n")
    repos <- vapply(l$R$Repositories, function(r) r$URL, "")
    names(repos) <- vapply(l$R$Repositories, function(r) r$Name, "")
    fresh <- tempfile(); dir.create(fresh)
    options(warn = 2)
    install.packages(names(l$Packages), lib = fresh, repos = repos, quiet = TRUE)
    ip <- installed.packages(lib.loc = fresh)
    for (i in seq_len(nrow(ip))) cat("installed", ip[i, "Package"], ip[i, "Version"], "\n")
"#;

#[test]
fn renv_lock_reads_back_with_jsonlite_and_installs_its_versions() {
    let bed = testbed();
    let cran = CranRepo::serve();
    let (dir, cache) = locked(&common::cran::small_r_manifest(&cran));
    succeed(
        "export renv",
        rtlock_in(dir.path(), &cache, &["export", "renv", "-o", "renv.lock"]),
    );
    let lock = rtlock::lockfile::Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(lock.r.len(), 3, "R6, ellipsis, rlang: {:?}", lock.r);

    common::cran::pull(&bed.image_r);
    let mount = format!("{}:/w:ro", dir.path().display());
    let out = ok(
        "R reads renv.lock back",
        docker(&[
            "run",
            "--rm",
            "--network",
            "host",
            "-v",
            &mount,
            &bed.image_r,
            "Rscript",
            "-e",
            READ_BACK,
            cran.url().as_str(),
        ]),
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let with = |tag: &str| -> Vec<Vec<&str>> {
        lines
            .iter()
            .filter(|l| l.first() == Some(&tag))
            .map(|l| l[1..].to_vec())
            .collect()
    };
    assert_eq!(with("top"), [["Packages,R"]], "{out}");
    // The R version is the base's own, as R itself reports it.
    let r = &with("R")[0];
    assert_eq!(r[0], r[1], "{out}");
    // One repository, called CRAN, at the URL the manifest named (without its slash).
    let repo = cran.url().as_str().trim_end_matches('/').to_string();
    assert_eq!(with("repo"), [vec!["CRAN", repo.as_str()]], "{out}");

    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("renv.lock")).unwrap())
            .unwrap();
    let mut expected = BTreeSet::new();
    for p in &lock.r {
        let requirements: Vec<&str> = doc["Packages"][&p.name]["Requirements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut sorted = requirements.clone();
        sorted.sort();
        expected.insert(format!(
            "{} {} Repository CRAN Package,Repository,Requirements,Source,Version {}",
            p.name,
            p.version,
            sorted.join(",")
        ));
        // Requirements name locked packages only: ellipsis needs rlang.
        let locked: Vec<&str> = p
            .requires
            .iter()
            .map(String::as_str)
            .filter(|r| lock.r.iter().any(|q| q.name == *r))
            .collect();
        assert_eq!(requirements, locked, "{}", p.name);
    }
    let read: BTreeSet<String> = with("pkg").iter().map(|l| l.join(" ")).collect();
    // A package without requirements prints an empty last field.
    let expected: BTreeSet<String> = expected
        .into_iter()
        .map(|e| e.trim_end().to_string())
        .collect();
    assert_eq!(read, expected, "{out}");

    // What install.packages brings from those repositories is exactly the lock's.
    let installed: BTreeSet<String> = with("installed").iter().map(|l| l.join(" ")).collect();
    let locked: BTreeSet<String> = lock
        .r
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect();
    assert_eq!(installed, locked, "{out}");
}
