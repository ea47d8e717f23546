//! Running rtlock and Docker from tests, and comparing their line-oriented reports.

use std::path::Path;
use std::process::{Command, Output};

use super::testbed::{docker, ok, testbed};

/// `rtlock --cache-dir CACHE ARGS…` with the test bed's environment.
pub fn rtlock(cache: &Path, args: &[&str]) -> Output {
    rtlock_env(cache, args, &[])
}

/// [`rtlock`] with `env` set on top of the test bed's environment (e.g. another
/// `DOCKER_HOST`, a `SOURCE_DATE_EPOCH`).
pub fn rtlock_env(cache: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    testbed().apply_env(&mut cmd);
    cmd.envs(env.iter().copied());
    cmd.arg("--cache-dir").arg(cache).args(args);
    cmd.output().expect("run rtlock")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The last line of standard output (where `build` prints the digest).
pub fn last_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// `sh -c SCRIPT` in a throwaway container of `image`, with `-v` `mounts`; its output.
pub fn run_in(image: &str, mounts: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    for mount in mounts {
        args.extend(["-v", mount]);
    }
    args.extend([image, "sh", "-c", script]);
    ok(&format!("docker run {image}"), docker(&args))
}

/// Line-by-line equality of rtlock's report with an `oracle`'s (dpkg, pip), with the first
/// differences in the panic and both texts kept in a temporary directory.
pub fn assert_same_lines(expected: &str, actual: &str, oracle: &str, what: &str) {
    if expected == actual {
        return;
    }
    let dump = std::env::temp_dir().join(format!("rtlock-{oracle}-{}", std::process::id()));
    std::fs::create_dir_all(&dump).unwrap();
    std::fs::write(dump.join("expected"), expected).unwrap();
    std::fs::write(dump.join("actual"), actual).unwrap();
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|l| !actual.contains(l))
        .take(20)
        .collect();
    let extra: Vec<&&str> = actual
        .iter()
        .filter(|l| !expected.contains(l))
        .take(20)
        .collect();
    panic!(
        "{what} differ from {oracle}'s (both in {}):\nonly in {oracle}'s: {missing:#?}\nonly in rtlock's: {extra:#?}",
        dump.display()
    );
}

/// `rtlock --cache-dir CACHE ARGS…` run in `dir`, with the test bed's environment,
/// no colours, and none of the caller's `SOURCE_DATE_EPOCH` or pip index settings.
pub fn rtlock_in(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rtlock"))
        .current_dir(dir)
        .envs(testbed().env())
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .output()
        .expect("run rtlock")
}

/// The standard output of a run that must have succeeded (else its standard error, in
/// the panic).
pub fn succeed(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A new directory holding `manifest` as its `runtime.toml`, locked (quietly) with a cache
/// of its own; the directory and that cache.
pub fn locked(manifest: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    std::fs::write(dir.path().join("runtime.toml"), manifest).unwrap();
    succeed("lock", rtlock_in(dir.path(), &cache, &["-q", "lock"]));
    (dir, cache)
}
