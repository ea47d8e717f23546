//! A real signed apt repository for tests: .deb files downloaded from the machine's
//! configured mirror at test time (`apt-get download`), indexed by `apt-ftparchive`,
//! signed by `gpg` with a throwaway key; serve its directory with
//! [`super::server::StaticServer`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The .deb files of `packages` (one each, the host's candidate version), downloaded
/// once per test binary and kept for its lifetime.
pub fn debs(packages: &[&str]) -> Vec<PathBuf> {
    static DOWNLOADS: OnceLock<Mutex<BTreeMap<String, (TempDir, PathBuf)>>> = OnceLock::new();
    let mut downloads = DOWNLOADS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !downloads.contains_key(*p))
        .collect();
    if !missing.is_empty() {
        let dir = TempDir::new().unwrap();
        run(Command::new("apt-get")
            .arg("download")
            .args(&missing)
            .current_dir(dir.path()));
        for name in missing {
            let found = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("{name}_"))
                })
                .unwrap_or_else(|| panic!("apt-get download did not get {name}"));
            // Each package keeps its own directory alive.
            let own = TempDir::new().unwrap();
            let path = own.path().join(found.file_name().unwrap());
            std::fs::copy(&found, &path).unwrap();
            downloads.insert(name.to_string(), (own, path));
        }
    }
    packages.iter().map(|p| downloads[*p].1.clone()).collect()
}

/// A throwaway OpenPGP key in its own GNUPGHOME.
pub struct Key {
    home: TempDir,
}

impl Key {
    pub fn new(algo: &str) -> Key {
        let home = TempDir::new().unwrap();
        run(Command::new("gpg")
            .env("GNUPGHOME", home.path())
            .args(["--batch", "--passphrase", "", "--quick-gen-key"])
            .args(["rtlock test <test@example.invalid>", algo, "sign", "never"]));
        Key { home }
    }

    pub fn gpg(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", self.home.path())
            .args(["--batch", "--yes"]);
        cmd
    }

    /// The public key, binary (`armor = false`, a `.gpg` keyring) or armoured (`.asc`).
    pub fn export(&self, armor: bool) -> Vec<u8> {
        let mut cmd = self.gpg();
        if armor {
            cmd.arg("--armor");
        }
        run(cmd.arg("--export"))
    }
}

/// A repository tree: `dists/stable/{InRelease,Release,Release.gpg}`,
/// `dists/stable/main/binary-amd64/Packages{,.xz,.gz}`, `pool/main/*.deb`.
pub struct Repo {
    dir: TempDir,
}

pub const DIST: &str = "dists/stable";
pub const BINARY: &str = "dists/stable/main/binary-amd64";

impl Repo {
    /// A repository of `debs`, signed by `key`, with extra `apt-ftparchive release`
    /// options (`-o NAME=VALUE`).
    pub fn build(key: &Key, debs: &[PathBuf], release_options: &[&str]) -> Repo {
        let dir = TempDir::new().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("pool/main")).unwrap();
        std::fs::create_dir_all(root.join(BINARY)).unwrap();
        for deb in debs {
            std::fs::copy(deb, root.join("pool/main").join(deb.file_name().unwrap())).unwrap();
        }
        let repo = Repo { dir };
        repo.index();
        repo.sign_with(key, release_options);
        repo
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// (Re)writes `Packages{,.xz,.gz}` from the files in the pool.
    pub fn index(&self) {
        let root = self.root();
        let binary = root.join(BINARY);
        for name in ["Packages", "Packages.xz", "Packages.gz"] {
            let _ = std::fs::remove_file(binary.join(name));
        }
        let packages = run(Command::new("apt-ftparchive")
            .args(["packages", "pool"])
            .current_dir(root));
        std::fs::write(binary.join("Packages"), &packages).unwrap();
        run(Command::new("xz")
            .args(["-k", "Packages"])
            .current_dir(&binary));
        run(Command::new("gzip")
            .args(["-k", "-n", "Packages"])
            .current_dir(&binary));
    }

    /// (Re)writes `dists/stable/main/Contents-amd64.gz` from the files in the pool, as
    /// `apt-ftparchive contents` makes it (list it in the Release with
    /// [`sign_with`](Self::sign_with) afterwards).
    pub fn write_contents(&self) {
        let root = self.root();
        let contents = run(Command::new("apt-ftparchive")
            .args(["contents", "pool"])
            .current_dir(root));
        let dir = root.join(DIST).join("main");
        std::fs::write(dir.join("Contents-amd64"), &contents).unwrap();
        let _ = std::fs::remove_file(dir.join("Contents-amd64.gz"));
        run(Command::new("gzip")
            .args(["-n", "Contents-amd64"])
            .current_dir(&dir));
    }

    /// (Re)writes `Release` from the files under `dists/stable`, then signs it both ways.
    pub fn sign_with(&self, key: &Key, release_options: &[&str]) {
        let dist = self.root().join(DIST);
        for name in ["Release", "InRelease", "Release.gpg"] {
            let _ = std::fs::remove_file(dist.join(name));
        }
        let release = run(Command::new("apt-ftparchive")
            .args(["-o", "APT::FTPArchive::Release::Suite=stable"])
            .args(["-o", "APT::FTPArchive::Release::Codename=stable"])
            .args(["-o", "APT::FTPArchive::Release::Architectures=amd64"])
            .args(["-o", "APT::FTPArchive::Release::Components=main"])
            .args(release_options.iter().flat_map(|o| ["-o", o]))
            .args(["release", "."])
            .current_dir(&dist));
        self.sign_release(key, &release);
    }

    /// Writes `text` as the Release and signs it both ways.
    pub fn sign_release(&self, key: &Key, text: &[u8]) {
        let dist = self.root().join(DIST);
        std::fs::write(dist.join("Release"), text).unwrap();
        run(key
            .gpg()
            .args(["--clearsign", "-o", "InRelease", "Release"])
            .current_dir(&dist));
        run(key
            .gpg()
            .args(["-abs", "-o", "Release.gpg", "Release"])
            .current_dir(&dist));
    }
}

/// A field of a .deb's control file.
pub fn deb_field(deb: &Path, field: &str) -> String {
    let out = run(Command::new("dpkg-deb").arg("-f").arg(deb).arg(field));
    String::from_utf8(out).unwrap().trim().to_string()
}
