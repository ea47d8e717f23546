//! Registry authentication: reading `WWW-Authenticate` challenges, and the bearer-token
//! flow of the distribution spec (a token per repository scope, from the realm the
//! registry names, with Basic credentials or an OAuth2 refresh token when there are
//! any, anonymously otherwise).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use url::Url;

use super::RegistryError;
use super::credentials::{Credentials, Secret};
use crate::fetch::{
    ErrorClass, Failure, RetryPolicy, classify, is_transient_status, retry_after, with_retries,
};

/// One challenge of a `WWW-Authenticate` header: a scheme (lower case) and its
/// parameters (names lower case, values unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses a `WWW-Authenticate` value (RFC 7235), which may hold several challenges:
/// `Bearer realm="https://t/token",service="r",scope="repository:a:pull", Basic realm="x"`.
///
/// Lenient where servers are sloppy (spaces around `=`, unquoted values, trailing
/// commas); a part it cannot read is skipped rather than failing the request, since the
/// request's status already says what is wrong.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut challenges: Vec<Challenge> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let token_end = rest.find([' ', '\t', ',', '=']).unwrap_or(rest.len());
        let token = &rest[..token_end];
        if token.is_empty() {
            break;
        }
        let after = rest[token_end..].trim_start_matches([' ', '\t']);
        if let Some(value_part) = after.strip_prefix('=') {
            // A parameter of the current challenge.
            let (value, remaining) = parse_value(value_part.trim_start());
            if let Some(current) = challenges.last_mut() {
                current.params.insert(token.to_ascii_lowercase(), value);
            }
            rest = remaining;
        } else {
            // A new challenge's scheme.
            challenges.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
            rest = after;
        }
    }
    challenges
}

/// A quoted string (with `\` escapes) or a token; returns it and what follows.
fn parse_value(text: &str) -> (String, &str) {
    if let Some(quoted) = text.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (value, &quoted[i + 1..]),
                _ => value.push(c),
            }
        }
        (value, "")
    } else {
        let end = text.find([',', ' ', '\t']).unwrap_or(text.len());
        (text[..end].to_string(), &text[end..])
    }
}

/// How a registry wants to be spoken to, from its answer to `GET /v2/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthScheme {
    /// 200: no authentication.
    Anonymous,
    /// HTTP Basic on every request (a plain `docker-registry` with htpasswd).
    Basic,
    /// Bearer tokens from `realm`, per repository scope.
    Bearer { realm: Url, service: Option<String> },
}

impl AuthScheme {
    /// The scheme of the first challenge rtlock can answer (Bearer preferred).
    pub fn from_challenges(
        challenges: &[Challenge],
        registry: &str,
    ) -> Result<AuthScheme, RegistryError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm =
                bearer
                    .params
                    .get("realm")
                    .ok_or_else(|| RegistryError::UnsupportedChallenge {
                        registry: registry.to_string(),
                        challenge: "a Bearer challenge without a realm".into(),
                    })?;
            let realm = Url::parse(realm).map_err(|_| RegistryError::UnsupportedChallenge {
                registry: registry.to_string(),
                challenge: format!("a Bearer realm that is not a URL ({realm})"),
            })?;
            if !matches!(realm.scheme(), "http" | "https") {
                return Err(RegistryError::UnsupportedChallenge {
                    registry: registry.to_string(),
                    challenge: format!("a Bearer realm that is not http(s) ({realm})"),
                });
            }
            return Ok(AuthScheme::Bearer {
                realm,
                service: bearer.params.get("service").cloned(),
            });
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            return Ok(AuthScheme::Basic);
        }
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        Err(RegistryError::UnsupportedChallenge {
            registry: registry.to_string(),
            challenge: if schemes.is_empty() {
                "a 401 without a WWW-Authenticate challenge".into()
            } else {
                format!(
                    "only {} (rtlock speaks Bearer and Basic)",
                    schemes.join(", ")
                )
            },
        })
    }
}

/// What a token grants: `repository:<name>:<actions>` scopes, sorted so that the same
/// need gives the same cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(Vec<String>);

impl Scope {
    pub fn pull(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull")])
    }

    pub fn push(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull,push")])
    }

    /// Push to `repository`, and mount blobs from `from` (which needs pull there).
    pub fn push_mounting(repository: &str, from: &str) -> Scope {
        let mut scopes = Scope::push(repository).0;
        scopes.push(format!("repository:{from}:pull"));
        scopes.sort();
        Scope(scopes)
    }

