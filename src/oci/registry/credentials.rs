//! Registry credentials where Docker keeps them: `config.json` in `DOCKER_CONFIG` (else
//! `~/.docker`), its `auths`, and the credential helpers it names (`credsStore` for every
//! registry, `credHelpers` per registry), run as `docker-credential-<name> get`.
//!
//! rtlock reads credentials and never writes them. Logging in is `docker login`'s job, and
//! users already have their secrets where Docker put them.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use super::RegistryError;
use crate::oci::reference::DOCKER_HUB;

/// A secret for one registry. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A user name and password (or personal access token), sent as HTTP Basic
    /// credentials to the registry or its token service.
    Password { username: String, password: String },
    /// An OAuth2 refresh token (`identitytoken`) that the token service exchanges for
    /// access tokens.
    IdentityToken { username: String, token: String },
}

impl Secret {
    pub fn username(&self) -> &str {
        match self {
            Secret::Password { username, .. } | Secret::IdentityToken { username, .. } => username,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Secret::IdentityToken { username, .. } => f
                .debug_struct("IdentityToken")
                .field("username", username)
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}

/// A secret and where it came from (for error messages: "user `x` (from …)").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub secret: Secret,
    /// e.g. `/home/u/.docker/config.json` or `docker-credential-pass`.
    pub source: String,
}

/// The parts of `config.json` that concern registry credentials.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

/// One `auths` entry (its `Debug` shows nothing of it).
#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(<redacted>)")
    }
}

/// Docker's credential configuration, read once per process.
#[derive(Debug, Default)]
pub struct CredentialStore {
    /// The `config.json` read (or looked for), for messages.
    path: PathBuf,
    config: ConfigFile,
}

impl CredentialStore {
    /// Reads `<dir>/config.json`, where `dir` is `explicit`, else `$DOCKER_CONFIG`, else
    /// `~/.docker`. A missing file means no credentials; a file that does not parse is an
    /// error (Docker refuses it too, and silently ignoring it would turn a typo into a
    /// confusing "authentication required").
    pub fn load(explicit: Option<&Path>) -> Result<CredentialStore, RegistryError> {
        let dir = match explicit {
            Some(dir) => Some(dir.to_path_buf()),
            None => std::env::var_os("DOCKER_CONFIG")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))),
        };
        let Some(dir) = dir else {
            return Ok(CredentialStore::default());
        };
        let path = dir.join("config.json");
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(CredentialStore {
                    path,
                    config: ConfigFile::default(),
                });
            }
            Err(source) => return Err(RegistryError::Io { path, source }),
        };
        let config = serde_json::from_slice(&text).map_err(|e| RegistryError::Credentials {
            source_of: path.display().to_string(),
            // Only the position: serde's messages can quote values, and values here are
            // secrets.
            problem: format!(
                "it is not a valid Docker config file (line {}, column {})",
                e.line(),
                e.column()
            ),
        })?;
        Ok(CredentialStore { path, config })
    }

    /// Where credentials were looked for, for "no credentials found in …" messages.
    pub fn describe(&self) -> String {
        if self.path.as_os_str().is_empty() {
            "the Docker config (no DOCKER_CONFIG and no home directory)".to_string()
        } else {
            self.path.display().to_string()
        }
    }

    /// The credentials for `registry` (`host[:port]`, as in a reference), if any.
    ///
    /// As Docker: a helper named for the registry in `credHelpers` wins, then the
    /// `credsStore` helper, then the `auths` entry. A helper that has nothing for the
    /// registry is not an error; one that fails is. Blocking (it may run a program).
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let helper = self
            .config
            .cred_helpers
            .iter()
            .find(|(key, _)| same_registry(key, registry))
            .map(|(_, helper)| helper)
            .or(self.config.creds_store.as_ref())
            .filter(|helper| !helper.is_empty());
        if let Some(helper) = helper
            && let Some(found) = run_helper(helper, &server_url(registry))?
        {
            return Ok(Some(found));
        }
        let entry = self
            .config
            .auths
            .iter()
            .find(|(key, _)| same_registry(key, registry))
            .map(|(_, entry)| entry);
        match entry {
            Some(entry) => self.credentials_of(entry),
            None => Ok(None),
        }
    }

    fn credentials_of(&self, entry: &AuthEntry) -> Result<Option<Credentials>, RegistryError> {
        let source = self.path.display().to_string();
        let (mut username, mut password) = (entry.username.clone(), entry.password.clone());
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = BASE64
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| RegistryError::Credentials {
                    source_of: source.clone(),
                    problem: "an `auth` value is not base64 of `user:password`".into(),
                })?;
            let (user, pass) =
                decoded
                    .split_once(':')
                    .ok_or_else(|| RegistryError::Credentials {
                        source_of: source.clone(),
                        problem: "an `auth` value does not hold `user:password`".into(),
                    })?;
            username = Some(user.to_string());
            password = Some(pass.to_string());
        }
        let username = username.unwrap_or_default();
        let secret = match (&entry.identitytoken, password) {
            (Some(token), _) if !token.is_empty() => Secret::IdentityToken {
                username,
                token: token.clone(),
            },
            (_, Some(password)) if !username.is_empty() || !password.is_empty() => {
                Secret::Password { username, password }
            }
            _ => return Ok(None),
        };
        Ok(Some(Credentials { secret, source }))
    }
}

