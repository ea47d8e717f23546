//! Maintainer scripts run in the bed's Docker Engine on the bed's python base image, and
//! what they did is captured as normalized layer entries (`rtlock::apt::configure`).
//!
//! The input is made with real tools: real packages (`apt-get download` from this
//! machine's apt sources) and small packages built here with `dpkg-deb --build` are
//! unpacked with `dpkg --unpack` in a container of the base, and that container's
//! changes become the apt layer: packages unpacked but not configured, as rtlock's
//! installer leaves them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::testbed::{docker as docker_cli, ok, registry_digest, testbed};
use rtlock::apt::configure::{
    Captured, ConfigureError, TAG_REPOSITORY, configure, configure_on, normalize, scripts_layer,
};
use rtlock::base::step::created_by;
use rtlock::build::layers::PlannedLayer;
use rtlock::build::{BuildContext, build_with};
use rtlock::docker::container::{Container, Step};
use rtlock::fetch::{FetchSettings, Fetcher};
use rtlock::image::{ImageSource, OpenOptions, RootFs};
use rtlock::lockfile::Lockfile;
use rtlock::oci::layer::{Compression, Content, Entry, EntryKind, LayerCache, write_layer};
use rtlock::oci::output::Image;
use rtlock::oci::registry::{Registry, RegistryOptions};

const EPOCH: i64 = 1_761_955_200;

/// Real packages: ucf has a preinst, a postinst and a conffile; libpaper1 a postinst
/// (which writes /etc/papersize through ucf and debconf) and a shared library;
/// python3-six a postinst that byte-compiles its module (py3compile).
const REAL: [&str; 4] = ["sensible-utils", "ucf", "libpaper1", "python3-six"];

/// A package whose postinst adds a system user, writes a file it owns, installs an
/// alternative, logs (noise), and deletes a file of the base image.
const PROBE_POSTINST: &str = r#"#!/bin/sh
set -e
if [ "$1" = configure ]; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent rtlock-probe
    echo configured > /var/lib/rtlock-probe/state
    chown rtlock-probe:rtlock-probe /var/lib/rtlock-probe/state
    update-alternatives --install /usr/bin/rtlock-probe rtlock-probe /usr/lib/rtlock-probe/probe 50
    date > /var/log/rtlock-probe.log
    rm -f /etc/motd
fi
"#;

const FAILING_POSTINST: &str = "#!/bin/sh\necho 'rtlock-fails: cannot configure' >&2\nexit 3\n";

/// The bed's environment, a scratch directory and its `debs/` folder (mounted at /mnt
/// for `dpkg --unpack`).
fn setup() -> (tempfile::TempDir, PathBuf) {
    for (key, value) in testbed().env() {
        // SAFETY: every test sets the same values, before it reads the environment.
        unsafe { std::env::set_var(key, value) };
    }
    let dir = tempfile::tempdir().unwrap();
    let debs = dir.path().join("debs");
    std::fs::create_dir_all(&debs).unwrap();
    (dir, debs)
}

fn lock(dir: &Path) -> Lockfile {
    let image = &testbed().image_python;
    let digest = registry_digest(image);
    let path = dir.join("runtime.lock");
    std::fs::write(
        &path,
        format!(
            "version = 1\n\
             manifest = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"\n\
             source-date-epoch = {EPOCH}\n\
             [base]\nreference = \"{image}\"\ndigest = \"{digest}\"\nmanifest = \"{digest}\"\n\
             platform = \"linux/amd64\"\n"
        ),
    )
    .unwrap();
    Lockfile::read(&path).unwrap()
}

fn context(dir: &Path) -> BuildContext {
    let fetcher = Fetcher::new(FetchSettings::new(dir.join("cache"))).unwrap();
    let registry = Registry::new(&fetcher, RegistryOptions::default()).unwrap();
    BuildContext {
        fetcher,
        registry,
        layer_cache: LayerCache::new(dir.join("layers")),
    }
}

fn run(what: &str, cmd: &mut Command) -> String {
    ok(
        what,
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}")),
    )
}

