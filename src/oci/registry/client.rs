//! Sending one registry request: finding the registry's endpoint (HTTPS, or plain HTTP
//! where allowed) and how it authenticates, attaching credentials or a token for the
//! request's scope, retrying transient failures, and answering a 401 by authenticating
//! again once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, Response, StatusCode};
use url::Url;

use super::RegistryError;
use super::auth::{self, AuthScheme, Scope, Token, TokenRequest};
use super::credentials::{CredentialStore, Credentials, Secret};
use super::error::error_detail;
use crate::fetch::{
    ErrorClass, Failure, Fetcher, classify, is_transient_status, retry_after, with_retries,
};
use crate::oci::reference::{Reference, is_loopback_host};

/// Where a registry's API answers and how it wants to be authenticated.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// `https://host[:port]/` (or `http://` for loopback and insecure registries).
    pub base: Url,
    pub auth: AuthScheme,
}

impl Endpoint {
    /// `<base>/v2/<path>`.
    pub fn url(&self, path: &str) -> Url {
        self.base
            .join(&format!("v2/{path}"))
            .expect("registry paths are valid URL paths")
    }

    /// A `Location` header (absolute, or relative to the registry) as a URL.
    pub fn resolve(&self, location: &str) -> Option<Url> {
        self.base.join(location).ok()
    }
}

/// The state one [`super::Registry`] shares between its clones.
pub(super) struct Inner {
    pub fetcher: Fetcher,
    /// `host[:port]`, lower case: registries allowed over plain HTTP.
    insecure: Vec<String>,
    credentials: Arc<CredentialStore>,
    /// Looked up once per registry (a helper may be slow, or ask the user).
    found_credentials: Mutex<HashMap<String, Option<Credentials>>>,
    endpoints: Mutex<HashMap<String, Endpoint>>,
    tokens: Mutex<HashMap<(String, Scope), Token>>,
    /// Held while a registry is probed or a token fetched, so that the first dozen
    /// parallel layer downloads of an image cause one probe and one token request, not
    /// a dozen of each.
    discovery: tokio::sync::Mutex<()>,
    token_fetch: tokio::sync::Mutex<()>,
}

