//! Pins of what `rtlock lock` and `rtlock build` produce today, byte for byte: for an
//! apt runtime, a pip runtime and one with both, the sha256 of `runtime.lock` (and its
//! whole text, as an insta snapshot, so that a change shows as a diff) and the image
//! manifest digest that `build --no-daemon -o oci:…` prints. A refactor must leave them
//! alone.
//!
//! Every input is synthetic, made here from fixed bytes, so the pins hold on any machine:
//! - a one-layer base image (Debian bookworm's os-release, a dpkg database with one
//!   package the lock upgrades, an apt source, a python3.11 layout with one
//!   pip-installed distribution the lock upgrades), served read-only as a registry
//!   serves it (`[base] image` takes registry references only, not `oci:` layouts);
//! - an unsigned apt repository of hand-made `.deb` files, its source marked
//!   `[trusted=yes]`: the lock records no key, and no key material goes into the base;
//! - a PEP 503 index (with PEP 658 metadata files) of hand-made wheels.
//!
//! Nothing comes from the test bed, the host's mirrors or a Docker Engine
//! (`--no-daemon` leaves the one maintainer script unrun, deterministically).
//!
//! URLs are fixed too: the base reference, its apt source and the manifest's index
//! name the reserved host `rtlock-pins.invalid`, which rtlock reaches through
//! `http_proxy` pointing at a local [`StaticServer`] on a random port (it serves
//! absolute-form requests by their path). So the port appears nowhere: not in the
//! lock, not in the manifest hash, not in the base. rtlock runs with a cleared
//! environment (no `SOURCE_DATE_EPOCH`, `PIP_INDEX_URL`, `RTLOCK_*`, docker
//! credentials or proxies of the machine), from the work directory with relative
//! paths, so no temporary path reaches the lock or the image either. Each case runs
//! twice, in two work directories with two servers (two ports) and two caches, and both
//! runs must give the pinned values.
//!
//! A deliberate change of rtlock's output updates the pins here and the snapshots
//! (`tests/snapshots/layout_pins__*.snap`, `cargo insta review`), says why in its commit,
//! and bumps the version constant of what it changed, so that old caches and locks are
//! not taken for new ones: `lockfile::FORMAT_VERSION` for the lock's format,
//! `LAYER_FORMAT` in `src/build/apt.rs` / `src/build/pip.rs` for a layer's entries,
//! `FORMAT` in `src/resolve/base_python.rs` / `src/resolve/base_files.rs` for what is
//! read of a base. The fixtures below are inputs of the pins: changing one byte of them
//! changes the values too.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use md5::Md5;
use sha2::{Digest as _, Sha256};

use common::server::StaticServer;

/// The pinned values of one runtime.
struct Pin {
    /// sha256 of the `runtime.lock` bytes.
    lock_sha256: &'static str,
    /// The image manifest digest `build` prints.
    image: &'static str,
}

const APT_PIN: Pin = Pin {
    lock_sha256: "bd56d9e0014ee1d81a928fe70f9be6d7c12d96997b61f23a2db5853a64d54d94",
    image: "sha256:08a328b9ab847af5492023500901f0e0e281b79731190a13f98a72ffaa07d1e9",
};

const PIP_PIN: Pin = Pin {
    lock_sha256: "81cd0ed6672ac177aa6d52c6636a7b50a93c7de814ca840c164a067cc9834239",
    image: "sha256:96634426311c420bfadbcee9c077e2ebfb668e24b4542049e7d37f88de5921c8",
};

const BOTH_PIN: Pin = Pin {
    lock_sha256: "2fe78b2152bdc889282c8b8a4580388c9ea193f2ee43875ff5e136ef3cf63936",
    image: "sha256:569e9d76136d86f1e474be192f7296dc1b22e565477e462e72b917977a367a8e",
};

/// The host every source URL names; rtlock reaches it through the proxy.
const HOST: &str = "rtlock-pins.invalid";

/// The tag of the base and of the built images in their layouts.
const TAG: &str = "pins";

/// Every mtime of the fixtures, and the base's `created` (2024-01-02T03:04:05Z): the
/// lock's `source-date-epoch`.
const EPOCH: u64 = 1_704_164_645;
const CREATED: &str = "2024-01-02T03:04:05Z";

// ---------------------------------------------------------------------------------------
// tar, ar, zip: written here, byte for byte