/// `dpkg-deb --build` of an `Architecture: all` package, with `postinst` if given,
/// into `dir/debs`.
fn build_deb(
    dir: &Path,
    name: &str,
    postinst: Option<&str>,
    files: &[(&str, &[u8], u32)],
) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join(format!("{name}-root"));
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: rtlock tests <tests@rtlock.invalid>\n\
             Description: rtlock test package\n maintainer scripts under test\n"
        ),
    )
    .unwrap();
    if let Some(postinst) = postinst {
        let script = root.join("DEBIAN/postinst");
        std::fs::write(&script, postinst).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    for (path, content, mode) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode)).unwrap();
    }
    let deb = dir.join("debs").join(format!("{name}_1.0_all.deb"));
    run(
        "dpkg-deb --build",
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(&deb),
    );
    deb
}

/// The python base's filesystem (the bed's OCI layout of the same image).
async fn base_rootfs() -> (RootFs, rtlock::image::OpenedImage) {
    let source: ImageSource = format!("oci:{}", testbed().image_python_oci)
        .parse()
        .unwrap();
    let opened = rtlock::image::open(&source, &OpenOptions::default())
        .await
        .unwrap();
    (RootFs::read(&opened.layers, &|_, _| None).unwrap(), opened)
}

/// The python base with `debs` unpacked (not configured) by `dpkg --unpack` in a
/// container: returns the apt layer's entries, normalized and without the directories
/// dpkg only touched, as an installer would write them.
async fn unpacked_layer(
    base_fs: &RootFs,
    ctx: &BuildContext,
    lock: &Lockfile,
    debs: &Path,
) -> Vec<Entry> {
    let docker = rtlock::docker::connect().await.unwrap();
    let base = build_with(lock, ctx, Vec::new()).await.unwrap();
    // The tests of this file run at once, on the same base: one tag each.
    static N: AtomicUsize = AtomicUsize::new(0);
    let tag = format!(
        "rtlock-test-configure-base:{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    rtlock::docker::load::load(&docker, &base.image, &tag)
        .await
        .unwrap();
    let step = Step {
        image: tag.clone(),
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "dpkg --unpack /mnt/*.deb 2>&1".into(),
        ],
        env: vec!["DEBIAN_FRONTEND=noninteractive".into()],
        user: "root".into(),
        binds: vec![format!("{}:/mnt:ro", debs.display())],
    };
    let container = Container::create(&docker, &step).await.unwrap();
    let finished = container.run().await.unwrap();
    let changes = container
        .changes(&|p| p != "mnt" && !p.starts_with("mnt/"))
        .await;
    container.remove().await.unwrap();
    docker_cli(&["rmi", &tag]);
    assert_eq!(
        finished.exit_code, 0,
        "dpkg --unpack failed:\n{}",
        finished.log
    );
    let changes = changes.unwrap();
    let captured = Captured {
        entries: normalize::normalize(changes.entries, b"", EPOCH),
        removed: changes.removed,
        log: finished.log,
    };
    scripts_layer(captured, &[], base_fs)
}

/// The base with one layer per item of `layers`, bottom first.
async fn image_with(ctx: &BuildContext, lock: &Lockfile, layers: Vec<Vec<Entry>>) -> Image {
    let planned = layers
        .into_iter()
        .map(|entries| PlannedLayer {
            name: "apt",
            created_by: created_by("apt", 1),
            entries,
            key: None,
        })
        .collect();
    build_with(lock, ctx, planned).await.unwrap().image
}

fn entry<'a>(captured: &'a Captured, path: &str) -> &'a Entry {
    captured
        .entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("nothing captured at {path}; log:\n{}", captured.log))
}

/// One line per entry, for comparisons that print readably: path, kind, mode,
/// owner, and the sha256 of a file's bytes.
fn shown(entries: &[Entry]) -> Vec<String> {
    use sha2::Digest as _;
    entries
        .iter()
        .map(|e| {
            let kind = match &e.kind {
                EntryKind::File(Content::Bytes(bytes)) => {
                    format!("file {}", hex::encode(sha2::Sha256::digest(bytes)))
                }
                other => format!("{other:?}"),
            };
            format!("{} {kind} {:o} {}:{}", e.path, e.mode, e.uid, e.gid)
        })
        .collect()
}

