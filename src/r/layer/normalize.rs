//! Normalizing what `R CMD INSTALL` of the source packages installed, so that two builds
//! of the same lock give the same bytes, whatever the clock, the host or the run.
//!
//! Found by building the same CRAN package (glue 1.6.2, with C code and Rd pages) twice
//! in a container of Debian's R 4.2.2 and comparing the trees. Of the 40 files, 6
//! differed: `libs/glue.so`, `help/paths.rds`, `help/glue.rdb`, `help/glue.rdx`,
//! `DESCRIPTION` and `Meta/package.rds`. The rules that make them equal, each with its
//! reason:
//!
//! - **A fixed build directory.** `R CMD INSTALL pkg.tar.gz` unpacks into a fresh
//!   `/tmp/RtmpXXXXXX/R.INSTALL…` and compiles there; the compiler writes that
//!   directory into the shared object's debug information, and the help database keeps
//!   the paths of the Rd files. The sources are unpacked by rtlock into
//!   [`super::source::BUILD_DIR`]`/<Package>` and installed from there, so the paths are
//!   the same every run. That alone makes the first four equal.
//! - **The build date.** R writes the time of the install into DESCRIPTION's `Built:`
//!   field and into `Meta/package.rds` (`DESCRIPTION["Built"]` and `Built$Date`). R's
//!   `R CMD INSTALL --built-timestamp=STAMP` sets it (Debian's R 4.2.2 has the option;
//!   the build asks `R CMD INSTALL --help` and uses it with the epoch's date when it is
//!   there). For an R without it, [`rewrite_built`] replaces the
//!   date afterwards: the date is `format(Sys.time(), "%Y-%m-%d %H:%M:%S", tz = "UTC",
//!   usetz = TRUE)`, 23 bytes for every year from 1000 to 9999, so in the decompressed
//!   `package.rds` (R's serialization, where each string is stored as a length and its
//!   bytes) the epoch's date of the same length replaces it without changing any
//!   length; the result is recompressed with the layer writer's gzip (level 6, no name,
//!   no time, R's OS byte). Checked against R itself (tests/build_r.rs): the rewritten
//!   file decompresses to exactly the bytes R writes when given the stamp, and `readRDS`
//!   reads it as the identical object.
//! - **No mtimes.** Every captured entry has `mtime: None` (the epoch): the engine has no
//!   time namespace, so the build ran on the host's clock.
//! - Owners and modes stay as R left them (root's, with the group of a setgid library
//!   directory where it is one): they do not vary between runs.
//! - Only the packages' own directories are kept ([`is_captured`]): R's temporary files
//!   and the unpacked sources are not part of the result.

use std::io::{Read, Write};

use crate::deb822::owned::paragraphs;
use crate::oci::layer::{Content, Entry, EntryKind};

/// Why what a source build installed cannot be made reproducible.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    #[error(
        "`R CMD INSTALL` of the R source package {package} succeeded but left no /{path}\n\
         help: the package's install scripts put it elsewhere; report it to rtlock with the \
         package's name and version"
    )]
    NotInstalled { package: String, path: String },
    #[error(
        "the R source package {package} installed /{path}, which rtlock cannot make \
         reproducible: {problem}"
    )]
    Unreadable {
        package: String,
        path: String,
        problem: String,
    },
}

/// The date R writes into `Built:` for `epoch`: `2025-11-01 00:00:00 UTC`.
pub fn built_stamp(epoch: i64) -> String {
    let time = jiff::Timestamp::from_second(epoch).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{} UTC", time.strftime("%Y-%m-%d %H:%M:%S"))
}

/// Whether a path the build changed belongs to one of `packages`' directories in
/// `library` (image paths, no leading `/`).
pub fn is_captured(path: &str, library: &str, packages: &[String]) -> bool {
    let Some(rest) = path.strip_prefix(library).and_then(|r| r.strip_prefix('/')) else {
        return false;
    };
    let first = rest.split('/').next().unwrap_or_default();
    packages.iter().any(|p| p == first)
}

/// What the builds of `packages` installed in `library`, normalized (see the module
/// documentation); `stamp` is [`built_stamp`] of the epoch.
pub fn captured(
    entries: Vec<Entry>,
    library: &str,
    packages: &[String],
    stamp: &str,
) -> Result<Vec<Entry>, NormalizeError> {
    let mut kept: Vec<Entry> = Vec::new();
    for mut entry in entries {
        if !is_captured(&entry.path, library, packages) {
            continue;
        }
        if entry.is_whiteout() {
            let package = owner(&entry.path, library);
            return Err(NormalizeError::Unreadable {
                package,
                path: entry.path,
                problem: "its name is an overlay whiteout's (`.wh.`), which would delete \
                          files of the image"
                    .to_string(),
            });
        }
        entry.mtime = None;
        kept.push(entry);
    }
    for package in packages {
        rewrite_built(&mut kept, library, package, stamp)?;
    }
    Ok(kept)
}

