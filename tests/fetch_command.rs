//! `rtlock fetch` as a user runs it: real processes, a real lock file, a real HTTP server
//! on 127.0.0.1, and a shared cache directory.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::server::StaticServer;
use rtlock::fetch::sha256_hex;

/// Deterministic, incompressible-looking bytes, `len` long (xorshift seeded by the
/// seed's hash: fast even in a debug build).
fn pseudo_random(seed: &str, len: usize) -> Vec<u8> {
    let digest = hex::decode(sha256_hex(seed.as_bytes())).unwrap();
    let mut state = u64::from_le_bytes(digest[..8].try_into().unwrap()) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One artifact a test lock names.
struct Entry {
    table: &'static str,
    name: String,
    /// Path under the served directory.
    path: String,
    content: Vec<u8>,
    /// Extra `key = value` lines for the table (file, filename, kind, arch…).
    extra: Vec<(&'static str, String)>,
}

impl Entry {
    fn pip(name: &str, size: usize) -> Entry {
        let file = format!("{name}-1.0-py3-none-any.whl");
        Entry {
            table: "pip",
            name: name.to_string(),
            path: format!("packages/{file}"),
            content: pseudo_random(name, size),
            extra: vec![("file", file)],
        }
    }

    fn apt(name: &str, size: usize) -> Entry {
        let filename = format!("pool/main/{}/{name}/{name}_1.0_amd64.deb", &name[..1]);
        Entry {
            table: "apt",
            name: name.to_string(),
            path: format!("debian/{filename}"),
            content: pseudo_random(name, size),
            extra: vec![("arch", "amd64".into()), ("filename", filename)],
        }
    }

    fn r(name: &str, kind: &str, size: usize) -> Entry {
        let dir = if kind == "binary" { "bin-repo" } else { "cran" };
        Entry {
            table: "r",
            name: name.to_string(),
            path: format!("{dir}/src/contrib/{name}_1.0.tar.gz"),
            content: pseudo_random(&format!("{name}-{kind}"), size),
            extra: vec![("kind", kind.into())],
        }
    }

    fn sha256(&self) -> String {
        sha256_hex(&self.content)
    }
}

/// A served directory with the entries' files, and a lock naming them.
struct Fixture {
    dir: tempfile::TempDir,
    srv: StaticServer,
    entries: Vec<Entry>,
    lock: PathBuf,
}

impl Fixture {
    fn new(entries: Vec<Entry>) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        for entry in &entries {
            let path = served.join(&entry.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &entry.content).unwrap();
        }
        let srv = StaticServer::start(&served);
        let lock = dir.path().join("runtime.lock");
        std::fs::write(&lock, lock_toml(&srv, &entries)).unwrap();
        Fixture {
            dir,
            srv,
            entries,
            lock,
        }
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    /// `rtlock --cache-dir <cache> fetch -l <lock> <args>`, not yet started.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rtlock"));
        command
            .arg("--cache-dir")
            .arg(self.cache())
            .arg("fetch")
            .arg("-l")
            .arg(&self.lock)
            .args(args)
            .env_remove("RTLOCK_CACHE_DIR")
            .env_remove("RTLOCK_OFFLINE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn blob(&self, sha256: &str) -> PathBuf {
        self.cache()
            .join("blobs/sha256")
            .join(&sha256[..2])
            .join(sha256)
    }

    /// Every entry's blob is in the cache with the right bytes, and `tmp/` is empty.
    fn assert_cache_complete(&self) {
        for entry in &self.entries {
            let blob = self.blob(&entry.sha256());
            let content = std::fs::read(&blob)
                .unwrap_or_else(|e| panic!("{} not cached at {}: {e}", entry.name, blob.display()));
            assert!(
                content == entry.content,
                "{} cached with wrong bytes",
                entry.name
            );
        }
        assert_eq!(leftovers(&self.cache().join("tmp")), Vec::<PathBuf>::new());
    }
}

/// A lock in the format of SPEC.md, written by hand.
fn lock_toml(srv: &StaticServer, entries: &[Entry]) -> String {
    let mut toml = format!(
        "version = 1\n\
         manifest = \"sha256:{m}\"\n\
         source-date-epoch = 0\n\n\
         [base]\n\
         reference = \"127.0.0.1:5000/test/base:1\"\n\
         digest = \"sha256:{d}\"\n\
         manifest = \"sha256:{b}\"\n\
         platform = \"linux/amd64\"\n",
        m = "1".repeat(64),
        d = "2".repeat(64),
        b = "3".repeat(64),
    );
    for entry in entries {
        write!(
            toml,
            "\n[[{}]]\nname = \"{}\"\nversion = \"1.0\"\n",
            entry.table, entry.name
        )
        .unwrap();
        for (key, value) in &entry.extra {
            writeln!(toml, "{key} = \"{value}\"").unwrap();
        }
        write!(
            toml,
            "url = \"{}\"\nsha256 = \"{}\"\nsize = {}\n",
            srv.url(&entry.path),
            entry.sha256(),
            entry.content.len()
        )
        .unwrap();
    }
    toml
}

/// Every file under `dir` (recursively) whose name marks it as temporary.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(leftovers(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "rtlock fetch failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn two_processes_fill_the_same_cache_concurrently() {
    let entries = (0..40)
        .map(|i| Entry::pip(&format!("pkg{i:02}"), 20_000 + i * 7_919))
        .collect();
    let fx = Fixture::new(entries);
    // Every file is held back until both processes have asked for it: both download
    // all 40 at the same time and race to rename each blob into place.
    fx.srv.gate(2);

    let first = fx.command(&[]).spawn().unwrap();
    let second = fx.command(&[]).spawn().unwrap();
    let first = first.wait_with_output().unwrap();
    let second = second.wait_with_output().unwrap();
    assert_success(&first);
    assert_success(&second);

    assert_eq!(
        fx.srv.gate_timeouts(),
        0,
        "the two processes did not overlap"
    );
    for entry in &fx.entries {
        assert_eq!(
            fx.srv.requests(&entry.path),
            2,
            "{} was not downloaded by both processes",
            entry.name
        );
    }
    fx.assert_cache_complete();

    // A third run finds everything in the cache.
    fx.srv.gate(0);
    let before = fx.srv.total_requests();
    assert_success(&fx.run(&[]));
    assert_eq!(fx.srv.total_requests(), before);
}

#[test]
fn fetch_into_lays_out_a_mirror_and_works_offline_afterwards() {
    let fx = Fixture::new(vec![
        Entry::apt("hello", 30_000),
        Entry::apt("libfoo1", 12_000),
        Entry::pip("requests", 40_000),
        Entry::r("data.table", "binary", 25_000),
        // A lock holds one entry per R package (the reader refuses two), so binary and
        // source roots are shown with two packages.
        Entry::r("Matrix", "source", 26_000),
    ]);
    let mirror = fx.dir.path().join("mirror");
    let output = fx.run(&["--into", mirror.to_str().unwrap()]);
    assert_success(&output);
    fx.assert_cache_complete();

    let expect = [
        ("apt/pool/main/h/hello/hello_1.0_amd64.deb", 0),
        ("apt/pool/main/l/libfoo1/libfoo1_1.0_amd64.deb", 1),
        ("pip/requests-1.0-py3-none-any.whl", 2),
        ("r/binary/src/contrib/data.table_1.0.tar.gz", 3),
        ("r/source/src/contrib/Matrix_1.0.tar.gz", 4),
    ];
    for (path, index) in expect {
        let content = std::fs::read(mirror.join(path))
            .unwrap_or_else(|e| panic!("{path} missing from the mirror: {e}"));
        assert!(
            content == fx.entries[index].content,
            "{path} has wrong bytes"
        );
    }
    let mut files = leftovers(&mirror);
    files.sort();
    assert_eq!(files.len(), expect.len(), "unexpected files: {files:?}");

    // Again: nothing downloaded, the mirror unchanged and still complete.
    let requests = fx.srv.total_requests();
    assert_success(&fx.run(&["--into", mirror.to_str().unwrap()]));
    assert_eq!(leftovers(&mirror).len(), expect.len());

    // Offline from the same cache, into a new mirror: no request at all.
    let offline_mirror = fx.dir.path().join("mirror2");
    assert_success(&fx.run(&["--offline", "--into", offline_mirror.to_str().unwrap()]));
    assert_eq!(fx.srv.total_requests(), requests);
    assert_eq!(leftovers(&offline_mirror).len(), expect.len());
}

#[test]
fn a_bad_artifact_fails_the_command_and_names_it() {
    let mut fx = Fixture::new(vec![Entry::pip("good", 5_000), Entry::pip("bad", 5_000)]);
    // The server's copy of `bad` changed after the lock was written.
    let bad = fx.dir.path().join("served").join(&fx.entries[1].path);
    std::fs::write(&bad, b"tampered").unwrap();
    let output = fx.run(&[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pip bad 1.0"), "{stderr}");
    assert!(stderr.contains("mismatch"), "{stderr}");
    assert!(
        stderr.contains(fx.srv.url(&fx.entries[1].path).as_str()),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 2"), "{stderr}");
    // The good one is cached all the same; the bad one is not.
    assert!(fx.blob(&fx.entries[0].sha256()).is_file());
    assert!(!fx.blob(&fx.entries[1].sha256()).exists());
    fx.entries.truncate(1);
    fx.assert_cache_complete();
}

#[test]
fn offline_without_a_cache_fails_clearly() {
    let fx = Fixture::new(vec![Entry::pip("absent", 1_000)]);
    let output = fx.run(&["--offline"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pip absent 1.0"), "{stderr}");
    assert!(stderr.contains("not in the cache"), "{stderr}");
    assert!(stderr.contains("--offline"), "{stderr}");
    assert_eq!(fx.srv.total_requests(), 0);
}

#[test]
fn a_lock_path_outside_the_mirror_is_refused_before_any_download() {
    let mut entry = Entry::apt("evil", 1_000);
    entry.extra[1].1 = "../../outside.deb".to_string();
    let fx = Fixture::new(vec![entry]);
    let mirror = fx.dir.path().join("mirror");
    let output = fx.run(&["--into", mirror.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("../../outside.deb"), "{stderr}");
    assert_eq!(fx.srv.total_requests(), 0);
    assert!(!fx.dir.path().join("outside.deb").exists());
}