impl Inner {
    pub fn new(fetcher: Fetcher, insecure: &[String], credentials: CredentialStore) -> Inner {
        Inner {
            fetcher,
            insecure: insecure
                .iter()
                .map(|h| {
                    let h = h.trim().to_ascii_lowercase();
                    let h = h
                        .trim_start_matches("http://")
                        .trim_start_matches("https://");
                    h.trim_end_matches('/').to_string()
                })
                .collect(),
            credentials: Arc::new(credentials),
            found_credentials: Mutex::new(HashMap::new()),
            endpoints: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            discovery: tokio::sync::Mutex::new(()),
            token_fetch: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether plain HTTP may be used for this `host[:port]`.
    pub fn plain_http_ok(&self, registry: &str) -> bool {
        is_loopback_host(registry) || self.insecure.contains(&registry.to_ascii_lowercase())
    }

    fn client(&self, what: &str) -> Result<&reqwest::Client, RegistryError> {
        self.fetcher
            .http_client()
            .ok_or_else(|| RegistryError::Offline {
                what: what.to_string(),
                by_tag: false,
            })
    }

    /// The credentials for `registry`, looked up once (off the async threads: a helper
    /// is a program).
    pub async fn credentials(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        if let Some(found) = self.found_credentials.lock().unwrap().get(registry) {
            return Ok(found.clone());
        }
        let store = Arc::clone(&self.credentials);
        let key = registry.to_string();
        let found = tokio::task::spawn_blocking(move || store.lookup(&key))
            .await
            .expect("the credential lookup does not panic")?;
        self.found_credentials
            .lock()
            .unwrap()
            .insert(registry.to_string(), found.clone());
        Ok(found)
    }

    /// Where the registry of `reference` answers and how it authenticates, from a
    /// `GET /v2/` the first time (cached for the process).
    ///
    /// HTTPS first. Plain HTTP is tried only for loopback registries and the ones listed
    /// as insecure, and only when HTTPS fails: as Docker does, so that a local
    /// `registry:2` works without flags while no remote registry is ever spoken to in
    /// the clear by accident.
    pub async fn endpoint(&self, reference: &Reference) -> Result<Endpoint, RegistryError> {
        let registry = reference.registry.as_str();
        if let Some(endpoint) = self.endpoints.lock().unwrap().get(registry) {
            return Ok(endpoint.clone());
        }
        let _one_at_a_time = self.discovery.lock().await;
        if let Some(endpoint) = self.endpoints.lock().unwrap().get(registry) {
            return Ok(endpoint.clone());
        }
        let client = self.client(&format!("the registry {registry}"))?;
        let host = reference.api_host();
        let https = Url::parse(&format!("https://{host}/")).map_err(|_| {
            RegistryError::Reference(crate::oci::reference::ReferenceError {
                reference: reference.to_string(),
                reason: format!("`{host}` is not a usable host"),
            })
        })?;
        let plain_ok = self.plain_http_ok(registry);
        let http = plain_ok.then(|| {
            let mut url = https.clone();
            url.set_scheme("http").expect("http is a valid scheme");
            url
        });
        let tried = match &http {
            Some(http) => format!("tried {https}v2/ and {http}v2/"),
            None => format!("tried {https}v2/"),
        };

        let probed = with_retries(
            self.fetcher.retry_policy(),
            |_| probe_once(client, &https, http.as_ref()),
            |failure, _, _| {
                if let ProbeFailure::Unreachable(_) = failure {
                    tracing::debug!("registry {registry} not reachable yet; retrying");
                }
            },
        )
        .await;
        let endpoint = match probed.result {
            Ok((base, response)) => endpoint_of(base, &response, registry)?,
            Err(ProbeFailure::NotRegistry(status)) => {
                return Err(RegistryError::Status {
                    registry: registry.to_string(),
                    action: "GET /v2/ (is this a container registry?)".into(),
                    status,
                    detail: None,
                    attempts: probed.attempts,
                });
            }
            Err(ProbeFailure::Certificate(source)) => {
                return Err(RegistryError::Certificate {
                    registry: registry.to_string(),
                    source,
                });
            }
            Err(ProbeFailure::Unreachable(source)) => {
                return Err(RegistryError::Unreachable {
                    registry: registry.to_string(),
                    tried,
                    plain_http_allowed: plain_ok,
                    source,
                });
            }
        };
        tracing::debug!(
            "registry {registry}: {} ({:?})",
            endpoint.base,
            endpoint.auth
        );
        self.endpoints
            .lock()
            .unwrap()
            .insert(registry.to_string(), endpoint.clone());
        Ok(endpoint)
    }

    /// The `Authorization` header for a request to `endpoint` within `scope`, if one is
    /// needed; `refresh` forces a new token.
    pub async fn authorization(
        &self,
        endpoint: &Endpoint,
        reference: &Reference,
        scope: &Scope,
        refresh: bool,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let registry = reference.registry.as_str();
        match &endpoint.auth {
            AuthScheme::Anonymous => Ok(None),
            AuthScheme::Basic => match self.credentials(registry).await? {
                Some(Credentials {
                    secret: Secret::Password { username, password },
                    ..
                }) => Ok(Some(auth::basic_header(&username, &password))),
                Some(Credentials {
                    secret: Secret::IdentityToken { .. },
                    source,
                }) => Err(RegistryError::Credentials {
                    source_of: source,
                    problem: format!(
                        "it holds an identity token for {registry}, which asks for a password \
                         (HTTP Basic); log in again with a password"
                    ),
                }),
                None => Ok(None),
            },
            AuthScheme::Bearer { realm, service } => {
                let key = (registry.to_string(), scope.clone());
                let cached = || {
                    self.tokens
                        .lock()
                        .unwrap()
                        .get(&key)
                        .filter(|token| token.is_fresh())
                        .map(Token::header)
                };
                if !refresh && let Some(header) = cached() {
                    return Ok(Some(header));
                }
                let _one_at_a_time = self.token_fetch.lock().await;
                if !refresh && let Some(header) = cached() {
                    return Ok(Some(header));
                }
                let credentials = self.credentials(registry).await?;
                let client = self.client(&format!("a token for {registry}"))?;
                let plain_http_ok = |url: &Url| {
                    url.host_str()
                        .is_some_and(|host| self.plain_http_ok(&host_port(host, url.port())))
                };
                let token = auth::fetch_token(
                    client,
                    TokenRequest {
                        registry,
                        realm,
                        service: service.as_deref(),
                        scope,
                        credentials: credentials.as_ref(),
                        plain_http_ok: &plain_http_ok,
                        retry: self.fetcher.retry_policy(),
                    },
                )
                .await?;
                let header = token.header();
                self.tokens.lock().unwrap().insert(key, token);
                Ok(Some(header))
            }
        }
    }

    /// The error for a request the registry still refuses after authenticating anew:
    /// no credentials (log in), credentials without the permission (a token service
    /// answers `insufficient_scope`), or credentials it does not accept.
    pub async fn unauthorized(
        &self,
        reference: &Reference,
        insufficient_scope: bool,
        verb: &'static str,
    ) -> RegistryError {
        let registry = reference.registry.clone();
        match self.credentials(&registry).await {
            Ok(Some(credentials)) if insufficient_scope => RegistryError::Denied {
                registry,
                repository: reference.repository.clone(),
                who: format!("user `{}`", credentials.secret.username()),
                verb,
                detail: None,
            },
            Ok(Some(credentials)) => RegistryError::CredentialsRejected {
                registry,
                user: credentials.secret.username().to_string(),
                source_of: credentials.source,
            },
            Ok(None) => RegistryError::NoCredentials {
                registry,
                repository: reference.repository.clone(),
                config: self.credentials.describe(),
            },
            Err(error) => error,
        }
    }

    /// Sends a request built by `build` (called again for each attempt, so bodies can be
    /// streams) with the authorization `scope` needs.
    ///
    /// Transient failures (connection errors, 408, 429, 5xx) are retried by the
    /// fetcher's policy; a 401 makes one more attempt with fresh authentication (an
    /// expired token, or a challenge that differs from the one `/v2/` gave) and is then
    /// an error. Any other status is returned for the caller to judge.
    pub async fn send(
        &self,
        reference: &Reference,
        scope: &Scope,
        action: &str,
        build: impl Fn(&reqwest::Client, &Endpoint) -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let client = self.client(action)?;
        // Shared by the attempts: the endpoint (its scheme may change on a 401), and
        // whether authentication was renewed already (then a 401 is final).
        let endpoint = Mutex::new(self.endpoint(reference).await?);
        let refreshed = AtomicBool::new(false);
        let sent = with_retries(
            self.fetcher.retry_policy(),
            |_| self.send_once(client, reference, scope, &build, &endpoint, &refreshed),
            |failure, delay, _| match failure {
                SendFailure::Answer(response) => tracing::warn!(
                    "{action}: {} answered {}; retrying in {:.1} s",
                    reference.registry,
                    response.status(),
                    delay.as_secs_f64()
                ),
                SendFailure::Network(error) => tracing::warn!(
                    "{action}: {error}; retrying in {:.1} s",
                    delay.as_secs_f64()
                ),
                SendFailure::Registry(_) => {}
            },
        )
        .await;
        match sent.result {
            // Still a transient status after the last attempt: the caller judges it.
            Ok(response) | Err(SendFailure::Answer(response)) => Ok(response),
            Err(SendFailure::Network(source)) => Err(RegistryError::Network {
                registry: reference.registry.clone(),
                action: action.to_string(),
                attempts: sent.attempts,
                source,
            }),
            Err(SendFailure::Registry(error)) => Err(error),
        }
    }

    /// One attempt of [`Inner::send`]: the request with the authorization `scope` needs,
    /// sent again with fresh authentication if the registry answers 401 and
    /// `refreshed` is not yet set (it is then, for the attempts to come). A challenge
    /// that differs from the endpoint's scheme replaces it.
    async fn send_once(
        &self,
        client: &reqwest::Client,
        reference: &Reference,
        scope: &Scope,
        build: &impl Fn(&reqwest::Client, &Endpoint) -> Result<RequestBuilder, RegistryError>,
        endpoint: &Mutex<Endpoint>,
        refreshed: &AtomicBool,
    ) -> Result<Response, Failure<SendFailure>> {
        let permanent = |error| Failure::Permanent(SendFailure::Registry(error));
        loop {
            let current = endpoint.lock().unwrap().clone();
            let refresh = refreshed.load(Ordering::Relaxed);
            let authorization = self
                .authorization(&current, reference, scope, refresh)
                .await
                .map_err(permanent)?;
            let mut request = build(client, &current).map_err(permanent)?;
            if let Some(value) = authorization {
                request = request.header(AUTHORIZATION, value);
            }
            let error = match request.send().await {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    if refresh {
                        let insufficient = challenges(&response).iter().any(|c| {
                            c.params
                                .get("error")
                                .is_some_and(|e| e == "insufficient_scope")
                        });
                        return Err(permanent(
                            self.unauthorized(reference, insufficient, scope.verb())
                                .await,
                        ));
                    }
                    refreshed.store(true, Ordering::Relaxed);
                    if let Some(scheme) =
                        challenge_scheme(&response, &reference.registry).map_err(permanent)?
                        && scheme != current.auth
                    {
                        let renewed = Endpoint {
                            auth: scheme,
                            ..current
                        };
                        *endpoint.lock().unwrap() = renewed.clone();
                        self.endpoints
                            .lock()
                            .unwrap()
                            .insert(reference.registry.clone(), renewed);
                    }
                    continue;
                }
                Ok(response) if is_transient_status(response.status()) => {
                    return Err(Failure::Transient {
                        retry_after: retry_after(response.headers()),
                        error: SendFailure::Answer(response),
                    });
                }
                Ok(response) => return Ok(response),
                Err(error) => error.without_url(),
            };
            return Err(match classify(&error) {
                ErrorClass::Certificate => permanent(RegistryError::Certificate {
                    registry: reference.registry.clone(),
                    source: error,
                }),
                ErrorClass::Transient => Failure::transient(SendFailure::Network(error)),
                ErrorClass::Permanent => Failure::Permanent(SendFailure::Network(error)),
            });
        }
    }

    /// The error for an unexpected status, with the registry's own explanation when its
    /// body has one. `what` names the thing a 404 means is missing.
    pub async fn status_error(
        &self,
        reference: &Reference,
        action: &str,
        what: &str,
        verb: &'static str,
        response: Response,
    ) -> RegistryError {
        let status = response.status();
        let detail = read_small(response).await.and_then(|b| error_detail(&b));
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                what: what.to_string(),
                detail,
            },
            StatusCode::FORBIDDEN => {
                let who = match self.credentials(&reference.registry).await {
                    Ok(Some(c)) => format!("user `{}`", c.secret.username()),
                    _ => "an anonymous user".to_string(),
                };
                RegistryError::Denied {
                    registry: reference.registry.clone(),
                    repository: reference.repository.clone(),
                    who,
                    verb,
                    detail,
                }
            }
            _ => RegistryError::Status {
                registry: reference.registry.clone(),
                action: action.to_string(),
                status,
                detail,
                attempts: 1,
            },
        }
    }
}

