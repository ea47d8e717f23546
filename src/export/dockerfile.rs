//! `rtlock export dockerfile`: a Dockerfile that `docker build` turns into an image
//! equivalent to the lock's (the same packages at the same versions from the same files,
//! the same config), for a team that must build with plain Docker. Not bit-identical:
//! `docker build` stamps times, runs maintainer scripts and writes caches as it goes;
//! `rtlock build` is what gives the same digest everywhere.
//!
//! What it holds, in the order `rtlock build` lays the image:
//! - `FROM` the base by its manifest digest, so the tag cannot move under it;
//! - the lock's `.deb` files downloaded by URL with apt's own downloader, which checks
//!   each sha256 (`apt-helper download-file … SHA256:…`, present wherever apt is), then
//!   `apt-get install` of exactly those files: nothing is re-resolved, whatever the
//!   image's sources say today;
//! - the wheels by URL in a requirements file with their hashes, `pip install
//!   --require-hashes --no-deps --no-index` into the system site of `python3`, the base's
//!   pip configuration ignored (a Cloudera base's `user = true` would send it to
//!   `~/.local`);
//! - the R tarballs downloaded and checked the same way, then `install.packages(FILES,
//!   repos = NULL)` in dependency order, a failed install made an error;
//! - `[image]` last: env, labels (with the base labels `rtlock build` adds), workdir,
//!   entrypoint, cmd, and the user (installs run as root).
//!
//! Each requested package is named in a `# rtlock-requested ECOSYSTEM: NAME` comment, so
//! `rtlock init --from` can read the export back to the manifest it came from. The
//! legacy builder has no heredocs: files are written with `printf`, so the Dockerfile
//! builds with any `docker build`.

use std::fmt::Write as _;
use std::path::Path;

use crate::lockfile::{Lockfile, percent_decode, rfc3339, url_file_name};
use crate::oci::annotation;

/// Where the downloads go inside the build; removed in the same `RUN`.
const APT_DIR: &str = "/tmp/rtlock-apt";
const R_DIR: &str = "/tmp/rtlock-r";
const REQUIREMENTS: &str = "/tmp/rtlock-requirements.txt";

/// Why a lock cannot be written as a Dockerfile.
#[derive(Debug, thiserror::Error)]
pub enum DockerfileError {
    #[error(
        "{} sets [image] {what} `{key}` to a value with a line break, which a Dockerfile \
         cannot express: drop the line break from the manifest and run `rtlock lock` again",
        path.display()
    )]
    LineBreak {
        path: std::path::PathBuf,
        what: &'static str,
        key: String,
    },
    #[error(
        "the [[r]] entries of {} require each other in a cycle ({}), so there is no order \
         to install them in: run `rtlock lock` again",
        path.display(),
        packages.join(", ")
    )]
    Cycle {
        path: std::path::PathBuf,
        packages: Vec<String>,
    },
}

/// The Dockerfile for `lock`, read from `path` (named in the header). `base_user` is the
/// base image's config `User` (empty for root): installs switch to root and back.
pub fn dockerfile(
    lock: &Lockfile,
    path: &Path,
    base_user: &str,
) -> Result<String, DockerfileError> {
    let mut out = String::new();
    for line in header(lock, path) {
        let _ = writeln!(out, "# {line}");
    }
    let base = lock
        .base
        .reference
        .split_once('@')
        .map_or(lock.base.reference.as_str(), |(name, _)| name);
    let _ = writeln!(out, "\nFROM {base}@{}", lock.base.manifest);

    let installs = !(lock.apt.is_empty() && lock.pip.is_empty() && lock.r.is_empty());
    if installs && !is_root(base_user) {
        out.push_str("\nUSER root\n");
    }
    apt(&mut out, lock);
    pip(&mut out, lock);
    r(&mut out, lock, path)?;
    config(&mut out, lock, path)?;
    let user = lock.image.user.as_deref().unwrap_or(base_user);
    // Back to the user the image runs as, when the installs left root or the lock sets one.
    if lock.image.user.is_some() || (installs && !is_root(base_user)) {
        let _ = writeln!(out, "USER {user}");
    }
    Ok(out)
}

