use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use super::*;

/// Paragraphs as `tools::write_PACKAGES` writes them: fields folded at 80 columns with
/// 8-space continuation lines, `R (...)` anywhere in Depends, a trailing comma, Path
/// and File for a package kept in a subfolder, an OS_type.
const PACKAGES: &str = "\
Package: A3
Version: 1.0.0
Depends: R (>= 2.15.0), xtable, pbapply
Suggests: randomForest, e1071
License: GPL (>= 2)
MD5sum: 027EBDD8AFFCE8F0EFFAECFCD5F5ADE2
NeedsCompilation: no

Package: sf
Version: 1.0-16
Depends: methods, R (>= 3.3.0)
Imports: classInt (>= 0.4-1), DBI (>= 0.8), graphics, grDevices, grid,
        magrittr, s2 (>= 1.1.0), stats, tools, units (>= 0.7-0), utils
LinkingTo: Rcpp
Suggests: blob, covr, dplyr (>= 1.0.0), ggplot2, knitr,
        lwgeom (>= 0.2-14), testthat (>= 3.0.0),
License: GPL-2 | MIT + file LICENSE
MD5sum: 8e3c3bcb0bd8a7b47f3b3c1e6c4b2f9a
NeedsCompilation: yes
SystemRequirements: GDAL (>= 2.0.1), GEOS (>= 3.4.0), PROJ (>= 4.8.0),
        sqlite3

Package: oldthing
Version: 0.9-1
Depends: R(>=3.5)
Path: Older
File: oldthing_0.9-1.tar.gz
NeedsCompilation: no

Package: winonly
Version: 2.0
OS_type: windows
License: GPL-3
";

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn v(text: &str) -> RVersion {
    text.parse().unwrap()
}

fn names(requirements: &[RRequirement]) -> Vec<String> {
    requirements.iter().map(ToString::to_string).collect()
}

#[test]
fn packages_paragraphs_become_candidates() {
    let repo = url("http://127.0.0.1:8080/cran");
    let all = parse_packages(PACKAGES, &repo).unwrap();
    assert_eq!(all.len(), 4);

    let a3 = &all[0];
    assert_eq!(
        (a3.name.as_str(), a3.version.to_string().as_str()),
        ("A3", "1.0.0")
    );
    assert_eq!(names(&a3.depends), ["xtable", "pbapply"]);
    assert_eq!(a3.r_constraints, vec![(ROp::GreaterEq, v("2.15.0"))]);
    assert_eq!(names(&a3.suggests), ["randomForest", "e1071"]);
    assert_eq!(a3.md5.as_deref(), Some("027ebdd8affce8f0effaecfcd5f5ade2"));
    assert_eq!(a3.needs_compilation, Some(false));
    assert_eq!(
        a3.url.as_str(),
        "http://127.0.0.1:8080/cran/src/contrib/A3_1.0.0.tar.gz"
    );
    assert_eq!(a3.repository, repo);

    let sf = &all[1];
    assert_eq!(names(&sf.depends), ["methods"]);
    assert_eq!(sf.r_constraints, vec![(ROp::GreaterEq, v("3.3.0"))]);
    assert_eq!(
        names(&sf.imports),
        [
            "classInt (>= 0.4-1)",
            "DBI (>= 0.8)",
            "graphics",
            "grDevices",
            "grid",
            "magrittr",
            "s2 (>= 1.1.0)",
            "stats",
            "tools",
            "units (>= 0.7-0)",
            "utils"
        ]
    );
    assert_eq!(names(&sf.linking_to), ["Rcpp"]);
    assert_eq!(sf.suggests.len(), 7, "the trailing comma adds nothing");
    assert_eq!(
        sf.system_requirements.as_deref(),
        Some("GDAL (>= 2.0.1), GEOS (>= 3.4.0), PROJ (>= 4.8.0), sqlite3")
    );
    assert_eq!(sf.needs_compilation, Some(true));
    assert_eq!(sf.dependencies(false).count(), 1 + 11 + 1);
    assert_eq!(sf.dependencies(true).count(), 1 + 11 + 1 + 7);
    assert_eq!(
        sf.version.to_string(),
        "1.0-16",
        "versions keep their spelling"
    );

    let old = &all[2];
    assert_eq!(
        old.url.as_str(),
        "http://127.0.0.1:8080/cran/src/contrib/Older/oldthing_0.9-1.tar.gz"
    );
    assert_eq!(old.r_constraints, vec![(ROp::GreaterEq, v("3.5"))]);
    assert!(old.fits_r(&v("4.2.2")) && !old.fits_r(&v("3.4.4")));

    let win = &all[3];
    assert_eq!(win.os_type.as_deref(), Some("windows"));
    assert!(!win.fits_os() && a3.fits_os());
    assert_eq!(win.md5, None);
}