fn owner(path: &str, library: &str) -> String {
    path.strip_prefix(library)
        .unwrap_or(path)
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The date of a DESCRIPTION's `Built:` field (`R 4.2.2; x86_64-pc-linux-gnu;
/// 2023-01-10 12:00:00 UTC; unix`).
pub fn built_date(description: &str) -> Option<String> {
    let fields = paragraphs(description).into_iter().next()?;
    let built = fields.get("Built")?;
    Some(built.split(';').nth(2)?.trim().to_string())
}

/// Sets the build date of `package` (in `entries`, under `library`) to `stamp`: in its
/// DESCRIPTION's `Built:` field and in `Meta/package.rds`. Nothing changes when R was
/// given the stamp already.
pub fn rewrite_built(
    entries: &mut [Entry],
    library: &str,
    package: &str,
    stamp: &str,
) -> Result<(), NormalizeError> {
    let description_path = format!("{library}/{package}/DESCRIPTION");
    let rds_path = format!("{library}/{package}/Meta/package.rds");
    let unreadable = |path: &str, problem: String| NormalizeError::Unreadable {
        package: package.to_string(),
        path: path.to_string(),
        problem,
    };
    let description =
        bytes_of(entries, &description_path).ok_or_else(|| NormalizeError::NotInstalled {
            package: package.to_string(),
            path: description_path.clone(),
        })?;
    let text = String::from_utf8_lossy(description).into_owned();
    let date = built_date(&text).ok_or_else(|| {
        unreadable(
            &description_path,
            "it has no `Built:` field with a date".to_string(),
        )
    })?;
    if date == stamp {
        return Ok(());
    }
    if date.len() != stamp.len() {
        return Err(unreadable(
            &description_path,
            format!("its build date `{date}` is not of the form `{stamp}`"),
        ));
    }
    let rewritten = rewrite_built_line(&text, &date, stamp);
    let rds = bytes_of(entries, &rds_path).ok_or_else(|| NormalizeError::NotInstalled {
        package: package.to_string(),
        path: rds_path.clone(),
    })?;
    let rds = rewrite_rds(rds, &date, stamp).map_err(|problem| unreadable(&rds_path, problem))?;
    for entry in entries.iter_mut() {
        if entry.path == description_path {
            entry.kind = EntryKind::File(Content::Bytes(rewritten.clone().into_bytes()));
        } else if entry.path == rds_path {
            entry.kind = EntryKind::File(Content::Bytes(rds.clone()));
        }
    }
    Ok(())
}

fn bytes_of<'a>(entries: &'a [Entry], path: &str) -> Option<&'a [u8]> {
    entries.iter().find_map(|e| match &e.kind {
        EntryKind::File(Content::Bytes(bytes)) if e.path == path => Some(bytes.as_slice()),
        _ => None,
    })
}

