//! What rtlock writes, and where it refuses to (issue 11, points 3 and 6): the lock,
//! exports and archives replace only a regular file or nothing, follow symlinks to their
//! target, never overwrite the file they are made from; a standard output that fails is
//! an error (exit 1, no panic), and a pipe closed early ends the command quietly.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::cli::{last_line, stderr};
use common::testbed::{lock_header, testbed};

/// `rtlock ARGS…` to run in `dir` (so messages show relative paths), with the bed's
/// environment and a cache in `dir/cache`.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    testbed().apply_env(&mut cmd);
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SOURCE_DATE_EPOCH")
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .stderr(Stdio::piped());
    cmd
}

/// [`command`], run with standard output sent to `stdout`.
fn rtlock_in(dir: &Path, args: &[&str], stdout: Stdio) -> Output {
    command(dir, args)
        .stdout(stdout)
        .output()
        .expect("run rtlock")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    rtlock_in(dir, args, Stdio::piped())
}

/// Standard output on `/dev/full`: every write fails with ENOSPC.
fn dev_full() -> Stdio {
    Stdio::from(
        File::options()
            .write(true)
            .open("/dev/full")
            .expect("open /dev/full"),
    )
}

/// A manifest that needs no network until resolution starts.
const OFFLINE_MANIFEST: &str = "[base]\nimage = \"registry.example.com/ml/runtime:1\"\n";

/// A lock with one pip package, readable without any network (why, export, diff).
fn pip_lock(version: &str) -> String {
    let zero = "0".repeat(64);
    format!(
        "version = 1\nmanifest = \"sha256:{zero}\"\nsource-date-epoch = 1700000000\n\n\
         [base]\nreference = \"registry.example.com/ml/runtime:1\"\n\
         digest = \"sha256:{zero}\"\nmanifest = \"sha256:{zero}\"\nplatform = \"linux/amd64\"\n\n\
         [[pip]]\nname = \"six\"\nversion = \"{version}\"\nfile = \"six-{version}-py2.py3-none-any.whl\"\n\
         url = \"http://127.0.0.1:9/six-{version}-py2.py3-none-any.whl\"\n\
         sha256 = \"{}\"\nsize = 11050\nrequested = true\nrequires = []\n",
        "1".repeat(64)
    )
}

/// The manifest of the bed's minimal base, with no packages (a lock of it is quick).
fn bed_manifest(dir: &Path) {
    std::fs::write(
        dir.join("runtime.toml"),
        format!("[base]\nimage = \"{}\"\n", testbed().image_minimal),
    )
    .unwrap();
}

/// A lock of the bed's minimal base alone (a build of it is quick).
fn bed_lock(dir: &Path) {
    std::fs::write(
        dir.join("runtime.lock"),
        lock_header(&testbed().image_minimal, 1_700_000_000),
    )
    .unwrap();
}

/// What the printing commands read in `d`: `runtime.lock` and `new.lock` (one pip
/// package, two versions) and `bed/runtime.lock` (the bed's minimal base alone).
fn printing_locks(d: &Path) {
    std::fs::write(d.join("runtime.lock"), pip_lock("1.17.0")).unwrap();
    std::fs::write(d.join("new.lock"), pip_lock("1.16.0")).unwrap();
    std::fs::create_dir(d.join("bed")).unwrap();
    bed_lock(&d.join("bed"));
}