#[test]
fn packages_accept_what_the_dcf_parser_accepts() {
    // CRLF line ends, a final paragraph without a newline, blank lines of spaces.
    let text =
        "Package: aa\r\nVersion: 1.0\r\nImports: bb,\r\n cc\r\n   \r\nPackage: bb\nVersion: 2.0";
    let all = parse_packages(text, &url("file:///srv/cran/")).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(names(&all[0].imports), ["bb", "cc"]);
    assert_eq!(
        all[1].url.as_str(),
        "file:///srv/cran/src/contrib/bb_2.0.tar.gz"
    );
    assert!(
        parse_packages("", &url("file:///srv/cran"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn packages_errors_name_the_line() {
    let repo = url("http://127.0.0.1/cran/");
    let cases = [
        (
            "no version",
            "Package: aa\nVersion: 1.0\n\nPackage: bb\nLicense: MIT\n",
        ),
        ("no package", "Version: 1.0\n"),
        (
            "bad version",
            "Package: aa\nVersion: 1.0\n\nPackage: bb\nVersion: 1.0a\n",
        ),
        ("bad name", "Package: a_b\nVersion: 1.0\n"),
        (
            "bad dependency",
            "Package: aa\nVersion: 1.0\nImports: utils,\n        ggplot2 (>= 3)\n",
        ),
        (
            "bad R constraint",
            "Package: aa\nVersion: 1.0\nDepends: R (~ 4.1)\n",
        ),
        ("bad file", "Package: aa\nVersion: 1.0\nFile: ../x.tar.gz\n"),
    ];
    let mut report = String::new();
    for (what, text) in cases {
        let e = parse_packages(text, &repo).unwrap_err();
        report.push_str(&format!("{what}: {e}\n"));
    }
    insta::assert_snapshot!(report);
    let e = parse_packages(cases[4].1, &repo).unwrap_err();
    assert_eq!(e.line, 4, "the continuation line the error is on");
}

#[test]
fn merge_keeps_every_version_newest_first_first_repository_wins() {
    let a = parse_packages(
        "Package: foo\nVersion: 1.0\nMD5sum: aa\n\nPackage: bar\nVersion: 1.10\n",
        &url("http://127.0.0.1/a/"),
    )
    .unwrap();
    let b = parse_packages(
        "Package: foo\nVersion: 1.0\nMD5sum: bb\n\nPackage: foo\nVersion: 2.0\nDepends: R (>= 9.0)\n\nPackage: bar\nVersion: 1.9\n",
        &url("http://127.0.0.1/b/"),
    )
    .unwrap();
    let merged = merge(vec![a, b]);
    let versions = |name: &str| -> Vec<String> {
        merged[name]
            .iter()
            .map(|a| format!("{} {}", a.version, a.repository))
            .collect()
    };
    assert_eq!(
        versions("foo"),
        ["2.0 http://127.0.0.1/b/", "1.0 http://127.0.0.1/a/"]
    );
    assert_eq!(merged["foo"][1].md5.as_deref(), Some("aa"));
    // R's version order is numeric: 1.10 is after 1.9.
    assert_eq!(
        versions("bar"),
        ["1.10 http://127.0.0.1/a/", "1.9 http://127.0.0.1/b/"]
    );

    // available.packages(): the R_version filter drops foo 2.0 before the duplicates
    // filter keeps the highest, so foo is 1.0, from the first repository.
    let view = available_packages(&merged, &v("4.2.2"));
    assert_eq!(view["foo"].version, v("1.0"));
    assert_eq!(view["foo"].repository.as_str(), "http://127.0.0.1/a/");
    assert_eq!(view["bar"].version, v("1.10"));
    let on_new_r = available_packages(&merged, &v("9.1.0"));
    assert_eq!(on_new_r["foo"].version, v("2.0"));
}

#[test]
fn available_packages_drops_other_os_types() {
    let all = parse_packages(PACKAGES, &url("http://127.0.0.1/cran/")).unwrap();
    let merged = merge(vec![all]);
    let view = available_packages(&merged, &v("4.2.2"));
    assert!(view.contains_key("sf") && !view.contains_key("winonly"));
    assert!(!available_packages(&merged, &v("3.4.0")).contains_key("oldthing"));
}

#[test]
fn dated_snapshots_follow_as_of() {
    let as_of: jiff::Timestamp = "2026-11-01T23:30:00-05:00".parse().unwrap();
    let cases = [
        (
            "http://127.0.0.1/cran/2024-01-02",
            "http://127.0.0.1/cran/2026-11-02",
        ),
        (
            "http://127.0.0.1/cran/__linux__/bookworm/2024-01-02/",
            "http://127.0.0.1/cran/__linux__/bookworm/2026-11-02/",
        ),
        // Only the last date is the snapshot's.
        (
            "http://127.0.0.1/2020-01-01/cran/2024-01-02",
            "http://127.0.0.1/2020-01-01/cran/2026-11-02",
        ),
        (
            "http://127.0.0.1/cran/latest",
            "http://127.0.0.1/cran/latest",
        ),
        // Not calendar dates.
        (
            "http://127.0.0.1/cran/2024-13-40",
            "http://127.0.0.1/cran/2024-13-40",
        ),
        (
            "http://127.0.0.1/cran/20240102",
            "http://127.0.0.1/cran/20240102",
        ),
        (
            "http://me:pw@127.0.0.1/2024-01-02?x=1",
            "http://me:pw@127.0.0.1/2026-11-02?x=1",
        ),
    ];
    for (repo, expected) in cases {
        assert_eq!(dated(&url(repo), Some(as_of)).as_str(), expected, "{repo}");
        assert_eq!(dated(&url(repo), None).as_str(), repo);
        assert_eq!(is_dated(&url(repo)), repo != expected, "{repo}");
    }
}

#[test]
fn user_agent_is_what_r_sends() {
    assert_eq!(
        user_agent("4.2.2", "x86_64-pc-linux-gnu"),
        "R (4.2.2 x86_64-pc-linux-gnu x86_64 linux-gnu)"
    );
    assert_eq!(
        user_agent("4.4.1", "aarch64-unknown-linux-gnu"),
        "R (4.4.1 aarch64-unknown-linux-gnu aarch64 linux-gnu)"
    );
}

#[test]
fn repository_folders() {
    for repo in ["http://127.0.0.1/cran", "http://127.0.0.1/cran/"] {
        assert_eq!(
            contrib_url(&url(repo)).as_str(),
            "http://127.0.0.1/cran/src/contrib/"
        );
        assert_eq!(
            archive_url(&url(repo), "data.table", &v("1.14.8")).as_str(),
            "http://127.0.0.1/cran/src/contrib/Archive/data.table/data.table_1.14.8.tar.gz"
        );
    }
    assert_eq!(
        contrib_url(&url("http://127.0.0.1")).as_str(),
        "http://127.0.0.1/src/contrib/"
    );
}

const INSTALLED_DESCRIPTION: &str = "\
Package: cli
Title: Helpers for Developing Command Line Interfaces
Version: 3.6.1
Authors@R: c(
    person(\"Gábor\", \"Csárdi\", , \"csardi.gabor@gmail.com\", role = c(\"aut\", \"cre\")),
    person(\"Example Org\", role = c(\"cph\", \"fnd\"))
  )
Description: A suite of tools to build attractive command line interfaces
    ('CLIs'), from semantic elements: headings, lists, alerts, paragraphs.
    .
    More text.
License: MIT + file LICENSE
Depends: R (>= 3.4)
Imports: utils
Suggests: callr, covr, crayon, digest, glue (>= 1.6.0), grDevices,
        htmltools, htmlwidgets, knitr, methods, mockery, processx, ps
        (>= 1.3.4.9000), rlang (>= 1.0.2.9003), rmarkdown, rprojroot,
        rstudioapi, testthat, tibble, whoami, withr
Encoding: UTF-8
RoxygenNote: 7.2.3
NeedsCompilation: yes
Packaged: 2023-03-22 19:09:36 UTC; gaborcsardi
Repository: CRAN
Date/Publication: 2023-03-23 12:52:05 UTC
Built: R 4.2.2; x86_64-pc-linux-gnu; 2023-04-01 10:20:30 UTC; unix
";

#[test]
fn descriptions_of_installed_and_source_packages() {
    let d = parse_description(INSTALLED_DESCRIPTION).unwrap();
    assert_eq!(
        (d.name.as_str(), d.version.to_string().as_str()),
        ("cli", "3.6.1")
    );
    assert_eq!(d.r_constraints, vec![(ROp::GreaterEq, v("3.4"))]);
    assert!(d.depends.is_empty());
    assert_eq!(names(&d.imports), ["utils"]);
    // A version folded across lines, as write.dcf folds long fields.
    assert!(names(&d.suggests).contains(&"ps (>= 1.3.4.9000)".to_string()));
    assert_eq!(
        d.built,
        Some(Built {
            r_version: "4.2.2".into(),
            platform: "x86_64-pc-linux-gnu".into(),
            date: "2023-04-01 10:20:30 UTC".into(),
            os_type: "unix".into(),
        })
    );
    let repo = url("http://127.0.0.1/cran/");
    let tarball = url("http://127.0.0.1/cran/src/contrib/Archive/cli/cli_3.6.1.tar.gz");
    let a = d
        .clone()
        .into_available(tarball.clone(), repo.clone(), Some("ABC".into()));
    assert_eq!(
        (&a.url, &a.repository, &a.md5),
        (&tarball, &repo, &Some("abc".into()))
    );
    assert_eq!(a.fields, d.fields);

    // Without compiled code, R leaves the platform empty.
    let pure = parse_description(
        "Package: glue\nVersion: 1.6.2\nBuilt: R 4.2.2; ; 2023-01-10 12:00:00 UTC; unix\n",
    )
    .unwrap();
    assert_eq!(pure.built.unwrap().platform, "");
    // A source package has no Built field.
    let source = parse_description("Package: glue\nVersion: 1.6.2\n\nPackage: other\n").unwrap();
    assert_eq!(source.built, None);
}

#[test]
fn description_errors() {
    let cases = [
        ("empty", ""),
        ("no version", "Package: glue\nTitle: x\n"),
        (
            "bad built",
            "Package: glue\nVersion: 1.6.2\nBuilt: R 4.2.2; x86_64-pc-linux-gnu\n",
        ),
        (
            "bad built version",
            "Package: glue\nVersion: 1.6.2\nBuilt: R devel; ; d; unix\n",
        ),
        (
            "bad imports",
            "Package: glue\nVersion: 1.6.2\nImports: methods (>= x)\n",
        ),
    ];
    let mut report = String::new();
    for (what, text) in cases {
        report.push_str(&format!(
            "{what}: {}\n",
            parse_description(text).unwrap_err()
        ));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn archive_listings_of_common_servers() {
    // Apache's mod_autoindex.
    let apache = r#"<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head><title>Index of /src/contrib/Archive/data.table</title></head><body>
<table><tr><th><a href="?C=N;O=D">Name</a></th></tr>
<tr><td><a href="/src/contrib/Archive/">Parent Directory</a></td></tr>
<tr><td><a href="data.table_1.10.0.tar.gz">data.table_1.10.0.tar.gz</a></td></tr>
<tr><td><a href="data.table_1.9.8.tar.gz">data.table_1.9.8.tar.gz</a></td></tr>
<tr><td><A HREF='data.table_1.14.8.tar.gz'>x</A></td></tr>
<tr><td><a href=data.table.extra_1.0.tar.gz>other package</a></td></tr>
</table></body></html>"#;
    let hrefs = parse_archive_listing(apache);
    assert_eq!(
        hrefs,
        [
            "?C=N;O=D",
            "/src/contrib/Archive/",
            "data.table_1.10.0.tar.gz",
            "data.table_1.9.8.tar.gz",
            "data.table_1.14.8.tar.gz",
            "data.table.extra_1.0.tar.gz",
        ]
    );
    let versions: Vec<Option<String>> = hrefs
        .iter()
        .map(|h| archive::version_of(h, "data.table").map(|v| v.to_string()))
        .collect();
    assert_eq!(
        versions,
        [
            None,
            None,
            Some("1.10.0".into()),
            Some("1.9.8".into()),
            Some("1.14.8".into()),
            None
        ]
    );
}

/// The requests a [`Server`] answered: path and User-Agent.
type Hits = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A static CRAN-like tree on 127.0.0.1 that records what each request asked for.
struct Server {
    base: Url,
    hits: Hits,
    _task: tokio::task::JoinHandle<()>,
}

async fn serve(files: BTreeMap<String, Vec<u8>>) -> Server {
    use axum::extract::Request;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let hits: Hits = Arc::default();
    let files = Arc::new(files);
    let recorded = hits.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let files = files.clone();
        let recorded = recorded.clone();
        async move {
            let path = request.uri().path().to_string();
            let agent = request
                .headers()
                .get("user-agent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            recorded.lock().unwrap().push((path.clone(), agent));
            match files.get(&path) {
                Some(body) => (StatusCode::OK, body.clone()).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        base: url(&format!("http://{addr}/cran")),
        hits,
        _task: task,
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn fetcher(dir: &tempfile::TempDir) -> crate::fetch::Fetcher {
    crate::fetch::Fetcher::new(crate::fetch::FetchSettings::new(dir.path())).unwrap()
}

const AGENT: &str = "R (4.2.2 x86_64-pc-linux-gnu x86_64 linux-gnu)";

#[tokio::test]
async fn fetch_reads_packages_gz_with_rs_user_agent() {
    let server = serve(BTreeMap::from([(
        "/cran/2026-11-02/src/contrib/PACKAGES.gz".to_string(),
        gzip(PACKAGES),
    )]))
    .await;
    let cache = tempfile::TempDir::new().unwrap();
    let repo = url(&format!("{}/2024-01-01", server.base));
    let options = RepoOptions {
        as_of: Some("2026-11-02T10:00:00Z".parse().unwrap()),
        user_agent: AGENT,
    };
    let all = fetch_repository(&fetcher(&cache), &repo, &options)
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(
        all[0].repository.as_str(),
        format!("{}/2026-11-02", server.base)
    );
    let hits = server.hits.lock().unwrap().clone();
    assert_eq!(
        hits,
        [(
            "/cran/2026-11-02/src/contrib/PACKAGES.gz".to_string(),
            Some(AGENT.to_string())
        )]
    );
}

#[tokio::test]
async fn fetch_falls_back_to_plain_packages_then_fails_clearly() {
    let server = serve(BTreeMap::from([(
        "/cran/src/contrib/PACKAGES".to_string(),
        PACKAGES.as_bytes().to_vec(),
    )]))
    .await;
    let cache = tempfile::TempDir::new().unwrap();
    let fetcher = fetcher(&cache);
    let options = RepoOptions {
        as_of: None,
        user_agent: AGENT,
    };
    let all = fetch_repository(&fetcher, &server.base, &options)
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let paths: Vec<String> = server
        .hits
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.0.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/cran/src/contrib/PACKAGES.gz",
            "/cran/src/contrib/PACKAGES"
        ]
    );
    assert!(
        server
            .hits
            .lock()
            .unwrap()
            .iter()
            .all(|h| h.1.as_deref() == Some(AGENT))
    );

    let empty = url(&format!("{}/nothing/", server.base));
    let e = fetch_repository(&fetcher, &empty, &options)
        .await
        .unwrap_err();
    let text = e
        .to_string()
        .replace(server.base.as_str(), "http://127.0.0.1:PORT/cran");
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn fetch_reports_a_malformed_index_at_its_line() {
    let server = serve(BTreeMap::from([(
        "/cran/src/contrib/PACKAGES.gz".to_string(),
        gzip("Package: aa\nVersion: 1.0\n\nPackage: bb\nVersion: one\n"),
    )]))
    .await;
    let cache = tempfile::TempDir::new().unwrap();
    let options = RepoOptions {
        as_of: None,
        user_agent: AGENT,
    };
    let e = fetch_repository(&fetcher(&cache), &server.base, &options)
        .await
        .unwrap_err();
    let text = e
        .to_string()
        .replace(server.base.as_str(), "http://127.0.0.1:PORT/cran");
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn file_repositories_and_their_archives() {
    let root = tempfile::TempDir::new().unwrap();
    let contrib = root.path().join("src/contrib");
    std::fs::create_dir_all(contrib.join("Archive/glue")).unwrap();
    std::fs::write(contrib.join("PACKAGES"), PACKAGES).unwrap();
    for file in [
        "glue_1.6.1.tar.gz",
        "glue_1.10.0.tar.gz",
        "glue_1.6.0.tar.gz",
        "README",
    ] {
        std::fs::write(contrib.join("Archive/glue").join(file), b"x").unwrap();
    }
    let repo = Url::from_directory_path(root.path()).unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let fetcher = fetcher(&cache);
    let options = RepoOptions {
        as_of: None,
        user_agent: AGENT,
    };
    assert_eq!(
        fetch_repository(&fetcher, &repo, &options)
            .await
            .unwrap()
            .len(),
        4
    );
    let versions = archived_versions(&fetcher, &repo, "glue", &options)
        .await
        .unwrap();
    let shown: Vec<String> = versions.iter().map(|(v, _)| v.to_string()).collect();
    assert_eq!(shown, ["1.10.0", "1.6.1", "1.6.0"]);
    assert_eq!(versions[0].1, archive_url(&repo, "glue", &v("1.10.0")));
    assert!(
        archived_versions(&fetcher, &repo, "absent", &options)
            .await
            .unwrap()
            .is_empty()
    );

    let e = fetch_repository(&fetcher, &repo.join("nowhere/").unwrap(), &options)
        .await
        .unwrap_err();
    let text = e.to_string().replace(repo.as_str(), "file:///REPO/");
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn archives_over_http_and_absent_ones() {
    let listing = b"<html><body><pre><a href=\"../\">../</a>\n<a href=\"glue_1.6.1.tar.gz\">glue_1.6.1.tar.gz</a> 2022-01-01\n<a href=\"glue_1.4.2.tar.gz\">glue_1.4.2.tar.gz</a>\n</pre></body></html>".to_vec();
    let server = serve(BTreeMap::from([(
        "/cran/src/contrib/Archive/glue/".to_string(),
        listing,
    )]))
    .await;
    let cache = tempfile::TempDir::new().unwrap();
    let fetcher = fetcher(&cache);
    let options = RepoOptions {
        as_of: None,
        user_agent: AGENT,
    };
    let versions = archived_versions(&fetcher, &server.base, "glue", &options)
        .await
        .unwrap();
    let shown: Vec<(String, String)> = versions
        .iter()
        .map(|(v, u)| (v.to_string(), u.path().to_string()))
        .collect();
    assert_eq!(
        shown,
        [
            (
                "1.6.1".into(),
                "/cran/src/contrib/Archive/glue/glue_1.6.1.tar.gz".into()
            ),
            (
                "1.4.2".into(),
                "/cran/src/contrib/Archive/glue/glue_1.4.2.tar.gz".into()
            ),
        ]
    );
    assert!(
        archived_versions(&fetcher, &server.base, "cli", &options)
            .await
            .unwrap()
            .is_empty()
    );
    let hits = server.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.1.as_deref() == Some(AGENT)));
}
