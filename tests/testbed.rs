//! Smoke tests of the test bed itself: each service is what `.testbed/env` says it is.
//! They talk to the bed with the peers (curl, skopeo, docker), never with rtlock's code.

mod common;

use common::testbed::{curl, docker, host_oci_arch, ok, skopeo, split_oci, testbed};

/// HTTP status and headers of `GET URL` with extra curl arguments.
fn get(url: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["-o", "/dev/null", "-D", "-", "-w", "%{http_code}"];
    args.extend_from_slice(extra);
    args.push(url);
    let out = ok(&format!("curl {url}"), curl(&args));
    let (headers, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (code.trim().to_string(), headers.to_ascii_lowercase())
}

fn inspect(reference: &str, extra: &[&str], format: &str) -> String {
    let mut args = vec!["inspect", "--format", format];
    args.extend_from_slice(extra);
    args.push(reference);
    ok(&format!("skopeo inspect {reference}"), skopeo(&args))
}

fn inspect_plain(image: &str, format: &str) -> String {
    inspect(
        &format!("docker://{image}"),
        &["--tls-verify=false"],
        format,
    )
}

/// `docker pull` from the plain registry (127.0.0.0/8 registries are insecure-allowed by
/// Docker by default), then `docker run --rm IMAGE CMD…`.
fn run_in(image: &str, cmd: &[&str]) -> std::process::Output {
    ok(
        &format!("docker pull {image}"),
        docker(&["pull", "-q", image]),
    );
    let mut args = vec!["run", "--rm", "--network", "none", image];
    args.extend_from_slice(cmd);
    docker(&args)
}

#[test]
fn plain_registry_answers_v2_without_auth() {
    let bed = testbed();
    let (code, headers) = get(&format!("http://{}/v2/", bed.registry), &[]);
    assert_eq!(
        code, "200",
        "GET /v2/ of the plain registry; headers:\n{headers}"
    );
    assert!(
        headers.contains("docker-distribution-api-version: registry/2.0"),
        "{headers}"
    );
}

#[test]
fn tls_registry_refuses_anonymous_access() {
    let bed = testbed();
    let ca = bed.ca.to_str().unwrap();
    let (code, headers) = get(
        &format!("https://{}/v2/", bed.registry_tls),
        &["--cacert", ca],
    );
    assert_eq!(
        code, "401",
        "anonymous GET /v2/ of the TLS registry; headers:\n{headers}"
    );
    assert!(headers.contains("www-authenticate: basic"), "{headers}");
    let wrong = format!("{}:not-the-password", bed.registry_user);
    let (code, _) = get(
        &format!("https://{}/v2/", bed.registry_tls),
        &["--cacert", ca, "-u", &wrong],
    );
    assert_eq!(code, "401", "a wrong password must be refused");
}

#[test]
fn tls_registry_accepts_the_credentials_with_the_test_ca() {
    let bed = testbed();
    let url = format!("https://{}/v2/", bed.registry_tls);
    let creds = bed.creds();
    for ca in [&bed.ca, &bed.ca_bundle] {
        let (code, _) = get(&url, &["--cacert", ca.to_str().unwrap(), "-u", &creds]);
        assert_eq!(
            code,
            "200",
            "GET /v2/ with the credentials, trusting {}",
            ca.display()
        );
    }
    for name in ["localhost", "127.0.0.1"] {
        let url = format!(
            "https://{name}:{}/v2/",
            bed.registry_tls.rsplit_once(':').unwrap().1
        );
        let (code, _) = get(&url, &["--cacert", bed.ca.to_str().unwrap(), "-u", &creds]);
        assert_eq!(code, "200", "the certificate must hold {name}");
    }
    // Without the test CA the certificate must not verify: TLS is real, not decorative.
    let out = curl(&[
        "-o",
        "/dev/null",
        "--cacert",
        "/etc/ssl/certs/ca-certificates.crt",
        "-u",
        &creds,
        &url,
    ]);
    assert_eq!(
        out.status.code(),
        Some(60),
        "curl without the test CA: {out:?}"
    );
}

#[test]
fn docker_config_holds_the_tls_registry_credentials() {
    let bed = testbed();
    let config = bed.docker_config.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(&format!("\"{}\"", bed.registry_tls)),
        "{text}"
    );
    // skopeo reads the same auths format.
    let image = format!(
        "docker://{}/rtlock-test/debian-minimal:{}",
        bed.registry_tls, bed.debian_suite
    );
    let cert_dir = bed.ca_cert_dir();
    let arch = inspect(
        &image,
        &[
            "--authfile",
            config.to_str().unwrap(),
            "--cert-dir",
            cert_dir.to_str().unwrap(),
        ],
        "{{.Architecture}}",
    );
    assert_eq!(arch, host_oci_arch());
}