enum Node<'a> {
    Dir(&'a str),
    File(&'a str, u32, &'a [u8]),
    Symlink(&'a str, &'a str),
}

/// A tar of `nodes` in this order: ustar headers, root-owned, every mtime [`EPOCH`].
fn tar(nodes: &[Node]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for node in nodes {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(EPOCH);
        match node {
            Node::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Node::File(path, mode, bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, *bytes).unwrap();
            }
            Node::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// An ar archive as dpkg-deb writes one: names padded with spaces, mtime [`EPOCH`].
fn ar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, bytes) in members {
        let header = format!(
            "{name:<16}{EPOCH:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            0,
            0,
            "100644",
            bytes.len()
        );
        assert_eq!(header.len(), 60);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(bytes);
        if bytes.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

// ---------------------------------------------------------------------------------------
// The base image

const OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n\
VERSION_CODENAME=bookworm\nID=debian\n";

/// A one-line source of the repository below, unsigned and trusted as such.
fn sources_list() -> String {
    format!("deb [trusted=yes] http://{HOST}/debian bookworm main\n")
}

const LIBGREET_1_0: &[u8] = b"libgreet 1.0\n";

fn dpkg_status() -> String {
    let mut text = String::new();
    for (name, version, arch, extra) in [
        (
            "base-files",
            "12.4+deb12u5",
            "amd64",
            "Essential: yes\nPriority: required\n",
        ),
        (
            "libc6",
            "2.36-9+deb12u4",
            "amd64",
            "Multi-Arch: same\nPriority: optional\n",
        ),
        (
            "python3.11-minimal",
            "3.11.2-6+deb12u2",
            "amd64",
            "Priority: optional\nDepends: libc6 (>= 2.34)\n",
        ),
        (
            "pins-libgreet",
            "1.0-1",
            "amd64",
            "Priority: optional\nDepends: libc6 (>= 2.34)\n",
        ),
    ] {
        text.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\n{extra}Maintainer: Pins <pins@example.invalid>\n\
             Architecture: {arch}\nVersion: {version}\nDescription: {name} for the layout pins\n\n"
        ));
    }
    text
}

/// The base distribution pins-beta 1.0, installed by pip: `(path, bytes)` in the layer.
fn base_beta() -> Vec<(String, Vec<u8>)> {
    let site = "usr/local/lib/python3.11/dist-packages";
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "pins_beta/__init__.py".into(),
            b"VERSION = \"1.0\"\n".to_vec(),
        ),
        (
            "pins_beta-1.0.dist-info/METADATA".into(),
            b"Metadata-Version: 2.1\nName: pins-beta\nVersion: 1.0\n".to_vec(),
        ),
        (
            "pins_beta-1.0.dist-info/INSTALLER".into(),
            b"pip\n".to_vec(),
        ),
        (
            "pins_beta-1.0.dist-info/WHEEL".into(),
            b"Wheel-Version: 1.0\nGenerator: pins\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = record_of(&files);
    record.push_str("pins_beta-1.0.dist-info/RECORD,,\n");
    let mut all = files;
    all.push(("pins_beta-1.0.dist-info/RECORD".into(), record.into_bytes()));
    all.into_iter()
        .map(|(p, b)| (format!("{site}/{p}"), b))
        .collect()
}