fn assert_fails_with(out: &Output, expected: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A character device like /dev/null (1, 3) at `path`. The tests run as root (CI and
/// scripts/test do); without root this fails rather than skipping the case.
fn mknod_null(path: &Path) {
    let out = Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mknod needs root (run the tests as root, as scripts/test does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_char_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_char_device()
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_fifo()
}

#[test]
fn lock_refuses_a_device_a_fifo_and_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("runtime.toml"), OFFLINE_MANIFEST).unwrap();
    mknod_null(&d.join("null"));
    mkfifo(&d.join("fifo"));
    std::fs::create_dir(d.join("a-dir")).unwrap();

    let out = run(d, &["lock", "-o", "null"]);
    assert_fails_with(&out, "null is a character device, not a regular file");
    insta::assert_snapshot!("lock_over_a_device", stderr(&out));
    assert!(is_char_device(&d.join("null")), "the device was replaced");

    let out = run(d, &["lock", "-o", "fifo"]);
    assert_fails_with(&out, "fifo is a fifo (named pipe), not a regular file");
    assert!(is_fifo(&d.join("fifo")), "the fifo was replaced");

    let out = run(d, &["lock", "-o", "a-dir"]);
    assert_fails_with(&out, "a-dir is a directory, not a regular file");
    assert!(d.join("a-dir").is_dir());

    // Through a symlink, the message names both.
    std::os::unix::fs::symlink("null", d.join("runtime.lock")).unwrap();
    let out = run(d, &["lock"]);
    assert_fails_with(
        &out,
        "null is a character device (the symlink runtime.lock leads there)",
    );
    assert!(is_char_device(&d.join("null")));
}

#[test]
fn lock_refuses_to_overwrite_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("runtime.toml"), OFFLINE_MANIFEST).unwrap();
    std::fs::hard_link(d.join("runtime.toml"), d.join("hard.toml")).unwrap();
    std::os::unix::fs::symlink("runtime.toml", d.join("soft.toml")).unwrap();

    let out = run(d, &["lock", "-m", "runtime.toml", "-o", "runtime.toml"]);
    assert_fails_with(&out, "is the manifest runtime.toml itself");
    insta::assert_snapshot!("lock_over_its_manifest", stderr(&out));
    for other in ["hard.toml", "soft.toml", "./runtime.toml"] {
        let out = run(d, &["lock", "-m", "runtime.toml", "-o", other]);
        assert_fails_with(&out, "itself");
    }
    assert_eq!(
        std::fs::read_to_string(d.join("runtime.toml")).unwrap(),
        OFFLINE_MANIFEST
    );
}

