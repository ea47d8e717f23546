//! `rtlock audit` against real images of the test bed: an image built from a lock
//! matches, from every source; the same image after someone installed, removed and
//! overwrote things in a running container shows each drift by package, version and
//! file, in the container itself and in the image committed from it — and where dpkg
//! can say so itself (`dpkg --verify`), it says the same.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use tempfile::TempDir;

use common::cli::{locked, rtlock_in, succeed};
use common::pip_index::{PipIndex, exact};
use common::testbed::{docker, ok, testbed};

/// rtlock, quiet (no progress bars in the test output).
fn rtlock(dir: &Path, cache: &Path, args: &[&str]) -> Output {
    let mut quiet = vec!["-q"];
    quiet.extend(args);
    rtlock_in(dir, cache, &quiet)
}

/// `audit SOURCE --format json`: its exit code and document.
fn audit(dir: &Path, cache: &Path, source: &str) -> (i32, Value) {
    let out = rtlock(dir, cache, &["audit", source, "--format", "json"]);
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 3,
        "audit {source} failed ({code}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, serde_json::from_slice(&out.stdout).unwrap())
}

/// Everything but the `image` field, which names the source.
fn findings(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("image");
    v
}

/// `audit SOURCE --format FORMAT` (an SBOM of what the image holds): its exit code and
/// the document.
fn sbom(dir: &Path, cache: &Path, source: &str, format: &str) -> (i32, String) {
    let out = rtlock(dir, cache, &["audit", source, "--format", format]);
    let code = out.status.code().unwrap();
    assert!(
        code == 0 || code == 3,
        "audit --format {format} {source} failed ({code}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code, String::from_utf8(out.stdout).unwrap())
}

/// How many SPDX packages (the image itself aside) have a purl of `purl_type`.
fn spdx_count(document: &str, purl_type: &str) -> usize {
    let v: Value = serde_json::from_str(document).unwrap();
    v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            p["externalRefs"][0]["referenceLocator"]
                .as_str()
                .is_some_and(|l| l.starts_with(&format!("pkg:{purl_type}/")))
        })
        .count()
}

/// Writes `document` to `dir/name` and has the format's own validator check it.
fn validate(dir: &Path, name: &str, document: &str) {
    let path = dir.join(name);
    std::fs::write(&path, document).unwrap();
    if name.contains("spdx") {
        common::sbom_tools::assert_valid_spdx(&path);
    } else {
        common::sbom_tools::assert_valid_cyclonedx(&path);
    }
}

fn exec(container: &str, script: &str) -> String {
    ok(
        &format!("docker exec {script}"),
        docker(&["exec", container, "sh", "-c", script]),
    )
}

/// Removes a container and images when the test ends, however it ends.
struct Cleanup(Vec<Vec<String>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in &self.0 {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = docker(&args);
        }
    }
}