/// The layer of the base: just what rtlock reads of a Debian image with Python.
fn base_layer() -> Vec<u8> {
    let status = dpkg_status();
    let sources = sources_list();
    let greet_list = "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n\
                      /usr/lib/x86_64-linux-gnu/libgreet.so.1.0\n";
    let beta = base_beta();
    let mut nodes = vec![
        Node::Symlink("bin", "usr/bin"),
        Node::Dir("etc/"),
        Node::Dir("etc/apt/"),
        Node::File("etc/apt/sources.list", 0o644, sources.as_bytes()),
        Node::Dir("etc/apt/sources.list.d/"),
        Node::File("etc/os-release", 0o644, OS_RELEASE.as_bytes()),
        Node::Symlink("lib", "usr/lib"),
        Node::Dir("usr/"),
        Node::Dir("usr/bin/"),
        Node::Symlink("usr/bin/python3", "python3.11"),
        Node::File("usr/bin/python3.11", 0o755, b"\x7fELF not really\n"),
        Node::Dir("usr/lib/"),
        Node::Dir("usr/lib/python3/"),
        Node::Dir("usr/lib/python3/dist-packages/"),
        Node::Dir("usr/lib/python3.11/"),
        Node::File("usr/lib/python3.11/os.py", 0o644, b"# os\n"),
        Node::Dir("usr/lib/x86_64-linux-gnu/"),
        Node::File(
            "usr/lib/x86_64-linux-gnu/libgreet.so.1.0",
            0o644,
            LIBGREET_1_0,
        ),
        Node::Dir("usr/local/"),
        Node::Dir("usr/local/bin/"),
        Node::Dir("usr/local/lib/"),
        Node::Dir("usr/local/lib/python3.11/"),
        Node::Dir("usr/local/lib/python3.11/dist-packages/"),
        Node::Dir("usr/local/lib/python3.11/dist-packages/pins_beta/"),
        Node::Dir("usr/local/lib/python3.11/dist-packages/pins_beta-1.0.dist-info/"),
        Node::Dir("var/"),
        Node::Dir("var/lib/"),
        Node::Dir("var/lib/dpkg/"),
        Node::File("var/lib/dpkg/arch", 0o644, b"amd64\n"),
        Node::Dir("var/lib/dpkg/info/"),
        Node::File(
            "var/lib/dpkg/info/pins-libgreet.list",
            0o644,
            greet_list.as_bytes(),
        ),
        Node::File("var/lib/dpkg/status", 0o644, status.as_bytes()),
    ];
    for (path, bytes) in &beta {
        nodes.push(Node::File(path, 0o644, bytes));
    }
    tar(&nodes)
}

/// The base's repository in the registry.
const BASE_REPOSITORY: &str = "pins/base";

/// Serves the base below `root` as a registry does, read-only (the distribution API's
/// `GET /v2/`, `/v2/<name>/manifests/<tag or digest>`, `/v2/<name>/blobs/<digest>`),
/// tagged [`TAG`].
fn write_base(root: &Path) {
    std::fs::create_dir_all(root.join("v2")).unwrap();
    std::fs::write(root.join("v2/index.html"), "{}").unwrap();
    let repository = root.join("v2").join(BASE_REPOSITORY);
    let blobs = repository.join("blobs");
    let manifests = repository.join("manifests");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&manifests).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = format!("sha256:{}", sha256_hex(bytes));
        std::fs::write(blobs.join(&digest), bytes).unwrap();
        (digest, bytes.len())
    };
    let layer = base_layer();
    let (layer_digest, layer_size) = put(&layer);
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"{CREATED}\",\
         \"config\":{{\"Env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"],\
         \"Cmd\":[\"bash\"]}},\
         \"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{layer_digest}\"]}},\
         \"history\":[{{\"created\":\"{CREATED}\",\"created_by\":\"layout_pins: a synthetic base\"}}]}}"
    );
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\
         \"digest\":\"{config_digest}\",\"size\":{config_size}}},\
         \"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\
         \"digest\":\"{layer_digest}\",\"size\":{layer_size}}}]}}"
    );
    let digest = format!("sha256:{}", sha256_hex(manifest.as_bytes()));
    std::fs::write(manifests.join(TAG), &manifest).unwrap();
    std::fs::write(manifests.join(digest), &manifest).unwrap();
}

// ---------------------------------------------------------------------------------------
// The apt repository: `debian/dists/bookworm/{Release, main/binary-amd64/Packages}`,
// `debian/pool/main/p/<source>/<package>_<version>_<arch>.deb`

struct Deb {
    name: &'static str,
    version: &'static str,
    arch: &'static str,
    /// Control fields after Version/Architecture (Depends, Recommends, …).
    fields: &'static str,
    /// The data archive: its directories, then its regular files (path, content);
    /// paths without the leading `./`.
    dirs: &'static [&'static str],
    files: &'static [(&'static str, &'static [u8])],
    postinst: Option<&'static str>,
}