fn header(lock: &Lockfile, path: &Path) -> Vec<String> {
    let mut lines = super::provenance(lock, path);
    // The pip export's last line speaks of Python only; here every ecosystem's is meant.
    lines.pop();
    lines.extend([
        "Packages the base image provides are not installed again: its digest pins them."
            .to_string(),
        "`docker build` gives an image equivalent to `rtlock build`'s, not bit-identical."
            .to_string(),
    ]);
    lines
}

/// `1 package`, `3 packages`.
fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `root`, `0`, `0:0`, `root:root` or unset: installs need no switch.
fn is_root(user: &str) -> bool {
    let name = user.split_once(':').map_or(user, |(u, _)| u);
    matches!(name, "" | "root" | "0")
}

/// The requested packages of one ecosystem, one comment line each.
fn requested<'a>(out: &mut String, ecosystem: &str, names: impl Iterator<Item = &'a str>) {
    for name in names {
        let _ = writeln!(out, "# rtlock-requested {ecosystem}: {name}");
    }
}

/// A shell function `get URL FILE SHA256` that downloads into `dir` with apt's own
/// downloader (it checks the hash and fails the build on a mismatch). The sandbox user
/// is root: `_apt` cannot write into a directory root just made.
fn downloader(out: &mut String, dir: &str) {
    let _ = writeln!(out, "    d={dir}; mkdir -p \"$d\"; \\");
    out.push_str(
        "    get() { /usr/lib/apt/apt-helper -o APT::Sandbox::User=root -qq \
         download-file \"$1\" \"$d/$2\" \"SHA256:$3\"; }; \\\n",
    );
}

fn apt(out: &mut String, lock: &Lockfile) {
    if lock.apt.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n# apt: {}, the lock's own .deb files (apt-helper checks each sha256)",
        count(lock.apt.len(), "package")
    );
    requested(
        out,
        "apt",
        lock.apt
            .iter()
            .filter(|p| p.requested)
            .map(|p| p.name.as_str()),
    );
    out.push_str("RUN set -eu; \\\n");
    downloader(out, APT_DIR);
    for p in &lock.apt {
        let file = deb_file(&p.filename);
        let _ = writeln!(out, "    get {} {} {}; \\", sh(&p.url), sh(&file), p.sha256);
    }
    out.push_str(
        "    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         \"$d\"/*.deb; \\\n",
    );
    out.push_str("    rm -rf \"$d\"\n");
}

/// The plain file name of a `.deb` from its pool path (`%3a` decoded as the archive
/// names it; the lock's validation refused anything but a plain name).
fn deb_file(filename: &str) -> String {
    let base = filename.rsplit('/').next().unwrap_or(filename);
    percent_decode(base)
}

fn pip(out: &mut String, lock: &Lockfile) {
    if lock.pip.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n# pip: {}, the lock's own files (pip checks each sha256)",
        count(lock.pip.len(), "wheel")
    );
    requested(
        out,
        "pip",
        lock.pip
            .iter()
            .filter(|p| p.requested)
            .map(|p| p.name.as_str()),
    );
    out.push_str("RUN set -eu; \\\n    printf '%s\\n' \\\n");
    for p in &lock.pip {
        let line = format!("{} @ {} --hash=sha256:{}", p.name, p.url, p.sha256);
        let _ = writeln!(out, "      {} \\", sh(&line));
    }
    let _ = writeln!(out, "      > {REQUIREMENTS}; \\");
    // No configuration file: a base's pip.conf may set `user = true` or an index.
    out.push_str(
        "    PIP_CONFIG_FILE=/dev/null PIP_USER=0 PIP_BREAK_SYSTEM_PACKAGES=1 \
         python3 -m pip install \\\n      --no-index --no-deps --require-hashes \
         --no-cache-dir --no-compile --disable-pip-version-check \\\n",
    );
    let _ = writeln!(out, "      -r {REQUIREMENTS}; \\");
    let _ = writeln!(out, "    rm -f {REQUIREMENTS}");
}