#[test]
fn an_image_from_the_lock_matches_and_each_change_in_a_container_is_named() {
    let bed = testbed();
    let index = PipIndex::start(&[
        exact("idna", &["3.7"]),
        exact("urllib3", &["2.2.2", "2.2.3"]),
        exact("six", &["1.16.0"]),
    ]);
    index.ensure_all_bodies();
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!(
            "[base]\nimage = \"{}\"\n[apt]\npackages = [\"jq\"]\n[pip]\npackages = [\"idna==3.7\", \"urllib3==2.2.2\"]\nindex-url = \"{}\"\n",
            bed.image_python,
            index.url()
        ),
    )
    .unwrap();
    succeed("lock", rtlock(dir.path(), &cache, &["lock"]));
    let tag = format!("rtlock-audit-test:{}", std::process::id());
    let committed = format!("rtlock-audit-test:{}-committed", std::process::id());
    let container = format!("rtlock-audit-test-{}", std::process::id());
    let _cleanup = Cleanup(vec![
        vec!["rm".into(), "-f".into(), container.clone()],
        vec!["rmi".into(), "-f".into(), tag.clone(), committed.clone()],
    ]);
    succeed(
        "build",
        rtlock(
            dir.path(),
            &cache,
            &[
                "build",
                "-o",
                "oci:out:latest",
                "-o",
                &format!("docker-daemon:{tag}"),
            ],
        ),
    );

    // As built: a match from every source, and the same document apart from its name.
    let (code, built) = audit(dir.path(), &cache, "oci:out:latest");
    assert_eq!(code, 0, "{built:#}");
    assert_eq!(built["status"], "match");
    assert_eq!(built["image"], "oci:out:latest");
    let installed = ok(
        "dpkg-query",
        docker(&[
            "run",
            "--rm",
            &tag,
            "dpkg-query",
            "-W",
            "-f",
            "${db:Status-Status}\\n",
        ]),
    );
    assert_eq!(
        built["checked"]["apt"]["packages"],
        installed.lines().filter(|l| *l == "installed").count(),
        "every package dpkg calls installed is compared"
    );
    assert!(
        built["checked"]["apt"]["files"].as_u64().unwrap() > 5000,
        "{built:#}"
    );
    // idna and urllib3, each with its RECORD; Debian's pip, setuptools, wheel have none.
    assert_eq!(built["checked"]["pip"]["without_record"], 3, "{built:#}");
    assert!(
        built["checked"]["pip"]["files"].as_u64().unwrap() > 20,
        "{built:#}"
    );
    let (code, daemon) = audit(dir.path(), &cache, &format!("docker-daemon:{tag}"));
    assert_eq!(code, 0);
    assert_eq!(findings(&daemon), findings(&built));

    // SBOMs of what the image holds: valid by the formats' own tools, the same bytes
    // twice, and as many packages as dpkg, pip and R count in a container of it.
    let (code, spdx) = sbom(dir.path(), &cache, "oci:out:latest", "spdx");
    assert_eq!(code, 0);
    assert_eq!(sbom(dir.path(), &cache, "oci:out:latest", "spdx").1, spdx);
    validate(dir.path(), "image.spdx.json", &spdx);
    let (_, cyclonedx) = sbom(dir.path(), &cache, "oci:out:latest", "cyclonedx");
    assert_eq!(
        sbom(dir.path(), &cache, "oci:out:latest", "cyclonedx").1,
        cyclonedx
    );
    validate(dir.path(), "image.cdx.json", &cyclonedx);
    let pip_list = ok(
        "pip list",
        docker(&[
            "run", "--rm", &tag, "python3", "-m", "pip", "list", "--format", "json",
        ]),
    );
    let pip_list: Value = serde_json::from_str(&pip_list).unwrap();
    assert_eq!(
        spdx_count(&spdx, "deb"),
        installed.lines().filter(|l| *l == "installed").count()
    );
    assert_eq!(
        spdx_count(&spdx, "pypi"),
        pip_list.as_array().unwrap().len()
    );
    assert_eq!(spdx_count(&spdx, "cran"), 0);
    let cdx: Value = serde_json::from_str(&cyclonedx).unwrap();
    let components = cdx["components"].as_array().unwrap();
    assert_eq!(
        components.len(),
        spdx_count(&spdx, "deb") + spdx_count(&spdx, "pypi")
    );
    // What the lock pins carries its artifact's sha256; what the base has, its license.
    let lock = rtlock::lockfile::Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    let jq = lock.apt.iter().find(|p| p.name == "jq").unwrap();
    let jq_component = components.iter().find(|c| c["name"] == "jq").unwrap();
    assert_eq!(jq_component["hashes"][0]["content"], jq.sha256.as_str());
    assert_eq!(
        jq_component["purl"],
        format!(
            "pkg:deb/debian/jq@{}?arch=amd64",
            jq.version.as_str().replace('+', "%2B")
        )
    );
    let bash = components.iter().find(|c| c["name"] == "bash").unwrap();
    assert!(bash.get("licenses").is_some(), "{bash:#}");
    let v: Value = serde_json::from_str(&spdx).unwrap();
    let depends: Vec<&Value> = v["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DEPENDS_ON")
        .collect();
    assert!(
        depends
            .iter()
            .any(|r| r["spdxElementId"] == "SPDXRef-apt-jq-amd64"),
        "jq's requires are DEPENDS_ON relationships: {depends:#?}"
    );

    // SBOMs of what the lock promises: every locked package, valid, the same bytes twice.
    for format in ["spdx", "cyclonedx"] {
        let exported = succeed("export", rtlock(dir.path(), &cache, &["export", format]));
        assert_eq!(
            succeed("export", rtlock(dir.path(), &cache, &["export", format])),
            exported
        );
        validate(dir.path(), &format!("lock.{format}.json"), &exported);
        for p in &lock.apt {
            assert!(
                exported.contains(&p.sha256),
                "{} in the {format} export",
                p.name
            );
        }
        for p in &lock.pip {
            assert!(exported.contains(&format!("pkg:pypi/{}@{}", p.name, p.version)));
        }
    }

    // A running session: audited as it is now, before and after changes.
    ok(
        "docker run",
        docker(&[
            "run",
            "-d",
            "--network",
            "host",
            "--name",
            &container,
            &tag,
            "sleep",
            "600",
        ]),
    );
    let source = format!("container:{container}");
    let (code, running) = audit(dir.path(), &cache, &source);
    assert_eq!(code, 0, "{running:#}");
    assert_eq!(findings(&running), findings(&built));

    let site = "/usr/local/lib/python3.11/dist-packages";
    let tree = &common::apt_repo::debs(&["tree"])[0];
    ok(
        "docker cp",
        docker(&[
            "cp",
            tree.to_str().unwrap(),
            &format!("{container}:/tmp/tree.deb"),
        ]),
    );
    // Debian's pip 23.0 cannot read PEP 691 pages with PEP 714 metadata: HTML for it.
    index.set_html_only(true);
    exec(
        &container,
        &format!(
            "set -e
             printf 'x' >> /usr/bin/jq
             printf '# edited\\n' >> {site}/idna/core.py
             dpkg -i /tmp/tree.deb >/dev/null
             dpkg -r --force-depends libonig5 >/dev/null 2>&1
             pip='python3 -m pip install -q --break-system-packages --no-deps --index-url {url}'
             $pip urllib3==2.2.3
             $pip --user six==1.16.0",
            url = index.url()
        ),
    );
    let (code, after) = audit(dir.path(), &cache, &source);
    assert_eq!(code, 3, "drift: {after:#}");
    assert_eq!(after["status"], "drift");
    let tree_version = common::apt_repo::deb_field(tree, "Version");
    let onig = rtlock::lockfile::Lockfile::read(&dir.path().join("runtime.lock"))
        .unwrap()
        .apt
        .into_iter()
        .find(|p| p.name == "libonig5")
        .expect("libonig5 is locked with jq");
    assert_eq!(
        after["apt"]["missing"],
        json!([{"name": "libonig5", "version": onig.version.as_str()}])
    );
    assert_eq!(
        after["apt"]["extra"],
        json!([{"name": "tree", "version": tree_version}])
    );
    assert_eq!(after["apt"]["changed"], json!([]));
    let jq_md5 = exec(&container, "md5sum /usr/bin/jq | cut -d' ' -f1");
    let modified = &after["apt"]["modified_files"];
    assert_eq!(modified.as_array().unwrap().len(), 1, "{modified:#}");
    assert_eq!(modified[0]["package"], "jq");
    assert_eq!(modified[0]["path"], "/usr/bin/jq");
    assert_eq!(modified[0]["found"], format!("md5:{}", jq_md5.trim()));
    // dpkg's own verdict: the same files (libonig5's are gone with its record).
    let verify = exec(&container, "dpkg --verify || true");
    let dpkg_paths: BTreeSet<&str> = verify
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let ours: BTreeSet<&str> = modified
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(ours, dpkg_paths, "dpkg --verify says:\n{verify}");

    assert_eq!(
        after["pip"]["changed"],
        json!([{"name": "urllib3", "locked": "2.2.2", "found": "2.2.3"}])
    );
    assert_eq!(
        after["pip"]["extra"],
        json!([{"name": "six", "version": "1.16.0",
                "location": "/root/.local/lib/python3.11/site-packages"}])
    );
    assert_eq!(after["pip"]["missing"], json!([]));
    let pip_modified = after["pip"]["modified_files"].as_array().unwrap();
    assert_eq!(pip_modified.len(), 1, "{pip_modified:#?}");
    assert_eq!(pip_modified[0]["package"], "idna");
    assert_eq!(pip_modified[0]["path"], format!("{site}/idna/core.py"));
    assert!(
        pip_modified[0]["expected"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{pip_modified:#?}"
    );

    // What people read: each drift on its line.
    let text = rtlock(dir.path(), &cache, &["audit", &source]);
    assert_eq!(text.status.code(), Some(3));
    let text = String::from_utf8(text.stdout).unwrap();
    for line in [
        "  missing   libonig5",
        "  extra     tree",
        "  modified  /usr/bin/jq",
        "  changed   urllib3",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(text.contains("drift: 6 differences"), "{text}");

    // An SBOM of the drifted container: what it holds now, and the drift's exit code.
    let (code, drifted) = sbom(dir.path(), &cache, &source, "cyclonedx");
    assert_eq!(code, 3);
    validate(dir.path(), "drifted.cdx.json", &drifted);
    for purl in [
        "pkg:deb/debian/tree@",
        "pkg:pypi/six@1.16.0",
        "pkg:pypi/urllib3@2.2.3",
    ] {
        assert!(
            drifted.contains(purl),
            "{purl} in the SBOM of the container"
        );
    }
    assert!(!drifted.contains("pkg:deb/debian/libonig5@"));

    // Committed, the image says the same as the container did.
    ok("docker commit", docker(&["commit", &container, &committed]));
    let (code, image) = audit(dir.path(), &cache, &format!("docker-daemon:{committed}"));
    assert_eq!(code, 3);
    assert_eq!(findings(&image), findings(&after));
}

#[test]
fn what_cannot_be_audited_says_why() {
    let bed = testbed();
    let dir = TempDir::new().unwrap();
    let cache = dir.path().join("cache");
    std::fs::write(
        dir.path().join("runtime.toml"),
        format!("[base]\nimage = \"{}\"\n", bed.image_minimal),
    )
    .unwrap();
    succeed("lock", rtlock(dir.path(), &cache, &["lock"]));
    let fail = |args: &[&str]| {
        let out = rtlock(dir.path(), &cache, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let e = fail(&["audit", "container:rtlock-no-such-container"]);
    assert!(
        e.contains("has no container `rtlock-no-such-container`"),
        "{e}"
    );
    let e = fail(&[
        "audit",
        &format!("{}/rtlock-test/no-such-image:1", bed.registry),
    ]);
    assert!(e.contains("cannot open"), "{e}");
    let e = fail(&["audit", "oci:no-such-dir", "-l", "runtime.lock"]);
    assert!(e.contains("not an OCI image layout"), "{e}");
    let newer = std::fs::read_to_string(dir.path().join("runtime.lock"))
        .unwrap()
        .replacen("version = 1", "version = 99", 1);
    std::fs::write(dir.path().join("newer.lock"), newer).unwrap();
    let e = fail(&["audit", &bed.image_minimal, "-l", "newer.lock"]);
    assert!(e.contains("written by a newer rtlock"), "{e}");
    // The base itself, audited against a lock that adds nothing: a match.
    let out = rtlock(dir.path(), &cache, &["audit", &bed.image_minimal]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// Gives the binary `R6_2.5.1.tar.gz` of a private copy of the bed's repository the
/// `MD5` file CRAN's own binaries carry (the bed's binaries are repacked from Debian's,
/// which drops it), and the repository's index the tarball's new MD5sum.
fn with_md5_file(cran: &common::cran::CranRepo) {
    let contrib = cran.contrib();
    let work = TempDir::new().unwrap();
    let script = format!(
        "set -e; cd {work}; tar xzf {contrib}/R6_2.5.1.tar.gz
         (cd R6 && find . -type f | cut -c3- | sort | xargs md5sum | sed 's/  / */') > MD5
         mv MD5 R6/MD5; tar czf {contrib}/R6_2.5.1.tar.gz R6; md5sum {contrib}/R6_2.5.1.tar.gz",
        work = work.path().display(),
        contrib = contrib.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let md5 = ok("repack R6", out);
    let md5 = md5.split_whitespace().next().unwrap();
    let index = std::fs::read_to_string(contrib.join("PACKAGES")).unwrap();
    let mut paragraphs: Vec<String> = index.split("\n\n").map(str::to_string).collect();
    for p in &mut paragraphs {
        if p.starts_with("Package: R6\n") {
            *p = p
                .lines()
                .map(|l| {
                    if l.starts_with("MD5sum:") {
                        format!("MD5sum: {md5}")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
    }
    let index = paragraphs.join("\n\n");
    std::fs::write(contrib.join("PACKAGES"), &index).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, index.as_bytes()).unwrap();
    std::fs::write(contrib.join("PACKAGES.gz"), gz.finish().unwrap()).unwrap();
    let _ = std::fs::remove_file(contrib.join("PACKAGES.rds"));
}

/// An R runtime: as built, a match with R6's MD5 file compared; a package added from
/// the repository and a file edited inside R6, in a running container, are named — and
/// R's own `tools::checkMD5sums` agrees about the file.
#[test]
fn r_packages_are_audited_by_their_md5_files() {
    let cran = common::cran::CranRepo::serve_copy();
    with_md5_file(&cran);
    let (dir, cache) = locked(&common::cran::small_r_manifest(&cran));
    let tag = format!("rtlock-audit-test:{}-r", std::process::id());
    let container = format!("rtlock-audit-test-{}-r", std::process::id());
    let _cleanup = Cleanup(vec![
        vec!["rm".into(), "-f".into(), container.clone()],
        vec!["rmi".into(), "-f".into(), tag.clone()],
    ]);
    succeed(
        "build",
        rtlock(
            dir.path(),
            &cache,
            &["build", "-o", &format!("docker-daemon:{tag}")],
        ),
    );
    let (code, built) = audit(dir.path(), &cache, &format!("docker-daemon:{tag}"));
    assert_eq!(code, 0, "{built:#}");
    // R6's MD5 is compared; R's own packages (dpkg's) and the others have none.
    let r = &built["checked"]["r"];
    assert_eq!(
        r["without_record"],
        r["packages"].as_u64().unwrap() - 1,
        "{built:#}"
    );
    assert!(r["files"].as_u64().unwrap() > 10, "{built:#}");

    // The SBOM counts what installed.packages() lists, each with its DESCRIPTION's license.
    let (_, spdx) = sbom(dir.path(), &cache, &format!("docker-daemon:{tag}"), "spdx");
    validate(dir.path(), "r.spdx.json", &spdx);
    let installed = common::cli::run_in(&tag, &[], "Rscript -e 'cat(nrow(installed.packages()))'");
    assert_eq!(spdx_count(&spdx, "cran").to_string(), installed);
    let v: Value = serde_json::from_str(&spdx).unwrap();
    let r6 = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "R6")
        .unwrap();
    assert_eq!(r6["licenseDeclared"], "MIT", "{r6:#}");

    ok(
        "docker run",
        docker(&[
            "run",
            "-d",
            "--network",
            "host",
            "--name",
            &container,
            &tag,
            "sleep",
            "600",
        ]),
    );
    let library = "/usr/local/lib/R/site-library";
    exec(
        &container,
        &format!(
            "set -e
             printf '\\n' >> {library}/R6/NAMESPACE
             Rscript -e 'install.packages(\"glue\", repos = \"{url}\", quiet = TRUE)' >/dev/null 2>&1",
            url = cran.url()
        ),
    );
    let (code, after) = audit(dir.path(), &cache, &format!("container:{container}"));
    assert_eq!(code, 3, "{after:#}");
    let glue = exec(
        &container,
        "Rscript -e 'cat(as.character(packageVersion(\"glue\")))'",
    );
    assert_eq!(
        after["r"]["extra"],
        json!([{"name": "glue", "version": glue, "location": library}])
    );
    let modified = after["r"]["modified_files"].as_array().unwrap();
    assert_eq!(modified.len(), 1, "{modified:#?}");
    assert_eq!(modified[0]["package"], "R6");
    assert_eq!(modified[0]["path"], format!("{library}/R6/NAMESPACE"));
    let r_says = exec(
        &container,
        &format!("Rscript -e 'cat(tools::checkMD5sums(\"R6\", \"{library}/R6\"))' 2>&1"),
    );
    assert!(
        r_says.contains("NAMESPACE") && r_says.ends_with("FALSE"),
        "{r_says}"
    );
    assert_eq!(after["apt"], built["apt"], "nothing changed for dpkg");
}

/// `docker build` (the engine's own builder, nothing of rtlock) of DIR/Dockerfile as
/// `tag`, on the host's network (the bed's indexes listen on 127.0.0.1), never from the
/// engine's build cache: each step runs, as on a fresh machine.
fn docker_build(context: &Path, tag: &str) -> Output {
    docker(&[
        "build",
        "--no-cache",
        "--network",
        "host",
        "-t",
        tag,
        context.to_str().unwrap(),
    ])
}

/// The parts of an image's config the lock decides, as `docker inspect` shows them.
fn inspected_config(tag: &str) -> Value {
    let out = ok(
        "docker inspect",
        docker(&["image", "inspect", "--format", "{{json .Config}}", tag]),
    );
    let config: Value = serde_json::from_str(&out).unwrap();
    json!({
        "Env": config["Env"],
        "Labels": config["Labels"],
        "User": config["User"],
        "WorkingDir": config["WorkingDir"],
        "Entrypoint": config["Entrypoint"],
        "Cmd": config["Cmd"],
    })
}

/// The exported Dockerfile, built by plain `docker build` from a directory holding only
/// it, gives an image that audits as a match of the lock (apt, pip: every file of every
/// package compared) with the config `rtlock build` gives: what a team without rtlock in
/// its pipeline gets from the same lock.
#[test]
fn docker_build_of_the_exported_dockerfile_matches_the_lock() {
    let bed = testbed();
    let index = PipIndex::start(&[exact("idna", &["3.7"]), exact("urllib3", &["2.2.2"])]);
    index.ensure_all_bodies();
    let (dir, cache) = locked(&format!(
        "[base]\nimage = \"{}\"\n[apt]\npackages = [\"jq\"]\n\
             [pip]\npackages = [\"idna==3.7\", \"urllib3==2.2.2\"]\nindex-url = \"{}\"\n\
             [image]\nenv = {{ TZ = \"UTC\", GREETING = \"say \\\"hi\\\" to $USER\" }}\n\
             labels = {{ \"com.example.team\" = \"data platform\" }}\n\
             user = \"1000:1000\"\nworkdir = \"/srv/work\"\ncmd = [\"python3\"]\n",
        bed.image_python,
        index.url()
    ));
    let context = dir.path().join("context");
    std::fs::create_dir(&context).unwrap();
    let exported = rtlock(
        dir.path(),
        &cache,
        &["export", "dockerfile", "-o", "context/Dockerfile"],
    );
    succeed("export dockerfile", exported);
    let text = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
    assert!(text.contains("# rtlock-requested apt: jq"), "{text}");
    assert!(text.contains("# rtlock-requested pip: idna"), "{text}");
    assert!(text.contains("# rtlock-requested pip: urllib3"), "{text}");
    // What jq pulls in is installed from its file, but not marked requested.
    assert!(
        text.contains("/libjq1_") && !text.contains("requested apt: libjq1"),
        "{text}"
    );

    let id = std::process::id();
    let (exported_tag, built_tag) = (
        format!("rtlock-dockerfile-test:{id}"),
        format!("rtlock-dockerfile-test:{id}-rtlock"),
    );
    let _cleanup = Cleanup(vec![vec![
        "rmi".into(),
        "-f".into(),
        exported_tag.clone(),
        built_tag.clone(),
    ]]);
    ok("docker build", docker_build(&context, &exported_tag));
    let (code, audited) = audit(dir.path(), &cache, &format!("docker-daemon:{exported_tag}"));
    assert_eq!(code, 0, "{audited:#}");
    assert_eq!(audited["status"], "match");
    // jq, libjq1 and libonig5 with every file; idna and urllib3 with their RECORDs.
    assert!(
        audited["checked"]["pip"]["files"].as_u64().unwrap() > 20,
        "{audited:#}"
    );

    succeed(
        "build",
        rtlock(
            dir.path(),
            &cache,
            &["build", "-o", &format!("docker-daemon:{built_tag}")],
        ),
    );
    let (_, built) = audit(dir.path(), &cache, &format!("docker-daemon:{built_tag}"));
    assert_eq!(audited["checked"]["apt"], built["checked"]["apt"]);
    assert_eq!(
        audited["checked"]["pip"]["packages"],
        built["checked"]["pip"]["packages"]
    );
    assert_eq!(
        inspected_config(&exported_tag),
        inspected_config(&built_tag)
    );
}

/// R packages from the exported Dockerfile: downloaded and checked by sha256, installed
/// by `install.packages(FILES, repos = NULL)` in dependency order (rlang before
/// ellipsis); the image audits as a match. A tarball that is not the lock's
/// stops `docker build`.
#[test]
fn docker_build_installs_the_r_packages_of_the_exported_dockerfile() {
    let cran = common::cran::CranRepo::serve_copy();
    let (dir, cache) = locked(&common::cran::small_r_manifest(&cran));
    let context = dir.path().join("context");
    std::fs::create_dir(&context).unwrap();
    succeed(
        "export dockerfile",
        rtlock(
            dir.path(),
            &cache,
            &["export", "dockerfile", "-o", "context/Dockerfile"],
        ),
    );
    let text = std::fs::read_to_string(context.join("Dockerfile")).unwrap();
    // ellipsis needs rlang: rlang's file is fetched and installed first.
    let (rlang, ellipsis) = (
        text.find("/rlang_").unwrap(),
        text.find("/ellipsis_").unwrap(),
    );
    assert!(rlang < ellipsis, "{text}");
    let tag = format!("rtlock-dockerfile-test:{}-r", std::process::id());
    let bad_tag = format!("{tag}-bad");
    let _cleanup = Cleanup(vec![vec![
        "rmi".into(),
        "-f".into(),
        tag.clone(),
        bad_tag.clone(),
    ]]);
    ok("docker build", docker_build(&context, &tag));
    let (code, audited) = audit(dir.path(), &cache, &format!("docker-daemon:{tag}"));
    assert_eq!(code, 0, "{audited:#}");
    let installed = common::cli::run_in(
        &tag,
        &[],
        "Rscript -e 'for (p in c(\"R6\", \"rlang\", \"ellipsis\")) cat(p, as.character(packageVersion(p)), \"\\n\")'",
    );
    let installed: BTreeSet<&str> = installed.lines().map(str::trim).collect();
    let lock = rtlock::lockfile::Lockfile::read(&dir.path().join("runtime.lock")).unwrap();
    assert_eq!(lock.r.len(), 3, "R6, ellipsis and rlang: {:?}", lock.r);
    for p in &lock.r {
        assert!(
            installed.contains(format!("{} {}", p.name, p.version).as_str()),
            "{} {} is not installed: {installed:?}",
            p.name,
            p.version
        );
    }

    // The repository now serves another file under R6's name: the build stops.
    let r6 = lock.r.iter().find(|p| p.name == "R6").unwrap();
    let served = cran
        .contrib()
        .join(rtlock::lockfile::url_file_name(&r6.url).unwrap());
    let mut bytes = std::fs::read(&served).unwrap();
    bytes.extend_from_slice(b"\0");
    std::fs::write(&served, bytes).unwrap();
    let out = docker_build(&context, &bad_tag);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("Hash Sum mismatch"), "{log}");
}