const DEBS: &[Deb] = &[
    Deb {
        name: "pins-hello",
        version: "2.0-1",
        arch: "amd64",
        fields: "Depends: libc6 (>= 2.34), pins-libgreet (>= 1.1)\nRecommends: pins-extra\n",
        dirs: &[
            "usr",
            "usr/bin",
            "usr/share",
            "usr/share/doc",
            "usr/share/doc/pins-hello",
        ],
        files: &[
            ("usr/bin/pins-hello", b"#!/bin/sh\necho hello\n"),
            ("usr/share/doc/pins-hello/copyright", b"public domain\n"),
        ],
        postinst: Some("#!/bin/sh\nset -e\necho configured > /var/lib/pins-hello\n"),
    },
    Deb {
        name: "pins-libgreet",
        version: "1.0-1",
        arch: "amd64",
        fields: "Depends: libc6 (>= 2.34)\n",
        dirs: &["usr", "usr/lib", "usr/lib/x86_64-linux-gnu"],
        files: &[("usr/lib/x86_64-linux-gnu/libgreet.so.1.0", LIBGREET_1_0)],
        postinst: None,
    },
    Deb {
        name: "pins-libgreet",
        version: "1.1-1",
        arch: "amd64",
        fields: "Depends: libc6 (>= 2.34)\n",
        dirs: &["usr", "usr/lib", "usr/lib/x86_64-linux-gnu"],
        files: &[(
            "usr/lib/x86_64-linux-gnu/libgreet.so.1.1",
            b"libgreet 1.1\n",
        )],
        postinst: None,
    },
    Deb {
        name: "pins-extra",
        version: "0.3-2",
        arch: "all",
        fields: "",
        dirs: &["usr", "usr/share", "usr/share/pins-extra"],
        files: &[("usr/share/pins-extra/data.txt", b"extra\n")],
        postinst: None,
    },
    Deb {
        name: "pins-unused",
        version: "9.9-1",
        arch: "amd64",
        fields: "Depends: pins-missing\n",
        dirs: &["usr", "usr/share", "usr/share/pins-unused"],
        files: &[("usr/share/pins-unused/x", b"x\n")],
        postinst: None,
    },
];

impl Deb {
    fn control(&self) -> String {
        format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Pins <pins@example.invalid>\n\
             Installed-Size: 4\n{}Section: misc\nPriority: optional\n\
             Description: {} for the layout pins\n",
            self.name, self.version, self.arch, self.fields, self.name
        )
    }

    fn bytes(&self) -> Vec<u8> {
        let control = self.control();
        let md5sums: String = self
            .files
            .iter()
            .map(|(path, bytes)| format!("{}  {path}\n", md5_hex(bytes)))
            .collect();
        let mut control_nodes = vec![
            Node::Dir("./"),
            Node::File("./control", 0o644, control.as_bytes()),
            Node::File("./md5sums", 0o644, md5sums.as_bytes()),
        ];
        if let Some(script) = self.postinst {
            control_nodes.push(Node::File("./postinst", 0o755, script.as_bytes()));
        }
        let dirs: Vec<String> = self.dirs.iter().map(|d| format!("./{d}/")).collect();
        let files: Vec<String> = self.files.iter().map(|(p, _)| format!("./{p}")).collect();
        let mut data_nodes = vec![Node::Dir("./")];
        data_nodes.extend(dirs.iter().map(|d| Node::Dir(d)));
        for ((_, bytes), path) in self.files.iter().zip(&files) {
            let mode = if path.contains("/bin/") { 0o755 } else { 0o644 };
            data_nodes.push(Node::File(path, mode, bytes));
        }
        let (control_tar, data_tar) = (tar(&control_nodes), tar(&data_nodes));
        ar(&[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &control_tar),
            ("data.tar", &data_tar),
        ])
    }

    fn filename(&self) -> String {
        format!(
            "pool/main/p/{}/{}_{}_{}.deb",
            self.name, self.name, self.version, self.arch
        )
    }
}

fn write_apt_repo(root: &Path) {
    let debian = root.join("debian");
    let mut packages = String::new();
    for deb in DEBS {
        let bytes = deb.bytes();
        let filename = deb.filename();
        let path = debian.join(&filename);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        packages.push_str(&deb.control());
        packages.push_str(&format!(
            "Filename: {filename}\nSize: {}\nSHA256: {}\n\n",
            bytes.len(),
            sha256_hex(&bytes)
        ));
    }
    let binary = debian.join("dists/bookworm/main/binary-amd64");
    std::fs::create_dir_all(&binary).unwrap();
    std::fs::write(binary.join("Packages"), &packages).unwrap();
    let release = format!(
        "Origin: Pins\nLabel: Pins\nSuite: bookworm\nCodename: bookworm\n\
         Date: Tue, 02 Jan 2024 03:04:05 UTC\nArchitectures: amd64\nComponents: main\n\
         Description: the layout pins' repository\nSHA256:\n {} {} main/binary-amd64/Packages\n",
        sha256_hex(packages.as_bytes()),
        packages.len()
    );
    std::fs::write(debian.join("dists/bookworm/Release"), release).unwrap();
}