/// Why the probes of one attempt found no registry.
enum ProbeFailure {
    /// Something answered, with a status no registry gives to `GET /v2/`.
    NotRegistry(StatusCode),
    Certificate(reqwest::Error),
    /// No answer over any scheme allowed; the HTTPS attempt's error.
    Unreachable(reqwest::Error),
}

/// Why one attempt of [`Inner::send`] failed.
enum SendFailure {
    /// A transient status (408, 429, 5xx): after the last attempt, it is the answer.
    Answer(Response),
    /// No answer: a connection or transfer error.
    Network(reqwest::Error),
    /// An error to report as it is.
    Registry(RegistryError),
}

/// What a `GET /v2/` found.
enum Probe {
    /// 200 or 401: a registry (the response says how it authenticates).
    Registry(Response),
    /// Some other status: something answers there, but not a registry's API.
    NotRegistry(StatusCode),
}

/// One attempt at finding the registry: HTTPS, then plain HTTP (when `http` is given)
/// if HTTPS got no answer. Returns the base that answered and its answer.
async fn probe_once(
    client: &reqwest::Client,
    https: &Url,
    http: Option<&Url>,
) -> Result<(Url, Response), Failure<ProbeFailure>> {
    let error = match probe(client, https).await {
        Ok(Probe::Registry(response)) => return Ok((https.clone(), response)),
        Ok(Probe::NotRegistry(status)) => {
            let failure = ProbeFailure::NotRegistry(status);
            return Err(if is_transient_status(status) {
                Failure::transient(failure)
            } else {
                Failure::Permanent(failure)
            });
        }
        Err(error) => error,
    };
    if let Some(http) = http
        && let Ok(Probe::Registry(response)) = probe(client, http).await
    {
        return Ok((http.clone(), response));
    }
    Err(match classify(&error) {
        ErrorClass::Certificate => Failure::Permanent(ProbeFailure::Certificate(error)),
        ErrorClass::Transient => Failure::transient(ProbeFailure::Unreachable(error)),
        ErrorClass::Permanent => Failure::Permanent(ProbeFailure::Unreachable(error)),
    })
}

