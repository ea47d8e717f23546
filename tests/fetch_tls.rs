//! HTTPS trust: a server whose certificate comes from a private CA (as behind a
//! TLS-intercepting proxy) is trusted exactly when `SSL_CERT_FILE` or `SSL_CERT_DIR`
//! names that CA. Each case runs rtlock as a child process, so each gets its own
//! environment.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::server::StaticServer;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rtlock::fetch::sha256_hex;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test CA (PEM) and a leaf for 127.0.0.1 that it signed (DER chain and key).
fn private_ca() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rtlock test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    (ca_cert.pem(), vec![leaf_cert.der().clone()], key)
}

struct Fixture {
    dir: tempfile::TempDir,
    srv: StaticServer,
    ca_pem: String,
    content: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        std::fs::create_dir_all(&served).unwrap();
        let content = b"a wheel behind a private CA".to_vec();
        std::fs::write(served.join("t-1.0-py3-none-any.whl"), &content).unwrap();
        let (ca_pem, chain, key) = private_ca();
        let srv = StaticServer::start_tls(&served, chain, key);
        assert_eq!(srv.base_url().scheme(), "https");

        let lock = format!(
            "version = 1\n\
             manifest = \"sha256:{m}\"\n\
             source-date-epoch = 0\n\n\
             [base]\n\
             reference = \"127.0.0.1:5000/test/base:1\"\n\
             digest = \"sha256:{m}\"\n\
             manifest = \"sha256:{m}\"\n\
             platform = \"linux/amd64\"\n\n\
             [[pip]]\n\
             name = \"t\"\n\
             version = \"1.0\"\n\
             file = \"t-1.0-py3-none-any.whl\"\n\
             url = \"{url}\"\n\
             sha256 = \"{sha}\"\n\
             size = {size}\n",
            m = "4".repeat(64),
            url = srv.url("t-1.0-py3-none-any.whl"),
            sha = sha256_hex(&content),
            size = content.len(),
        );
        std::fs::write(dir.path().join("runtime.lock"), lock).unwrap();
        Fixture {
            dir,
            srv,
            ca_pem,
            content,
        }
    }

    /// `rtlock fetch` with no certificate variables but the ones given.
    fn fetch(&self, env: &[(&str, &Path)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rtlock"));
        command
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("fetch")
            .arg("-l")
            .arg(self.dir.path().join("runtime.lock"))
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .env_remove("RTLOCK_OFFLINE")
            .env_remove("RTLOCK_CACHE_DIR")
            .stdin(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        command.output().unwrap()
    }

    fn cached(&self) -> bool {
        let sha = sha256_hex(&self.content);
        let blob = self
            .dir
            .path()
            .join("cache/blobs/sha256")
            .join(&sha[..2])
            .join(&sha);
        std::fs::read(blob).is_ok_and(|bytes| bytes == self.content)
    }
}

#[test]
fn a_private_ca_is_not_trusted_by_default_and_fails_without_retries() {
    let fx = Fixture::new();
    let output = fx.fetch(&[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not trusted"), "{stderr}");
    assert!(stderr.contains("SSL_CERT_FILE"), "{stderr}");
    // Another attempt cannot fix a missing trust anchor.
    assert!(!stderr.contains("retrying"), "{stderr}");
    assert_eq!(fx.srv.total_requests(), 0);
    assert!(!fx.cached());
}

#[test]
fn ssl_cert_file_makes_the_private_ca_trusted() {
    let fx = Fixture::new();
    let ca = fx.dir.path().join("ca.pem");
    std::fs::write(&ca, &fx.ca_pem).unwrap();
    let output = fx.fetch(&[("SSL_CERT_FILE", &ca)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(fx.srv.total_requests(), 1);
    assert!(fx.cached());
}

#[test]
fn ssl_cert_dir_makes_the_private_ca_trusted() {
    let fx = Fixture::new();
    let certs = fx.dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("test-ca.pem"), &fx.ca_pem).unwrap();
    let output = fx.fetch(&[("SSL_CERT_DIR", &certs)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(fx.cached());
}