// ---------------------------------------------------------------------------------------
// The Python index: `simple/<project>/index.html` (PEP 503, with PEP 658 metadata),
// `files/<wheel>` and `files/<wheel>.metadata`

struct WheelSpec {
    project: &'static str,
    /// The distribution name as file names spell it (`pins_alpha`).
    dist: &'static str,
    version: &'static str,
    /// Metadata lines after Name/Version (Requires-Dist, Requires-Python, …).
    metadata: &'static str,
    /// `data-requires-python` on the index page.
    requires_python: Option<&'static str>,
    /// The dist-info's `entry_points.txt`, if any.
    entry_points: Option<&'static str>,
}

const WHEELS: &[WheelSpec] = &[
    WheelSpec {
        project: "pins-alpha",
        dist: "pins_alpha",
        version: "1.0",
        metadata: "Requires-Python: >=3.8\nRequires-Dist: pins-beta>=2.0\n",
        requires_python: Some(">=3.8"),
        entry_points: Some("[console_scripts]\npins-alpha = pins_alpha:main\n"),
    },
    WheelSpec {
        project: "pins-beta",
        dist: "pins_beta",
        version: "2.0",
        metadata: "Requires-Dist: pins-gamma; python_version >= \"3.8\"\n\
                   Requires-Dist: pins-delta; extra == \"fast\"\nProvides-Extra: fast\n",
        requires_python: None,
        entry_points: None,
    },
    WheelSpec {
        project: "pins-beta",
        dist: "pins_beta",
        version: "2.1",
        metadata: "Requires-Python: >=3.12\n",
        requires_python: Some(">=3.12"),
        entry_points: None,
    },
    WheelSpec {
        project: "pins-gamma",
        dist: "pins_gamma",
        version: "0.1",
        metadata: "",
        requires_python: None,
        entry_points: None,
    },
    WheelSpec {
        project: "pins-delta",
        dist: "pins_delta",
        version: "5.0",
        metadata: "",
        requires_python: None,
        entry_points: None,
    },
];

/// RECORD rows of `files` (paths relative to site-packages), as pip writes them.
fn record_of(files: &[(String, Vec<u8>)]) -> String {
    files
        .iter()
        .map(|(path, bytes)| {
            let hash =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes));
            format!("{path},sha256={hash},{}\n", bytes.len())
        })
        .collect()
}

impl WheelSpec {
    fn filename(&self) -> String {
        format!("{}-{}-py3-none-any.whl", self.dist, self.version)
    }

    fn metadata_file(&self) -> String {
        format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: {} for the layout pins\n{}",
            self.project, self.version, self.project, self.metadata
        )
    }

    /// A stored (uncompressed) zip, every entry dated [`CREATED`].
    fn bytes(&self) -> Vec<u8> {
        let info = format!("{}-{}.dist-info", self.dist, self.version);
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (
                format!("{}/__init__.py", self.dist),
                format!(
                    "VERSION = \"{}\"\n\n\ndef main():\n    print(VERSION)\n",
                    self.version
                )
                .into_bytes(),
            ),
            (
                format!("{info}/METADATA"),
                self.metadata_file().into_bytes(),
            ),
            (
                format!("{info}/WHEEL"),
                b"Wheel-Version: 1.0\nGenerator: pins\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                    .to_vec(),
            ),
        ];
        if let Some(points) = self.entry_points {
            files.push((
                format!("{info}/entry_points.txt"),
                points.as_bytes().to_vec(),
            ));
        }
        let mut record = record_of(&files);
        record.push_str(&format!("{info}/RECORD,,\n"));
        files.push((format!("{info}/RECORD"), record.into_bytes()));

        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::from_date_and_time(2024, 1, 2, 3, 4, 6).unwrap())
            .unix_permissions(0o644);
        for (path, bytes) in &files {
            zip.start_file(path.as_str(), options).unwrap();
            std::io::Write::write_all(&mut zip, bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }
}