/// One `GET /v2/`, no retries: the caller decides between schemes and attempts.
async fn probe(client: &reqwest::Client, base: &Url) -> Result<Probe, reqwest::Error> {
    let url = base.join("v2/").expect("a valid path");
    tracing::debug!("GET {url}");
    let response = client.get(url).send().await.map_err(|e| e.without_url())?;
    let status = response.status();
    Ok(
        if status.is_success() || status == StatusCode::UNAUTHORIZED {
            Probe::Registry(response)
        } else {
            Probe::NotRegistry(status)
        },
    )
}

fn endpoint_of(base: Url, response: &Response, registry: &str) -> Result<Endpoint, RegistryError> {
    let auth = match challenge_scheme(response, registry)? {
        Some(scheme) => scheme,
        None if response.status() == StatusCode::UNAUTHORIZED => {
            AuthScheme::from_challenges(&[], registry)?
        }
        None => AuthScheme::Anonymous,
    };
    Ok(Endpoint { base, auth })
}

/// The auth scheme a 401's `WWW-Authenticate` headers ask for, if it has any.
fn challenge_scheme(
    response: &Response,
    registry: &str,
) -> Result<Option<AuthScheme>, RegistryError> {
    if response.status() != StatusCode::UNAUTHORIZED {
        return Ok(None);
    }
    let challenges = challenges(response);
    if challenges.is_empty() {
        return Ok(None);
    }
    AuthScheme::from_challenges(&challenges, registry).map(Some)
}