fn text(entry: &Entry) -> String {
    match &entry.kind {
        EntryKind::File(Content::Bytes(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("{} is not a file in memory: {other:?}", entry.path),
    }
}

fn symlink(entry: &Entry) -> &str {
    match &entry.kind {
        EntryKind::Symlink { target } => target,
        other => panic!("{} is not a symlink: {other:?}", entry.path),
    }
}

fn download_real(debs: &Path) {
    run(
        "apt-get download",
        Command::new("apt-get")
            .current_dir(debs)
            .arg("download")
            .args(REAL),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn maintainer_scripts_run_in_a_container_and_are_captured_the_same_twice() {
    let (dir, debs) = setup();
    download_real(&debs);
    build_deb(
        dir.path(),
        "rtlock-probe",
        Some(PROBE_POSTINST),
        &[
            (
                "usr/lib/rtlock-probe/probe",
                b"#!/bin/sh\necho probe works\n",
                0o755,
            ),
            ("var/lib/rtlock-probe/.keep", b"", 0o644),
        ],
    );
    let lock = lock(dir.path());
    let ctx = context(dir.path());
    let (base, _opened) = base_rootfs().await;
    let unpacked = unpacked_layer(&base, &ctx, &lock, &debs).await;
    let status = unpacked
        .iter()
        .find(|e| e.path == "var/lib/dpkg/status")
        .unwrap();
    assert!(text(status).contains("Status: install ok unpacked"));

    let image = image_with(&ctx, &lock, vec![unpacked.clone()]).await;
    let packages: Vec<String> = REAL
        .iter()
        .chain(&["rtlock-probe"])
        .map(|s| s.to_string())
        .collect();
    let docker = rtlock::docker::connect().await.unwrap();
    let first = configure(&docker, &image, &packages, EPOCH).await.unwrap();
    // The second run takes the other way: a container of the base (by its ID) with the
    // unpacked files copied in, no image loaded.
    let base_image = build_with(&lock, &ctx, Vec::new()).await.unwrap().image;
    let base_tag = format!("rtlock-test-configure-on:{}", std::process::id());
    rtlock::docker::load::load(&docker, &base_image, &base_tag)
        .await
        .unwrap();
    let (second, cleanup) = configure_on(
        &docker,
        base_image.config_descriptor.digest.as_str(),
        unpacked.clone(),
        &packages,
        EPOCH,
        async { None },
    )
    .await;
    cleanup.finish().await.unwrap();
    docker_cli(&["rmi", &base_tag]);
    let second = second.unwrap();

    // What the scripts made.
    let passwd = text(entry(&first, "etc/passwd"));
    let probe_user = passwd
        .lines()
        .find(|l| l.starts_with("rtlock-probe:"))
        .unwrap_or_else(|| panic!("no rtlock-probe user in\n{passwd}"));
    let uid: u32 = probe_user.split(':').nth(2).unwrap().parse().unwrap();
    let shadow = text(entry(&first, "etc/shadow"));
    let day = EPOCH / 86_400;
    assert!(
        shadow
            .lines()
            .any(|l| l.starts_with(&format!("rtlock-probe:!:{day}:"))
                || l.starts_with(&format!("rtlock-probe:*:{day}:"))),
        "the new user's password age is not the epoch's day:\n{shadow}"
    );
    let state = entry(&first, "var/lib/rtlock-probe/state");
    assert_eq!(text(state), "configured\n");
    assert_eq!(state.uid, uid);
    assert_eq!(
        symlink(entry(&first, "etc/alternatives/rtlock-probe")),
        "/usr/lib/rtlock-probe/probe"
    );
    assert_eq!(
        symlink(entry(&first, "usr/bin/rtlock-probe")),
        "/etc/alternatives/rtlock-probe"
    );
    assert!(
        text(entry(&first, "var/lib/dpkg/alternatives/rtlock-probe"))
            .contains("/usr/lib/rtlock-probe/probe")
    );
    assert!(!text(entry(&first, "etc/papersize")).is_empty());
    assert!(text(entry(&first, "etc/ucf.conf")).contains("ucf"));
    let cache = entry(&first, "etc/ld.so.cache");
    assert!(
        text(cache).contains("libpaper.so.1"),
        "the ldconfig trigger did not run: /etc/ld.so.cache has no libpaper"
    );
    let pyc = first
        .entries
        .iter()
        .find(|e| {
            e.path
                .starts_with("usr/lib/python3/dist-packages/__pycache__/six.")
                && e.path.ends_with(".pyc")
        })
        .unwrap_or_else(|| panic!("py3compile wrote no six .pyc:\n{}", first.log));
    match &pyc.kind {
        EntryKind::File(Content::Bytes(bytes)) => {
            assert_eq!(
                bytes[4..8],
                [3, 0, 0, 0],
                "{} is not checked by hash",
                pyc.path
            )
        }
        other => panic!("{other:?}"),
    }
    let status = text(entry(&first, "var/lib/dpkg/status"));
    assert!(!status.contains("install ok unpacked"), "{status}");
    assert!(
        first.removed.contains(&"etc/motd".to_string()),
        "{:?}",
        first.removed
    );
    assert!(
        first.removed.contains(&"etc/ucf.conf.dpkg-new".to_string()),
        "{:?}",
        first.removed
    );

    // The noise is gone.
    for e in &first.entries {
        assert!(!normalize::is_noise(&e.path), "noise captured: {}", e.path);
        assert_eq!(e.mtime, None, "{}", e.path);
    }
    assert!(first.log.contains("Setting up libpaper1"), "{}", first.log);

    // Twice the same, byte for byte (ld.so.cache included), whichever way the files
    // reached the container. The raw captures may differ only in directories the
    // scripts did not change: overlayfs copies a lower directory up (new ctime) when a
    // file is made under it, and copied-in files were made before the mark. The layer
    // leaves such directories out.
    assert_eq!(first.removed, second.removed);
    let first_layer = scripts_layer(first.clone(), &unpacked, &base);
    let second_layer = scripts_layer(second.clone(), &unpacked, &base);
    assert_eq!(shown(&first_layer), shown(&second_layer));
    assert_eq!(first_layer, second_layer);

    // As a layer over the unpacked one, the image is configured.
    let scripts = scripts_layer(first, &unpacked, &base);
    assert!(scripts.iter().any(|e| e.path == "etc/.wh.motd"));
    assert!(
        scripts
            .iter()
            .any(|e| e.path == "etc/.wh.ucf.conf.dpkg-new")
    );
    assert!(scripts.iter().any(|e| e.path == "etc/ucf.conf"));
    assert!(
        !scripts
            .iter()
            .any(|e| e.path == "etc" || e.path == "var/lib/dpkg"),
        "directories the scripts only touched are left out"
    );
    let again = scripts_layer(second, &unpacked, &base);
    let cache = LayerCache::new(dir.path().join("compare"));
    let layer = |entries| write_layer(entries, EPOCH, Compression::Gzip, &cache, None).unwrap();
    assert_eq!(layer(scripts.clone()).diff_id, layer(again).diff_id);

    let configured = image_with(&ctx, &lock, vec![unpacked, scripts]).await;
    let tag = format!("rtlock-test-configured:{}", std::process::id());
    rtlock::docker::load::load(&docker, &configured, &tag)
        .await
        .unwrap();
    let checked = docker_cli(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tag,
        "sh",
        "-c",
        "dpkg --audit; dpkg-query -W -f='${Package} ${Status}\\n' sensible-utils ucf libpaper1 python3-six rtlock-probe; \
         rtlock-probe; test -e /etc/motd && echo motd-is-back; getent passwd rtlock-probe >/dev/null && echo user",
    ]);
    docker_cli(&["rmi", &tag]);
    let out = ok("docker run on the configured image", checked);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "libpaper1 install ok installed",
            "python3-six install ok installed",
            "rtlock-probe install ok installed",
            "sensible-utils install ok installed",
            "ucf install ok installed",
            "probe works",
            "user",
        ],
        "dpkg --audit must print nothing and every package be installed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_postinst_is_an_error_that_names_its_package() {
    let (dir, debs) = setup();
    build_deb(dir.path(), "rtlock-fails", Some(FAILING_POSTINST), &[]);
    let lock = lock(dir.path());
    let ctx = context(dir.path());
    let (base, _opened) = base_rootfs().await;
    let unpacked = unpacked_layer(&base, &ctx, &lock, &debs).await;
    let image = image_with(&ctx, &lock, vec![unpacked]).await;
    let docker = rtlock::docker::connect().await.unwrap();
    let err = configure(&docker, &image, &["rtlock-fails".to_string()], EPOCH)
        .await
        .unwrap_err();
    match &err {
        ConfigureError::Failed {
            packages, log_tail, ..
        } => {
            assert_eq!(packages, "rtlock-fails");
            assert!(
                log_tail.contains("rtlock-fails: cannot configure"),
                "{log_tail}"
            );
        }
        other => panic!("not a script failure: {other}"),
    }
    assert!(err.to_string().contains("rtlock-fails"), "{err}");
    // The image's tag went with the container.
    let prefix = &image.manifest_digest.hex()[..12];
    let tags = ok(
        "docker images",
        docker_cli(&["images", TAG_REPOSITORY, "--format", "{{.Tag}}"]),
    );
    assert!(
        !tags.lines().any(|t| t.starts_with(prefix)),
        "a {TAG_REPOSITORY}:{prefix}-… tag is left behind:\n{tags}"
    );
}

/// A shared library built here (its soname is new to the base), for the ldconfig trigger.
fn shared_library(dir: &Path) -> (String, Vec<u8>) {
    let source = dir.join("probe.c");
    std::fs::write(&source, "int rtlock_probe(void) { return 42; }\n").unwrap();
    let library = dir.join("librtlockprobe.so.1.0.0");
    run(
        "gcc -shared",
        Command::new("gcc")
            .args(["-shared", "-fPIC", "-Wl,-soname,librtlockprobe.so.1", "-o"])
            .arg(&library)
            .arg(&source),
    );
    let multiarch = run(
        "gcc -print-multiarch",
        Command::new("gcc").arg("-print-multiarch"),
    );
    (
        format!("usr/lib/{multiarch}"),
        std::fs::read(&library).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_without_scripts_still_activates_file_triggers_and_ldconfig() {
    let (dir, debs) = setup();
    let (libdir, library) = shared_library(dir.path());
    let library_path = format!("{libdir}/librtlockprobe.so.1.0.0");
    build_deb(
        dir.path(),
        "rtlock-plain",
        None,
        &[
            (&library_path, &library, 0o644),
            // debianutils is interested in this directory (a file trigger): its
            // update-shells adds the shells listed there to /etc/shells.
            (
                "usr/share/debianutils/shells.d/rtlock-plain",
                b"/usr/bin/rtlock-plain-shell\n",
                0o644,
            ),
        ],
    );
    let lock = lock(dir.path());
    let ctx = context(dir.path());
    let (base, _opened) = base_rootfs().await;
    let mut unpacked = unpacked_layer(&base, &ctx, &lock, &debs).await;
    // rtlock's installer marks a package without a postinst installed at once: nothing
    // will configure it, so its triggers are all the script has to run.
    let status = unpacked
        .iter_mut()
        .find(|e| e.path == "var/lib/dpkg/status")
        .unwrap();
    let marked = text(status).replace(
        "Status: install ok unpacked",
        "Status: install ok installed",
    );
    status.kind = EntryKind::File(Content::Bytes(marked.into_bytes()));

    let image = image_with(&ctx, &lock, vec![unpacked]).await;
    let docker = rtlock::docker::connect().await.unwrap();
    let captured = configure(&docker, &image, &["rtlock-plain".to_string()], EPOCH)
        .await
        .unwrap();
    assert!(
        text(entry(&captured, "etc/shells"))
            .lines()
            .any(|l| l == "/usr/bin/rtlock-plain-shell"),
        "the file trigger of debianutils did not run:\n{}",
        captured.log
    );
    assert!(
        text(entry(&captured, "etc/ld.so.cache")).contains("librtlockprobe.so.1"),
        "the ldconfig trigger did not run:\n{}",
        captured.log
    );
    assert_eq!(
        symlink(entry(&captured, &format!("{libdir}/librtlockprobe.so.1"))),
        "librtlockprobe.so.1.0.0"
    );
    assert!(
        captured
            .log
            .contains("rtlock: activating trigger /usr/share/debianutils/shells.d"),
        "{}",
        captured.log
    );
}