    pub fn items(&self) -> &[String] {
        &self.0
    }

    /// What the scope is for, as an error message says it ("may push to it").
    pub fn verb(&self) -> &'static str {
        if self.0.iter().any(|s| s.ends_with(":pull,push")) {
            "push to"
        } else {
            "pull"
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// A bearer token and when to stop using it. `Debug` never shows it.
#[derive(Clone)]
pub struct Token {
    value: String,
    expires: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("expires", &self.expires)
            .finish()
    }
}

/// The spec's default lifetime of a token that does not say, and the least rtlock
/// assumes.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// Tokens are renewed this long before they expire, so one never runs out mid-request.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

impl Token {
    pub fn is_fresh(&self) -> bool {
        Instant::now() + TOKEN_MARGIN < self.expires
    }

    pub fn header(&self) -> HeaderValue {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.value))
            .unwrap_or_else(|_| HeaderValue::from_static("Bearer invalid"));
        value.set_sensitive(true);
        value
    }
}

/// The `Authorization` value for HTTP Basic (marked sensitive, so that HTTP-level
/// logging leaves it out).
pub fn basic_header(username: &str, password: &str) -> HeaderValue {
    let encoded = BASE64.encode(format!("{username}:{password}"));
    let mut value =
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("base64 is a valid header");
    value.set_sensitive(true);
    value
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Where to ask for a token, for what, and as whom.
pub struct TokenRequest<'a> {
    pub registry: &'a str,
    pub realm: &'a Url,
    pub service: Option<&'a str>,
    pub scope: &'a Scope,
    pub credentials: Option<&'a Credentials>,
    /// Whether plain HTTP is acceptable for a realm on this host (loopback or listed
    /// insecure): credentials never go over plain HTTP elsewhere.
    pub plain_http_ok: &'a (dyn Fn(&Url) -> bool + Sync),
    /// Transient failures of the token service are retried like any download.
    pub retry: &'a RetryPolicy,
}