fn write_pip_index(root: &Path) {
    let files = root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut projects: Vec<&str> = WHEELS.iter().map(|w| w.project).collect();
    projects.dedup();
    let mut root_page = String::from("<!DOCTYPE html>\n<html><body>\n");
    for project in &projects {
        root_page.push_str(&format!("<a href=\"{project}/\">{project}</a><br>\n"));
        let mut page = format!(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\">\
             </head><body><h1>Links for {project}</h1>\n"
        );
        for wheel in WHEELS.iter().filter(|w| w.project == *project) {
            let name = wheel.filename();
            let bytes = wheel.bytes();
            let metadata = wheel.metadata_file();
            std::fs::write(files.join(&name), &bytes).unwrap();
            std::fs::write(files.join(format!("{name}.metadata")), &metadata).unwrap();
            let meta_sha = sha256_hex(metadata.as_bytes());
            let requires = wheel
                .requires_python
                .map(|r| format!(" data-requires-python=\"{}\"", r.replace('>', "&gt;")))
                .unwrap_or_default();
            page.push_str(&format!(
                "<a href=\"../../files/{name}#sha256={}\"{requires} \
                 data-core-metadata=\"sha256={meta_sha}\" \
                 data-dist-info-metadata=\"sha256={meta_sha}\">{name}</a><br>\n",
                sha256_hex(&bytes)
            ));
        }
        page.push_str("</body></html>\n");
        let dir = root.join("simple").join(project);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), page).unwrap();
    }
    root_page.push_str("</body></html>\n");
    std::fs::write(root.join("simple/index.html"), root_page).unwrap();
}

// ---------------------------------------------------------------------------------------
// The runtimes

fn apt_manifest() -> String {
    format!(
        "[base]\nimage = \"{HOST}/{BASE_REPOSITORY}:{TAG}\"\n\n[apt]\npackages = [\"pins-hello\"]\n"
    )
}

fn pip_manifest() -> String {
    format!(
        "[base]\nimage = \"{HOST}/{BASE_REPOSITORY}:{TAG}\"\n\n\
         [pip]\npackages = [\"pins-alpha\"]\nindex-url = \"http://{HOST}/simple/\"\n\
         allow-upgrade = [\"pins-beta\"]\n"
    )
}

fn both_manifest() -> String {
    format!(
        "[base]\nimage = \"{HOST}/{BASE_REPOSITORY}:{TAG}\"\nplatform = \"linux/amd64\"\n\n\
         [apt]\npackages = [\"pins-hello (>= 2)\"]\ninstall-recommends = false\n\n\
         [pip]\npackages = [\"pins-alpha==1.*\"]\nindex-url = \"http://{HOST}/simple/\"\n\
         allow-upgrade = [\"pins-beta\"]\n\n\
         [image]\nenv = {{ TZ = \"UTC\" }}\nlabels = {{ \"org.example.pins\" = \"yes\" }}\n\
         user = \"8536\"\nworkdir = \"/home/pins\"\ncmd = [\"pins-alpha\"]\ncompression = \"zstd\"\n\n\
         [runtime]\nedition = \"Pins\"\neditor = \"JupyterLab\"\nshort-version = \"2024.01\"\n\
         maintenance-version = 2\nfull-version = \"2024.01.2\"\n"
    )
}

