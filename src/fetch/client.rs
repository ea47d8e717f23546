//! The one HTTP client: rustls (ring) trusting the system store plus `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`, with timeouts that catch dead peers but never cut a slow, healthy
//! download short.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;

use super::FetchError;

/// How long to wait for a TCP + TLS connection before calling it a transient failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a single read may stall. This is per read, not per transfer: a 2 GB layer on
/// a slow link must finish, a connection that went silent must not hang the build.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the client shared by every fetch of the process.
///
/// No total timeout (see [`READ_TIMEOUT`]), no transparent decompression: rtlock hashes
/// the bytes as the server stores them (a `.gz` index is pinned as `.gz`), so the
/// client must never announce `Accept-Encoding` or decode a body. reqwest does neither
/// unless its gzip/brotli/zstd features are enabled, and this crate enables none.
pub fn build_client() -> Result<reqwest::Client, FetchError> {
    let env = CertEnv::from_env();
    let roots = trusted_roots(&env);
    tracing::debug!(
        "trusting {} CA certificates (system store{})",
        roots.store.len(),
        if env.is_empty() {
            ""
        } else {
            " plus SSL_CERT_FILE/SSL_CERT_DIR"
        }
    );
    for warning in &roots.warnings {
        tracing::warn!("{warning}");
    }
    if roots.store.is_empty() {
        tracing::warn!(
            "no trusted TLS root certificates were found; https downloads will fail \
             (install the system CA certificates, or set SSL_CERT_FILE)"
        );
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Client(e.to_string()))?
        .with_root_certificates(roots.store)
        .with_no_client_auth();
    // A preconfigured config is used as is: without ALPN the client could never speak
    // HTTP/2, which registries and CDNs prefer.
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .user_agent(concat!("rtlock/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| FetchError::Client(e.to_string()))
}

/// The certificate locations named by the environment, as OpenSSL reads them.
#[derive(Debug, Default, Clone)]
pub(crate) struct CertEnv {
    /// `SSL_CERT_FILE`: a PEM bundle.
    pub file: Option<PathBuf>,
    /// `SSL_CERT_DIR`: directories of PEM files (`:`-separated on Unix).
    pub dirs: Vec<PathBuf>,
}

impl CertEnv {
    pub fn from_env() -> Self {
        let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        CertEnv {
            file: non_empty("SSL_CERT_FILE").map(PathBuf::from),
            dirs: non_empty("SSL_CERT_DIR")
                .map(|dirs| std::env::split_paths(&dirs).collect())
                .unwrap_or_default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.file.is_none() && self.dirs.is_empty()
    }
}

/// The trust anchors, and what went wrong while collecting them.
pub(crate) struct Roots {
    pub store: RootCertStore,
    pub warnings: Vec<String>,
}

/// The system store **plus** the certificates that the environment names.
///
/// `rustls_native_certs::load_native_certs` reads `SSL_CERT_FILE`/`SSL_CERT_DIR`
/// *instead of* the system store when they are set. That is the wrong trade for rtlock:
/// behind a TLS-intercepting proxy one sets `SSL_CERT_FILE` to the proxy's CA, and
/// hosts the proxy lets through untouched must still verify against the system store.
/// So both are loaded, and the union is trusted.
pub(crate) fn trusted_roots(env: &CertEnv) -> Roots {
    let mut certs: Vec<CertificateDer<'static>> = Vec::new();
    let mut warnings = Vec::new();

    let system = system_certs(env);
    certs.extend(system.certs);
    warnings.extend(
        system
            .errors
            .iter()
            .map(|e| format!("while loading the system CA certificates: {e}")),
    );

    if let Some(file) = &env.file {
        let loaded = rustls_native_certs::load_certs_from_paths(Some(file), None);
        if loaded.certs.is_empty() && loaded.errors.is_empty() {
            warnings.push(format!(
                "SSL_CERT_FILE={} holds no PEM certificate",
                file.display()
            ));
        }
        certs.extend(loaded.certs);
        warnings.extend(
            loaded
                .errors
                .iter()
                .map(|e| format!("SSL_CERT_FILE={}: {e}", file.display())),
        );
    }
    for dir in &env.dirs {
        let loaded = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        certs.extend(loaded.certs);
        warnings.extend(
            loaded
                .errors
                .iter()
                .map(|e| format!("SSL_CERT_DIR entry {}: {e}", dir.display())),
        );
    }

    let mut store = RootCertStore::empty();
    // Bundles carry the odd expired or malformed certificate; skip those, trust the rest.
    let (_added, ignored) = store.add_parsable_certificates(certs);
    if ignored > 0 {
        tracing::debug!("ignored {ignored} unparsable CA certificate(s)");
    }
    Roots { store, warnings }
}

/// The operating system's own trust store, whatever the environment says.
#[cfg(all(unix, not(target_os = "macos")))]
fn system_certs(_env: &CertEnv) -> rustls_native_certs::CertificateResult {
    // The directories OpenSSL would look in (e.g. /etc/ssl/certs, /etc/pki/tls/certs).
    // They hold every system CA (one file each, or a bundle), and reading them directly
    // sidesteps load_native_certs' "environment replaces system" rule.
    let mut all = rustls_native_certs::CertificateResult::default();
    for dir in openssl_probe::candidate_cert_dirs() {
        let loaded = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        all.certs.extend(loaded.certs);
        all.errors.extend(loaded.errors);
    }
    all
}

/// The operating system's own trust store (keychain, Windows store).
#[cfg(not(all(unix, not(target_os = "macos"))))]
fn system_certs(env: &CertEnv) -> rustls_native_certs::CertificateResult {
    if env.is_empty() {
        rustls_native_certs::load_native_certs()
    } else {
        // load_native_certs would return the environment's certificates again instead of
        // the platform store; those are loaded by the caller, so only note the limitation.
        tracing::debug!(
            "SSL_CERT_FILE/SSL_CERT_DIR set: the platform store is not consulted on this OS"
        );
        rustls_native_certs::CertificateResult::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed_pem() -> String {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        cert.cert.pem()
    }

    #[test]
    fn ssl_cert_file_is_added_to_the_system_store() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("extra-ca.pem");
        std::fs::write(&pem, self_signed_pem()).unwrap();

        let system_only = trusted_roots(&CertEnv::default());
        let with_file = trusted_roots(&CertEnv {
            file: Some(pem),
            dirs: Vec::new(),
        });
        assert!(with_file.warnings.is_empty(), "{:?}", with_file.warnings);
        assert_eq!(with_file.store.len(), system_only.store.len() + 1);
    }

    #[test]
    fn ssl_cert_dir_is_added_to_the_system_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.pem"), self_signed_pem()).unwrap();
        std::fs::write(dir.path().join("b.pem"), self_signed_pem()).unwrap();

        let system_only = trusted_roots(&CertEnv::default());
        let with_dir = trusted_roots(&CertEnv {
            file: None,
            dirs: vec![dir.path().to_path_buf()],
        });
        assert_eq!(with_dir.store.len(), system_only.store.len() + 2);
    }

    #[test]
    fn an_empty_ssl_cert_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("empty.pem");
        std::fs::write(&pem, "not a certificate\n").unwrap();
        let roots = trusted_roots(&CertEnv {
            file: Some(pem),
            dirs: Vec::new(),
        });
        assert!(
            roots
                .warnings
                .iter()
                .any(|w| w.contains("no PEM certificate")),
            "{:?}",
            roots.warnings
        );
    }
}