#[test]
fn both_images_are_in_the_plain_registry_for_this_platform() {
    let bed = testbed();
    let want = format!("linux/{}", host_oci_arch());
    for image in [&bed.image_minimal, &bed.image_python] {
        assert_eq!(
            inspect_plain(image, "{{.Os}}/{{.Architecture}}"),
            want,
            "{image}"
        );
        assert!(
            image.starts_with(&format!("{}/rtlock-test/", bed.registry)),
            "{image}"
        );
        assert!(
            image.ends_with(&format!(":{}", bed.debian_suite)),
            "{image}"
        );
    }
}

#[test]
fn tls_registry_and_oci_layouts_hold_the_same_images() {
    let bed = testbed();
    let cert_dir = bed.ca_cert_dir();
    let creds = bed.creds();
    for (image, oci, name) in [
        (&bed.image_minimal, &bed.image_minimal_oci, "debian-minimal"),
        (&bed.image_python, &bed.image_python_oci, "debian-python"),
    ] {
        let plain = inspect_plain(image, "{{.Digest}}");
        assert!(plain.starts_with("sha256:"), "{plain}");
        let tls_ref = format!(
            "docker://{}/rtlock-test/{name}:{}",
            bed.registry_tls, bed.debian_suite
        );
        let tls = inspect(
            &tls_ref,
            &["--creds", &creds, "--cert-dir", cert_dir.to_str().unwrap()],
            "{{.Digest}}",
        );
        assert_eq!(tls, plain, "{name}: TLS registry and plain registry");
        let (path, _) = split_oci(oci);
        assert!(
            std::path::Path::new(path).join("index.json").is_file(),
            "{oci} is an OCI layout"
        );
        let layout = inspect(&format!("oci:{oci}"), &[], "{{.Digest}}");
        assert_eq!(layout, plain, "{name}: cached OCI layout and registry");
    }
}

#[test]
fn python_image_is_the_minimal_layer_plus_one() {
    let bed = testbed();
    let minimal = inspect_plain(&bed.image_minimal, "{{range .Layers}}{{.}} {{end}}");
    let python = inspect_plain(&bed.image_python, "{{range .Layers}}{{.}} {{end}}");
    let minimal: Vec<&str> = minimal.split_whitespace().collect();
    let python: Vec<&str> = python.split_whitespace().collect();
    assert_eq!(minimal.len(), 1, "minimal layers: {minimal:?}");
    assert_eq!(python.len(), 2, "python layers: {python:?}");
    assert_eq!(
        python[0], minimal[0],
        "the python image must start with the minimal layer"
    );
}

#[test]
fn python_image_runs_python3() {
    let bed = testbed();
    let out = ok(
        "python3 --version",
        run_in(&bed.image_python, &["python3", "--version"]),
    );
    assert!(out.starts_with("Python 3."), "{out}");
    let out = ok(
        "pip --version",
        run_in(&bed.image_python, &["python3", "-m", "pip", "--version"]),
    );
    assert!(out.starts_with("pip "), "{out}");
}

#[test]
fn minimal_image_is_minbase_with_its_own_apt_sources() {
    let bed = testbed();
    let sources = ok(
        "cat sources.list",
        run_in(&bed.image_minimal, &["cat", "/etc/apt/sources.list"]),
    );
    let want = format!("deb {} {} main", bed.debian_mirror, bed.debian_suite);
    assert!(
        sources.lines().any(|l| l.trim() == want),
        "want {want:?} in:\n{sources}"
    );
    let out = run_in(&bed.image_minimal, &["dpkg-query", "-W", "python3"]);
    assert!(
        !out.status.success(),
        "python3 must not be in the minimal image"
    );
    let out = ok(
        "dpkg-query apt",
        run_in(
            &bed.image_minimal,
            &["dpkg-query", "-W", "-f", "${Status}", "apt"],
        ),
    );
    assert_eq!(out, "install ok installed");
    let lists = ok(
        "ls lists",
        run_in(&bed.image_minimal, &["ls", "/var/lib/apt/lists"]),
    );
    assert_eq!(lists, "partial", "apt lists must be cleaned from the image");
}