/// rtlock in `dir` with nothing of the machine's environment but `PATH` and `TMPDIR`,
/// reaching every URL through `proxy`; panics unless it succeeds.
fn rtlock(dir: &Path, proxy: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rtlock"));
    cmd.env_clear();
    for keep in ["PATH", "TMPDIR"] {
        if let Some(value) = std::env::var_os(keep) {
            cmd.env(keep, value);
        }
    }
    for name in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
        cmd.env(name, proxy);
    }
    cmd.env("RTLOCK_INSECURE_REGISTRIES", HOST)
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args);
    let out = cmd.output().expect("run rtlock");
    assert!(
        out.status.success(),
        "rtlock {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One run in a fresh work directory with its own server and cache: the lock's text and
/// the digest `build` printed.
fn lock_and_build(manifest: &str) -> (String, String) {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let served = dir.join("served");
    write_base(&served);
    write_apt_repo(&served);
    write_pip_index(&served);
    let server = StaticServer::start(&served);
    let proxy = format!("http://{}", server.addr());
    std::fs::write(dir.join("runtime.toml"), manifest).unwrap();

    rtlock(
        dir,
        &proxy,
        &["lock", "-m", "runtime.toml", "-o", "runtime.lock"],
    );
    let lock = std::fs::read_to_string(dir.join("runtime.lock")).unwrap();
    let out = rtlock(
        dir,
        &proxy,
        &[
            "build",
            "-l",
            "runtime.lock",
            "--no-daemon",
            "-o",
            &format!("oci:out:{TAG}"),
        ],
    );
    let digest = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    let index = std::fs::read_to_string(dir.join("out/index.json")).unwrap();
    assert!(
        digest.starts_with("sha256:") && index.contains(&format!("\"{digest}\"")),
        "build printed `{digest}`, which the layout it wrote does not hold: {index}"
    );
    // Every request went through the proxy, for the fixed host.
    let hits = server.hits();
    assert!(!hits.is_empty(), "nothing was fetched through the proxy");
    for hit in hits {
        let host = hit
            .request_headers
            .get("host")
            .and_then(|h| h.to_str().ok());
        // `HOST:443`: the registry client tries HTTPS first (a CONNECT, refused).
        assert!(
            host == Some(HOST) || host == Some(&format!("{HOST}:443")),
            "{} {} was asked of {host:?}",
            hit.method,
            hit.path
        );
    }
    (lock, digest)
}

/// Locks and builds `manifest` twice, from scratch each time, and checks both runs
/// against the pin and the lock's snapshot.
fn check(name: &str, manifest: &str, pin: &Pin) {
    let (lock, digest) = lock_and_build(manifest);
    let (again_lock, again_digest) = lock_and_build(manifest);
    assert_eq!(
        lock, again_lock,
        "{name}: two runs (other port, other directories) wrote other locks"
    );
    assert_eq!(
        digest, again_digest,
        "{name}: two runs (other port, other directories) built other images"
    );
    insta::assert_snapshot!(name, lock);
    let lock_sha256 = sha256_hex(lock.as_bytes());
    assert_eq!(
        (lock_sha256.as_str(), digest.as_str()),
        (pin.lock_sha256, pin.image),
        "{name}: the lock's sha256 and the image digest differ from the pins: rtlock's output \
         changed (see the module comment for what a deliberate change must do)"
    );
}

#[test]
fn an_apt_runtime_locks_and_builds_to_the_pinned_bytes() {
    check("apt", &apt_manifest(), &APT_PIN);
}

#[test]
fn a_pip_runtime_locks_and_builds_to_the_pinned_bytes() {
    check("pip", &pip_manifest(), &PIP_PIN);
}

#[test]
fn an_apt_and_pip_runtime_locks_and_builds_to_the_pinned_bytes() {
    check("both", &both_manifest(), &BOTH_PIN);
}

/// What people read, for the same fixed inputs: `lock`'s summary, `inspect` of the built
/// image, `why` of pulled-in packages, and `diff` of two locks in each format. The
/// inputs are the pinned ones, so every byte of these is fixed too (no redaction).
#[test]
fn what_people_read_of_the_pinned_runtimes_is_pinned() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let served = dir.join("served");
    write_base(&served);
    write_apt_repo(&served);
    write_pip_index(&served);
    let server = StaticServer::start(&served);
    let proxy = format!("http://{}", server.addr());
    let text = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let errors = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    std::fs::write(dir.join("apt.toml"), apt_manifest()).unwrap();
    std::fs::write(dir.join("runtime.toml"), both_manifest()).unwrap();
    let apt = rtlock(dir, &proxy, &["lock", "-m", "apt.toml", "-o", "apt.lock"]);
    insta::assert_snapshot!("read_lock_summary_apt", errors(&apt));
    let both = rtlock(dir, &proxy, &["lock"]);
    insta::assert_snapshot!("read_lock_summary_both", errors(&both));
    let again = rtlock(dir, &proxy, &["lock"]);
    insta::assert_snapshot!("read_lock_summary_unchanged", errors(&again));

    rtlock(
        dir,
        &proxy,
        &["build", "--no-daemon", "-o", &format!("oci:out:{TAG}")],
    );
    let inspect = rtlock(dir, &proxy, &["inspect", &format!("oci:out:{TAG}")]);
    insta::assert_snapshot!("read_inspect", text(&inspect));

    for name in ["pins-libgreet", "pins-gamma", "pins-alpha"] {
        let why = rtlock(dir, &proxy, &["why", name]);
        insta::assert_snapshot!(format!("read_why_{name}"), text(&why));
    }
    for format in ["text", "markdown", "json"] {
        let diff = rtlock(
            dir,
            &proxy,
            &["diff", "apt.lock", "runtime.lock", "--format", format],
        );
        insta::assert_snapshot!(format!("read_diff_{format}"), text(&diff));
    }
}