/// Gets a token from the registry's token service.
///
/// With a password: `GET realm?service=…&scope=…` with Basic credentials. With an
/// identity token: the OAuth2 refresh-token grant, `POST realm`. Without credentials:
/// the anonymous GET, which public repositories answer.
pub async fn fetch_token(
    client: &reqwest::Client,
    request: TokenRequest<'_>,
) -> Result<Token, RegistryError> {
    let fail = |problem: String| RegistryError::TokenService {
        registry: request.registry.to_string(),
        realm: request.realm.to_string(),
        problem,
    };
    if request.credentials.is_some()
        && request.realm.scheme() == "http"
        && !(request.plain_http_ok)(request.realm)
    {
        return Err(fail(
            "is plain HTTP; rtlock does not send credentials over it (list the host as \
             insecure only if you trust the network)"
                .into(),
        ));
    }

    let build = || match request.credentials.map(|c| &c.secret) {
        Some(Secret::IdentityToken { token, .. }) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", token);
            form.append_pair("client_id", "rtlock");
            if let Some(service) = request.service {
                form.append_pair("service", service);
            }
            form.append_pair("scope", &request.scope.to_string());
            client
                .post(request.realm.clone())
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.finish())
        }
        secret => {
            let mut url = request.realm.clone();
            {
                let mut query = url.query_pairs_mut();
                if let Some(service) = request.service {
                    query.append_pair("service", service);
                }
                for scope in request.scope.items() {
                    query.append_pair("scope", scope);
                }
            }
            let builder = client.get(url);
            match secret {
                Some(Secret::Password { username, password }) => {
                    builder.header(AUTHORIZATION, basic_header(username, password))
                }
                _ => builder,
            }
        }
    };

    let build = &build;
    let response = with_retries(
        request.retry,
        move |_| async move {
            match build().send().await {
                Ok(response) if !is_transient_status(response.status()) => Ok(response),
                Ok(response) => Err(Failure::Transient {
                    error: format!("answered {}", response.status()),
                    retry_after: retry_after(response.headers()),
                }),
                Err(e) => {
                    let class = classify(&e);
                    let error = format!("could not be reached ({})", e.without_url());
                    Err(match class {
                        ErrorClass::Transient => Failure::transient(error),
                        _ => Failure::Permanent(error),
                    })
                }
            }
        },
        |error, _, _| {
            tracing::warn!(
                "the token service of {} {error}; retrying",
                request.registry
            );
        },
    )
    .await
    .result
    .map_err(fail)?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(match request.credentials {
            Some(credentials) => RegistryError::CredentialsRejected {
                registry: request.registry.to_string(),
                user: credentials.secret.username().to_string(),
                source_of: credentials.source.clone(),
            },
            None => fail(format!(
                "refused an anonymous token ({status}); log in (`docker login {}`)",
                request.registry
            )),
        });
    }
    if !status.is_success() {
        return Err(fail(format!("answered {status}")));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| fail(format!("broke off its answer ({})", e.without_url())))?;
    let parsed: TokenResponse = serde_json::from_slice(&body)
        .map_err(|_| fail("answered something that is not a token (JSON expected)".into()))?;
    let value = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail("answered without a token".into()))?;
    if HeaderValue::from_str(&format!("Bearer {value}")).is_err() {
        return Err(fail("answered a token that cannot go into a header".into()));
    }
    let lifetime = parsed
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TOKEN_LIFETIME)
        .max(DEFAULT_TOKEN_LIFETIME);
    Ok(Token {
        value,
        expires: Instant::now() + lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bearer_challenge() {
        let parsed = parse_challenges(
            r#"Bearer realm="https://auth.test/token",service="registry.test",scope="repository:samalba/my-app:pull,push""#,
        );
        assert_eq!(
            parsed,
            vec![Challenge {
                scheme: "bearer".into(),
                params: params(&[
                    ("realm", "https://auth.test/token"),
                    ("service", "registry.test"),
                    ("scope", "repository:samalba/my-app:pull,push"),
                ]),
            }]
        );
    }

    #[test]
    fn several_challenges_escapes_and_sloppy_spacing() {
        let parsed = parse_challenges(
            r#"Basic realm="Registry \"Realm\"", Bearer  realm = "http://127.0.0.1:1/t" , service=plain,error="insufficient_scope","#,
        );
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].scheme, "basic");
        assert_eq!(parsed[0].params["realm"], r#"Registry "Realm""#);
        assert_eq!(parsed[1].scheme, "bearer");
        assert_eq!(parsed[1].params["realm"], "http://127.0.0.1:1/t");
        assert_eq!(parsed[1].params["service"], "plain");
        assert_eq!(parsed[1].params["error"], "insufficient_scope");

        assert_eq!(parse_challenges("").len(), 0);
        assert_eq!(parse_challenges("Negotiate")[0].scheme, "negotiate");
        // An unterminated quote ends the value, not the program.
        assert_eq!(
            parse_challenges(r#"Bearer realm="https://x"#)[0].params["realm"],
            "https://x"
        );
    }

    #[test]
    fn schemes_from_challenges() {
        let scheme = AuthScheme::from_challenges(
            &parse_challenges(r#"Basic realm="r", Bearer realm="https://t/token",service="s""#),
            "r:1",
        )
        .unwrap();
        assert_eq!(
            scheme,
            AuthScheme::Bearer {
                realm: Url::parse("https://t/token").unwrap(),
                service: Some("s".into())
            }
        );
        let basic =
            AuthScheme::from_challenges(&parse_challenges(r#"Basic realm="r""#), "r:1").unwrap();
        assert_eq!(basic, AuthScheme::Basic);
        let error = AuthScheme::from_challenges(&parse_challenges("Negotiate"), "r:1").unwrap_err();
        assert!(error.to_string().contains("negotiate"), "{error}");
        let error =
            AuthScheme::from_challenges(&parse_challenges("Bearer service=x"), "r:1").unwrap_err();
        assert!(error.to_string().contains("realm"), "{error}");
    }

    #[test]
    fn scopes_are_canonical() {
        assert_eq!(
            Scope::push_mounting("b/dest", "a/src").to_string(),
            "repository:a/src:pull repository:b/dest:pull,push"
        );
        assert_eq!(Scope::pull("x").to_string(), "repository:x:pull");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let token = Token {
            value: "very-secret".into(),
            expires: Instant::now(),
        };
        assert!(!format!("{token:?}").contains("very-secret"));
        assert!(basic_header("u", "p").is_sensitive());
        assert!(token.header().is_sensitive());
    }
}