/// `text` with `date` replaced by `stamp` in its `Built:` line only.
fn rewrite_built_line(text: &str, date: &str, stamp: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with("Built:") {
            out.push_str(&line.replacen(date, stamp, 1));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// A gzip-compressed serialized R object with every occurrence of `date` (the build
/// date: `DESCRIPTION["Built"]` holds it, `Built$Date` is it) replaced by `stamp`, of the
/// same length, recompressed deterministically.
pub fn rewrite_rds(rds: &[u8], date: &str, stamp: &str) -> Result<Vec<u8>, String> {
    if date.len() != stamp.len() {
        return Err(format!("`{date}` and `{stamp}` differ in length"));
    }
    if !rds.starts_with(&[0x1f, 0x8b]) {
        return Err("it is not gzip-compressed (R's saveRDS default)".to_string());
    }
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(rds)
        .read_to_end(&mut plain)
        .map_err(|e| format!("it does not decompress: {e}"))?;
    let found: Vec<usize> = memchr::memmem::find_iter(&plain, date.as_bytes()).collect();
    if found.is_empty() {
        return Err(format!("the build date `{date}` is not in it"));
    }
    for at in found {
        plain[at..at + stamp.len()].copy_from_slice(stamp.as_bytes());
    }
    // R's own gzip header: no name, no time, Unix (3).
    let mut out = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(3)
        .write(Vec::new(), flate2::Compression::new(6));
    out.write_all(&plain).map_err(|e| e.to_string())?;
    out.finish().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        out.write_all(bytes).unwrap();
        out.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn the_stamp_is_r_s_date_format() {
        assert_eq!(built_stamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(built_stamp(1_761_955_200), "2025-11-01 00:00:00 UTC");
        assert_eq!(
            built_stamp(1_761_955_200 + 3_723),
            "2025-11-01 01:02:03 UTC"
        );
    }

    #[test]
    fn only_the_packages_directories_are_captured() {
        let lib = "usr/local/lib/R/site-library";
        let packages = ["glue".to_string()];
        for (path, kept) in [
            ("usr/local/lib/R/site-library/glue", true),
            ("usr/local/lib/R/site-library/glue/libs/glue.so", true),
            ("usr/local/lib/R/site-library/gluey/DESCRIPTION", false),
            ("usr/local/lib/R/site-library/00LOCK-glue/00new", false),
            ("usr/local/lib/R/site-library", false),
            ("tmp/rtlock-r/build/glue/src/glue.o", false),
        ] {
            assert_eq!(is_captured(path, lib, &packages), kept, "{path}");
        }
    }

    const DESCRIPTION: &str = "Package: glue\nVersion: 1.6.2\nPackaged: 2022-02-23 22:50:40 UTC; jenny\n\
         Built: R 4.2.2; x86_64-pc-linux-gnu; 2026-12-02 09:45:25 UTC; unix\n";

    fn installed(rds: Vec<u8>) -> Vec<Entry> {
        vec![
            Entry::dir("lib/glue", 0o755).mtime(99),
            Entry::file(
                "lib/glue/DESCRIPTION",
                0o644,
                Content::Bytes(DESCRIPTION.as_bytes().to_vec()),
            )
            .mtime(99),
            Entry::file("lib/glue/Meta/package.rds", 0o644, Content::Bytes(rds)),
            Entry::file("lib/other/DESCRIPTION", 0o644, Content::Bytes(Vec::new())),
        ]
    }

    #[test]
    fn the_build_date_is_rewritten_in_description_and_package_rds() {
        // The strings as R's serialization stores them: a length, then the bytes.
        let date = "2026-12-02 09:45:25 UTC";
        let built = format!("R 4.2.2; x86_64-pc-linux-gnu; {date}; unix");
        let mut plain = b"X\n\x00\x00\x00\x03".to_vec();
        for s in [built.as_str(), date] {
            plain.extend_from_slice(&(s.len() as u32).to_be_bytes());
            plain.extend_from_slice(s.as_bytes());
        }
        let stamp = built_stamp(1_761_955_200);
        let out = captured(
            installed(gzip(&plain)),
            "lib",
            &["glue".to_string()],
            &stamp,
        )
        .unwrap();
        let paths: Vec<&str> = out.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "lib/glue",
                "lib/glue/DESCRIPTION",
                "lib/glue/Meta/package.rds"
            ]
        );
        assert!(out.iter().all(|e| e.mtime.is_none()));
        let text =
            String::from_utf8(bytes_of(&out, "lib/glue/DESCRIPTION").unwrap().to_vec()).unwrap();
        assert_eq!(text, DESCRIPTION.replace(date, &stamp));
        let rds = bytes_of(&out, "lib/glue/Meta/package.rds").unwrap();
        let expected = String::from_utf8_lossy(&plain).replace(date, &stamp);
        assert_eq!(String::from_utf8_lossy(&gunzip(rds)), expected);
        // The header R writes: no name, no time, Unix.
        assert_eq!(&rds[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
        // The same input, the same bytes.
        let again = captured(
            installed(gzip(&plain)),
            "lib",
            &["glue".to_string()],
            &stamp,
        )
        .unwrap();
        assert_eq!(out, again);
    }

    #[test]
    fn a_build_given_the_stamp_is_left_as_r_wrote_it() {
        let stamp = "2026-12-02 09:45:25 UTC";
        let entries = installed(b"not even gzip".to_vec());
        let out = captured(entries.clone(), "lib", &["glue".to_string()], stamp).unwrap();
        assert_eq!(
            bytes_of(&out, "lib/glue/Meta/package.rds"),
            Some(&b"not even gzip"[..])
        );
    }

    #[test]
    fn what_cannot_be_rewritten_is_an_error_naming_the_file() {
        let stamp = built_stamp(0);
        let err = captured(
            installed(b"plain".to_vec()),
            "lib",
            &["glue".into()],
            &stamp,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/lib/glue/Meta/package.rds"), "{err}");
        assert!(err.contains("not gzip"), "{err}");
        let err = captured(Vec::new(), "lib", &["glue".into()], &stamp)
            .unwrap_err()
            .to_string();
        assert!(err.contains("left no /lib/glue/DESCRIPTION"), "{err}");
    }
}