fn r(out: &mut String, lock: &Lockfile, path: &Path) -> Result<(), DockerfileError> {
    if lock.r.is_empty() {
        return Ok(());
    }
    let graph: Vec<(&str, &[String])> = lock
        .r
        .iter()
        .map(|p| (p.name.as_str(), p.requires.as_slice()))
        .collect();
    let order = crate::r::layer::source::build_order(&graph).map_err(|packages| {
        DockerfileError::Cycle {
            path: path.to_path_buf(),
            packages,
        }
    })?;
    let _ = writeln!(
        out,
        "\n# r: {} in install order, the lock's own files (apt-helper checks each \
         sha256)",
        count(lock.r.len(), "package")
    );
    requested(
        out,
        "r",
        lock.r
            .iter()
            .filter(|p| p.requested)
            .map(|p| p.name.as_str()),
    );
    out.push_str("RUN set -eu; \\\n");
    downloader(out, R_DIR);
    let mut files = Vec::new();
    for name in &order {
        let Some(p) = lock.r.iter().find(|p| &p.name == name) else {
            continue;
        };
        // Validated when the lock was read: the url ends in a plain file name.
        let file = url_file_name(&p.url).unwrap_or_else(|| format!("{}.tar.gz", p.name));
        let _ = writeln!(out, "    get {} {} {}; \\", sh(&p.url), sh(&file), p.sha256);
        files.push(file);
    }
    // install.packages only warns when a package fails; warn = 2 makes that an error.
    out.push_str(
        "    Rscript -e 'options(warn = 2); install.packages(commandArgs(TRUE), repos = NULL)' \\\n",
    );
    for (i, file) in files.iter().enumerate() {
        let end = if i + 1 == files.len() { "; \\" } else { " \\" };
        let _ = writeln!(out, "      \"$d\"/{}{end}", sh(file));
    }
    out.push_str("    rm -rf \"$d\"\n");
    Ok(())
}

fn config(out: &mut String, lock: &Lockfile, path: &Path) -> Result<(), DockerfileError> {
    let image = &lock.image;
    let line_break = |what: &'static str, key: &str, value: &str| {
        if value.contains(['\n', '\r']) || key.contains(['\n', '\r']) {
            Err(DockerfileError::LineBreak {
                path: path.to_path_buf(),
                what,
                key: key.to_string(),
            })
        } else {
            Ok(())
        }
    };
    out.push('\n');
    if !image.env.is_empty() {
        let pairs = image
            .env
            .iter()
            .map(|(k, v)| {
                line_break("env", k, v)?;
                Ok(format!("{k}={}", dq(v)))
            })
            .collect::<Result<Vec<_>, DockerfileError>>()?;
        continued(out, "ENV", &pairs);
    }
    // The labels `rtlock build` adds to every image (`build::config`), so both images
    // carry the same config; the lock's own labels win, as there.
    let mut labels = vec![
        (annotation::CREATED, rfc3339(lock.source_date_epoch)),
        (annotation::BASE_DIGEST, lock.base.manifest.to_string()),
        (annotation::BASE_NAME, lock.base.reference.clone()),
    ];
    labels.retain(|(k, _)| !image.labels.contains_key(*k));
    let mut pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", dq(v)))
        .collect();
    for (k, v) in &image.labels {
        line_break("label", k, v)?;
        pairs.push(format!("{}={}", dq(k), dq(v)));
    }
    continued(out, "LABEL", &pairs);
    if let Some(workdir) = &image.workdir {
        line_break("workdir", "workdir", workdir)?;
        let _ = writeln!(out, "WORKDIR {workdir}");
    }
    if let Some(entrypoint) = &image.entrypoint {
        let _ = writeln!(out, "ENTRYPOINT {}", json(entrypoint));
    }
    if let Some(cmd) = &image.cmd {
        let _ = writeln!(out, "CMD {}", json(cmd));
    }
    Ok(())
}

/// `INSTRUCTION a \` + one pair per line.
fn continued(out: &mut String, instruction: &str, pairs: &[String]) {
    for (i, pair) in pairs.iter().enumerate() {
        let lead = if i == 0 {
            format!("{instruction} ")
        } else {
            " ".repeat(instruction.len() + 1)
        };
        let tail = if i + 1 < pairs.len() { " \\" } else { "" };
        let _ = writeln!(out, "{lead}{pair}{tail}");
    }
}