#[test]
fn lock_writes_through_a_symlinked_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bed_manifest(d);
    std::fs::create_dir(d.join("locks")).unwrap();
    std::fs::write(d.join("locks/team.lock"), "# old\n").unwrap();
    std::os::unix::fs::symlink("locks/team.lock", d.join("runtime.lock")).unwrap();

    let out = run(d, &["lock"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let link = std::fs::symlink_metadata(d.join("runtime.lock")).unwrap();
    assert!(link.file_type().is_symlink(), "the symlink became a file");
    let written = std::fs::read_to_string(d.join("locks/team.lock")).unwrap();
    assert!(written.contains(&testbed().image_minimal), "{written}");
    let left: Vec<_> = std::fs::read_dir(d.join("locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["team.lock"], "a temporary file was left");
}

#[test]
fn build_refuses_an_archive_over_a_device_or_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bed_lock(d);
    mknod_null(&d.join("null"));
    for destination in ["docker-archive:null", "oci-archive:null"] {
        let out = run(d, &["build", "-o", destination]);
        assert_fails_with(&out, "null is a character device, not a regular file");
        assert!(is_char_device(&d.join("null")), "{destination} replaced it");
    }
    let lock = std::fs::read(d.join("runtime.lock")).unwrap();
    let out = run(d, &["build", "-o", "docker-archive:runtime.lock"]);
    assert_fails_with(&out, "is the lock runtime.lock itself");
    assert_eq!(std::fs::read(d.join("runtime.lock")).unwrap(), lock);
}

#[test]
fn build_writes_an_archive_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    bed_lock(d);
    std::fs::create_dir(d.join("out")).unwrap();
    std::os::unix::fs::symlink("out/image.tar", d.join("image.tar")).unwrap();

    let out = run(d, &["build", "-o", "oci-archive:image.tar"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        last_line(&out).starts_with("sha256:"),
        "{}",
        last_line(&out)
    );

    let link = std::fs::symlink_metadata(d.join("image.tar")).unwrap();
    assert!(link.file_type().is_symlink(), "the symlink became a file");
    let tar = Command::new("tar")
        .arg("-tf")
        .arg(d.join("out/image.tar"))
        .output()
        .unwrap();
    assert!(tar.status.success(), "not a tar");
    assert!(String::from_utf8_lossy(&tar.stdout).contains("index.json"));
}

#[test]
fn export_output_is_written_atomically_and_only_over_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("runtime.lock"), pip_lock("1.17.0")).unwrap();

    let to_stdout = run(d, &["export", "requirements"]);
    assert!(to_stdout.status.success(), "{}", stderr(&to_stdout));
    std::fs::write(d.join("requirements.txt"), "old\n").unwrap();
    let out = run(d, &["export", "requirements", "-o", "requirements.txt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "-o writes nothing to standard output"
    );
    assert_eq!(
        std::fs::read(d.join("requirements.txt")).unwrap(),
        to_stdout.stdout,
        "-o writes what standard output gets"
    );

    mkfifo(&d.join("fifo"));
    let out = run(d, &["export", "requirements", "-o", "fifo"]);
    assert_fails_with(&out, "fifo is a fifo (named pipe), not a regular file");
    assert!(is_fifo(&d.join("fifo")));

    let out = run(d, &["export", "pylock", "-o", "runtime.lock"]);
    assert_fails_with(&out, "is the lock runtime.lock itself");
    assert_eq!(
        std::fs::read_to_string(d.join("runtime.lock")).unwrap(),
        pip_lock("1.17.0")
    );
}

/// A tmpfs of 64 KiB mounted at `path` (root only, as the tests run), filled to the
/// last byte; unmounted when dropped.
struct FullDisk(std::path::PathBuf);

impl FullDisk {
    fn mount(path: std::path::PathBuf) -> FullDisk {
        std::fs::create_dir(&path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (run the tests as root, as scripts/test does): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        FullDisk(path)
    }

    fn fill(&self) {
        use std::io::Write as _;
        let mut filler = File::create(self.0.join("filler")).unwrap();
        let page = [0u8; 4096];
        while filler.write_all(&page).is_ok() {}
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_export_to_a_full_disk_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("runtime.lock"), pip_lock("1.17.0")).unwrap();
    let disk = FullDisk::mount(d.join("disk"));
    std::fs::write(d.join("disk/requirements.txt"), "old\n").unwrap();
    disk.fill();

    let out = run(
        d,
        &["export", "requirements", "-o", "disk/requirements.txt"],
    );
    assert_fails_with(&out, "No space left on device");
    assert_eq!(
        std::fs::read_to_string(d.join("disk/requirements.txt")).unwrap(),
        "old\n"
    );
    let mut left: Vec<_> = std::fs::read_dir(d.join("disk"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["filler", "requirements.txt"],
        "a temporary file was left"
    );
}

/// Issue 11, point 6: every command with a result on standard output, run with it on
/// /dev/full, exits 1 with `error: cannot write to standard output: …` and no panic.
#[test]
fn a_full_standard_output_is_an_error_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    printing_locks(d);
    std::fs::create_dir(d.join("check")).unwrap();
    std::fs::write(d.join("check/runtime.toml"), OFFLINE_MANIFEST).unwrap();
    let manifest = rtlock::manifest::Manifest::load(&d.join("check/runtime.toml")).unwrap();
    std::fs::write(
        d.join("check/runtime.lock"),
        pip_lock("1.17.0").replace(
            &format!("sha256:{}", "0".repeat(64)),
            &manifest.normalized_hash(),
        ),
    )
    .unwrap();
    let inspect_source = format!("oci:{}", testbed().image_minimal_oci);

    let commands: [&[&str]; 7] = [
        &["export", "requirements"],
        &["export", "pylock"],
        &["why", "six"],
        &["diff", "runtime.lock", "new.lock"],
        &["lock", "--check", "-m", "check/runtime.toml"],
        &["inspect", &inspect_source],
        &["build", "-l", "bed/runtime.lock"],
    ];
    for args in commands {
        let out = rtlock_in(d, args, dev_full());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("error: cannot write to standard output: No space left on device"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// `rtlock … | head -1`: the reader goes away; the command ends quietly (exit 0, see
/// main.rs for why), with no panic and no error message.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    printing_locks(d);
    let commands: [&[&str]; 5] = [
        &["export", "requirements"],
        &["why", "six"],
        &["diff", "runtime.lock", "new.lock"],
        &["build", "-l", "bed/runtime.lock"],
        &["build", "-l", "bed/runtime.lock", "--format", "json"],
    ];
    for args in commands {
        let mut child = command(d, args).stdout(Stdio::piped()).spawn().unwrap();
        // Closed before rtlock has read its lock, so its first write meets EPIPE.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("error"), "{args:?}: {err}");
    }
}