/// The name Docker files a registry's credentials under: its host, except the default
/// registry's historical `https://<legacy>/v1/`.
pub(crate) fn server_url(registry: &str) -> String {
    if registry == DOCKER_HUB.name {
        format!("https://{}/v1/", DOCKER_HUB.legacy_name)
    } else {
        registry.to_string()
    }
}

/// Whether a `config.json` key (`host`, `https://host`, `https://host/v1/`, …) names
/// `registry`.
fn same_registry(key: &str, registry: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    let canonical = |h: &str| -> String {
        let h = h.to_ascii_lowercase();
        if h == DOCKER_HUB.legacy_name || h == DOCKER_HUB.api_host {
            DOCKER_HUB.name.to_string()
        } else {
            h
        }
    };
    canonical(host) == canonical(registry)
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The user name helpers report for an identity token instead of a password.
const HELPER_TOKEN_USER: &str = "<token>";

/// Runs `docker-credential-<helper> get` with the server URL on standard input.
///
/// The helper's output is never put into an error (it is the secret); its standard
/// error is, trimmed, since helpers explain failures there.
fn run_helper(helper: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let fail = |problem: String| RegistryError::Credentials {
        source_of: program.clone(),
        problem,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "could not run it ({e}); install it, or remove `{helper}` from credsStore / \
                 credHelpers in the Docker config"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is fine: its answer decides.
        let _ = stdin.write_all(server.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| fail(format!("it did not finish ({e})")))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout).to_ascii_lowercase()
            + &String::from_utf8_lossy(&output.stderr).to_ascii_lowercase();
        if said.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr: String = stderr.trim().chars().take(300).collect();
        return Err(fail(format!(
            "`{program} get` failed ({}){}",
            output.status,
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {stderr}")
            }
        )));
    }
    let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|_| fail("it printed something that is not the JSON Docker expects".into()))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    let secret = if answer.username == HELPER_TOKEN_USER {
        Secret::IdentityToken {
            username: String::new(),
            token: answer.secret,
        }
    } else {
        Secret::Password {
            username: answer.username,
            password: answer.secret,
        }
    };
    Ok(Some(Credentials {
        secret,
        source: program,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> (tempfile::TempDir, CredentialStore) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        let store = CredentialStore::load(Some(dir.path())).unwrap();
        (dir, store)
    }

    #[test]
    fn auths_in_every_spelling() {
        let auth = BASE64.encode("alice:s3cret:with:colons");
        let (_dir, store) = store(&format!(
            r#"{{"auths": {{
                "https://127.0.0.1:5000/v1/": {{"auth": "{auth}"}},
                "localhost:6000": {{"username": "bob", "password": "pw"}},
                "https://{legacy}/v1/": {{"identitytoken": "refresh-me"}}
            }}}}"#,
            legacy = DOCKER_HUB.legacy_name
        ));
        let found = store.lookup("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(
            found.secret,
            Secret::Password {
                username: "alice".into(),
                password: "s3cret:with:colons".into()
            }
        );
        let found = store.lookup("localhost:6000").unwrap().unwrap();
        assert_eq!(found.secret.username(), "bob");
        let found = store.lookup(DOCKER_HUB.name).unwrap().unwrap();
        assert!(matches!(found.secret, Secret::IdentityToken { .. }));
        assert_eq!(store.lookup("127.0.0.1:5001").unwrap(), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let auth = BASE64.encode("alice:hunter2");
        let (_dir, store) = store(&format!(r#"{{"auths":{{"h:1":{{"auth":"{auth}"}}}}}}"#));
        let found = store.lookup("h:1").unwrap().unwrap();
        let shown = format!("{found:?} {store:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&auth), "{shown}");
        assert!(shown.contains("alice"));
    }

    #[test]
    fn a_broken_config_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
        let error = CredentialStore::load(Some(dir.path())).unwrap_err();
        assert!(error.to_string().contains("config.json"), "{error}");
    }

    #[test]
    fn no_config_means_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::load(Some(dir.path())).unwrap();
        assert_eq!(store.lookup("127.0.0.1:5000").unwrap(), None);
    }

    #[test]
    fn server_urls() {
        assert_eq!(server_url("127.0.0.1:5000"), "127.0.0.1:5000");
        assert!(server_url(DOCKER_HUB.name).ends_with("/v1/"));
        assert!(same_registry(DOCKER_HUB.api_host, DOCKER_HUB.name));
        assert!(same_registry("HTTPS://LocalHost:1/", "localhost:1"));
        assert!(!same_registry("localhost:1", "localhost:2"));
    }
}