/// Every challenge of a response's `WWW-Authenticate` headers.
fn challenges(response: &Response) -> Vec<auth::Challenge> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(auth::parse_challenges)
        .collect()
}

/// `host[:port]` as a reference spells it.
fn host_port(host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Reads at most 64 KiB of an error body: enough for any JSON error, and a broken
/// server streaming garbage cannot fill memory.
async fn read_small(mut response: Response) -> Option<Vec<u8>> {
    const LIMIT: usize = 64 * 1024;
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > LIMIT {
            return None;
        }
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::FetchSettings;

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let cache = tempfile::tempdir().unwrap();
        let fetcher = Fetcher::new(FetchSettings::new(cache.path())).unwrap();
        let inner = Inner::new(
            fetcher,
            &[
                " Mirror.Internal:5000 ".to_string(),
                "http://other.internal/".to_string(),
            ],
            CredentialStore::default(),
        );
        for yes in [
            "127.0.0.1:5000",
            "localhost",
            "[::1]:80",
            "mirror.internal:5000",
        ] {
            assert!(inner.plain_http_ok(yes), "{yes}");
        }
        let hub = crate::oci::reference::DOCKER_HUB.name;
        for no in [
            "mirror.internal",
            "mirror.internal:5001",
            "10.1.2.3:5000",
            hub,
        ] {
            assert!(!inner.plain_http_ok(no), "{no}");
        }
    }
}