/// A shell word: single-quoted unless it is plainly safe.
fn sh(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A double-quoted Dockerfile value: `\`, `"` and `$` escaped, so Docker neither
/// expands nor unquotes anything.
fn dq(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The exec form of ENTRYPOINT and CMD: a JSON array of strings.
fn json(args: &[String]) -> String {
    serde_json::to_string(args).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ecosystem and every `[image]` key; `init`'s round trip reads it too.
    const LOCK: &str = include_str!("../../fixtures/locks/export-roundtrip.lock");

    fn lock(text: &str) -> Lockfile {
        crate::lockfile::parse(text, Path::new("runtime.lock")).unwrap()
    }

    #[test]
    fn every_ecosystem_then_the_config() {
        let lock = lock(LOCK);
        let text = dockerfile(&lock, Path::new("runtime.lock"), "").unwrap();
        assert_eq!(
            dockerfile(&lock, Path::new("runtime.lock"), "").unwrap(),
            text,
            "the same bytes"
        );
        insta::assert_snapshot!("dockerfile_every_ecosystem", text);
        // R's order is the lock's requires, not its (alphabetical) order.
        let units = text.find("units_0.8-5").unwrap();
        assert!(units < text.find("sf_1.0-14").unwrap());
    }

    fn users(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.starts_with("USER ")).collect()
    }

    #[test]
    fn installs_run_as_root_and_the_base_user_comes_back() {
        let only_pip = LOCK
            .split("[[apt]]")
            .next()
            .unwrap()
            .replace("user = \"8536\"\n", "")
            + "[[pip]]"
            + LOCK
                .split("[[pip]]")
                .nth(1)
                .unwrap()
                .split("[[r]]")
                .next()
                .unwrap();
        let text = dockerfile(&lock(&only_pip), Path::new("runtime.lock"), "cdsw").unwrap();
        assert_eq!(users(&text), ["USER root", "USER cdsw"], "{text}");
        assert!(text.find("USER root").unwrap() < text.find("pip install").unwrap());
        assert!(text.trim_end().ends_with("USER cdsw"), "{text}");

        // A root base needs no switch; nothing to install, none either.
        let text = dockerfile(&lock(&only_pip), Path::new("runtime.lock"), "0:0").unwrap();
        assert_eq!(users(&text), Vec::<&str>::new(), "{text}");
        let config_only = LOCK.split("[[apt]]").next().unwrap();
        let text = dockerfile(&lock(config_only), Path::new("runtime.lock"), "cdsw").unwrap();
        assert_eq!(users(&text), ["USER 8536"], "{text}");
    }

    #[test]
    fn what_a_dockerfile_cannot_say() {
        let broken = LOCK.replace("TZ = \"UTC\"", "TZ = \"UTC\\nX\"");
        let e = dockerfile(&lock(&broken), Path::new("runtime.lock"), "").unwrap_err();
        insta::assert_snapshot!(e.to_string(), @"runtime.lock sets [image] env `TZ` to a value with a line break, which a Dockerfile cannot express: drop the line break from the manifest and run `rtlock lock` again");

        // The last entry is units: now it requires sf, which requires it.
        let cycle = format!("{LOCK}requires = [\"sf\"]\n");
        let e = dockerfile(&lock(&cycle), Path::new("runtime.lock"), "").unwrap_err();
        insta::assert_snapshot!(e.to_string(), @"the [[r]] entries of runtime.lock require each other in a cycle (sf, units), so there is no order to install them in: run `rtlock lock` again");
    }

    #[test]
    fn words_are_quoted_for_the_shell_and_values_for_docker() {
        assert_eq!(
            sh("http://h/p/a_1.0+b1_amd64.deb"),
            "http://h/p/a_1.0+b1_amd64.deb"
        );
        assert_eq!(sh("x @ y"), "'x @ y'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh(""), "''");
        assert_eq!(dq(r#"a"b\c$d"#), r#""a\"b\\c\$d""#);
        assert!(is_root("") && is_root("root") && is_root("0:0") && is_root("root:staff"));
        assert!(!is_root("cdsw") && !is_root("8536:8536"));
    }
}
