//! Image references as Docker reads them: `[registry[:port]/]repository[:tag][@digest]`.
//!
//! A reference that reaches a registry names it: its first component is a registry host
//! (`host.domain/…`, `host:port/…`, `localhost/…`). Nothing defaults to a public
//! registry, since a short name read as one turns a typo into a publication; Docker's
//! default registry is used only when written ([`DOCKER_HUB`]'s names). Short names
//! (`team-runtime:1`) are Docker's local image names, for the Docker Engine and the
//! tags inside a docker archive: [`Reference::parse_docker_name`] reads them as Docker
//! does. Otherwise the rules are Docker's, so that a reference means the same image to
//! rtlock and to the tools next to it:
//!
//! - on Docker's default registry a single-component name lives in its `library/`
//!   namespace;
//! - repository components are lower case (`[a-z0-9]` separated by `.`, `_`, `__` or
//!   dashes); tags are `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`;
//! - without a tag or digest the tag is `latest`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use super::Digest;

/// Docker's own default registry, which Docker semantics require for short names: the
/// only registry host name in rtlock's code. `name` is how references spell it,
/// `legacy_name` an older spelling that still normalizes to it (and the host its
/// credentials are filed under in `config.json`), `api_host` where its API answers.
pub const DOCKER_HUB: DefaultRegistry = DefaultRegistry {
    name: "docker.io",
    legacy_name: "index.docker.io",
    api_host: "registry-1.docker.io",
};

/// The names of Docker's default registry (see [`DOCKER_HUB`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRegistry {
    pub name: &'static str,
    pub legacy_name: &'static str,
    pub api_host: &'static str,
}

/// The namespace of official images on the default registry.
const OFFICIAL_NAMESPACE: &str = "library";

/// Docker's limit on the length of a repository name (with its registry).
const MAX_NAME_LENGTH: usize = 255;

/// A parsed image reference, normalized (registry and `library/` filled in).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`, e.g. `127.0.0.1:5000`, or [`DOCKER_HUB`]'s name.
    pub registry: String,
    /// The path inside the registry, e.g. `library/debian`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

/// What is wrong with a reference, said so that the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference `{reference}`: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: String,
}

impl Reference {
    /// Reads a Docker image name as the Docker Engine does: a first component that is no
    /// registry host means Docker's default registry. Only for names that stay local (a
    /// Docker Engine's tags, an archive's `RepoTags`), never for what is pushed or pulled.
    pub fn parse_docker_name(text: &str) -> Result<Reference, ReferenceError> {
        parse(text, ShortNames::DockerDefault)
    }

    /// The same image pinned to `digest`. The tag is kept: `name:tag@digest` says what
    /// was asked for and what it resolved to; the digest decides what is fetched.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with `tag` and no digest (a new tag names new content).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// Another repository of the same registry, with no tag or digest.
    pub fn with_repository(&self, repository: &str) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: repository.to_string(),
            tag: None,
            digest: None,
        }
    }

    /// What the registry API is asked for: the digest when there is one, else the tag
    /// (`latest` if neither was given).
    pub fn api_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The host the registry's API answers on (differs from `registry` only for Docker's
    /// default registry).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB.name {
            DOCKER_HUB.api_host
        } else {
            &self.registry
        }
    }
}

/// Whether `host[:port]` is a loopback address or `localhost`.
pub fn is_loopback_host(registry: &str) -> bool {
    let host = host_without_port(registry);
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host` of `host[:port]` (IPv6 literals keep their brackets).
fn host_without_port(registry: &str) -> &str {
    if registry.starts_with('[') {
        return match registry.find(']') {
            Some(end) => &registry[..=end],
            None => registry,
        };
    }
    registry.split(':').next().unwrap_or(registry)
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// What a name whose first component is no registry host means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShortNames {
    /// An error: the reference must name its registry.
    Refused,
    /// Docker's default registry (local Docker names only).
    DockerDefault,
}

/// Whether the first component of a reference, `component`, names a registry host:
/// `host.domain`, `host:port` (digits), `localhost`, or a bracketed IPv6 literal. One rule
/// for references and for telling a bare reference from a mistyped transport
/// (`oci-arhive:x` has no port, so it is no host).
pub fn is_registry_host(component: &str) -> bool {
    if component.starts_with('[') {
        return true;
    }
    match component.split_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        }
        None => component.contains('.') || component == "localhost",
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    /// A reference that names its registry (see the module documentation).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text, ShortNames::Refused)
    }
}

fn parse(text: &str, short_names: ShortNames) -> Result<Reference, ReferenceError> {
    let fail = |reason: String| ReferenceError {
        reference: text.to_string(),
        reason,
    };
    if text.is_empty() {
        return Err(fail("it is empty".into()));
    }
    if text.trim() != text || text.contains(char::is_whitespace) {
        return Err(fail("it contains white space".into()));
    }
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(fail(
            "a bare 64-digit hex string is an image ID, not a reference; \
             write `name@sha256:…` to pin a digest"
                .into(),
        ));
    }

    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => {
            let digest = digest.parse::<Digest>().map_err(|e| fail(e.to_string()))?;
            (rest, Some(digest))
        }
        None => (text, None),
    };
    // A tag follows the last `:` after the last `/` (a `:` before it is a port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        check_tag(tag).map_err(|e| fail(e.to_string()))?;
    }
    if name.is_empty() {
        return Err(fail("the repository name is missing".into()));
    }

    let (registry, repository) = match split_registry(name) {
        Some(split) => split,
        None if short_names == ShortNames::DockerDefault => (DOCKER_HUB.name, name),
        None => return Err(fail(no_registry_reason(text))),
    };
    check_registry(registry).map_err(|e| fail(e.to_string()))?;
    let registry = if registry == DOCKER_HUB.legacy_name {
        DOCKER_HUB.name
    } else {
        registry
    };
    check_repository(repository).map_err(|e| fail(e.to_string()))?;
    let repository = if registry == DOCKER_HUB.name && !repository.contains('/') {
        format!("{OFFICIAL_NAMESPACE}/{repository}")
    } else {
        repository.to_string()
    };
    if registry.len() + 1 + repository.len() > MAX_NAME_LENGTH {
        return Err(fail(format!(
            "the name is longer than {MAX_NAME_LENGTH} characters"
        )));
    }

    let tag = match (tag, &digest) {
        (Some(tag), _) => Some(tag.to_string()),
        (None, Some(_)) => None,
        (None, None) => Some("latest".to_string()),
    };
    Ok(Reference {
        registry: registry.to_string(),
        repository,
        tag,
        digest,
    })
}

/// Splits `name` into registry and repository when its first component is a registry
/// host (see [`is_registry_host`]).
fn split_registry(name: &str) -> Option<(&str, &str)> {
    name.split_once('/')
        .filter(|(first, _)| is_registry_host(first))
}

/// Why a reference without a registry host is refused, and how to write it.
fn no_registry_reason(text: &str) -> String {
    format!(
        "it does not name its registry: the first component must be a registry host \
         (`host.domain/…`, `host:port/…` or `localhost/…`); rtlock never defaults to a public registry\n\
         help: write the registry the image is in first, e.g. `registry.example.com/{text}` \
         (Docker's default registry too is used only when written out)"
    )
}

/// What is wrong with one part of a reference; a [`ReferenceError`] says it of the whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum BadPart {
    #[error("`{0}` is not a valid registry host (expected host[:port], e.g. localhost:5000)")]
    Registry(String),
    #[error("repository names must be lower case (`{0}`; try `{lower}`)", lower = .0.to_ascii_lowercase())]
    UpperCase(String),
    #[error("the repository path has an empty component (`//`, or `/` at an end)")]
    EmptyComponent,
    #[error(
        "`{0}` is not a valid repository path component \
         (lower-case letters and digits, separated by `.`, `_`, `__` or dashes)"
    )]
    Component(String),
    #[error(
        "`{0}` is not a valid tag (1 to 128 letters, digits, `_`, `.` or `-`, \
         not starting with `.` or `-`)"
    )]
    Tag(String),
}

fn check_registry(registry: &str) -> Result<(), BadPart> {
    let bad = || BadPart::Registry(registry.to_string());
    let (host, port) = if let Some(v6) = registry.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(bad)?;
        v6[..end].parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        let after = &v6[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad)?),
        };
        ("", port)
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.len() > 5)
    {
        return Err(bad());
    }
    if !registry.starts_with('[') {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(bad());
        }
    }
    Ok(())
}

fn check_repository(repository: &str) -> Result<(), BadPart> {
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(BadPart::UpperCase(repository.to_string()));
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return Err(BadPart::EmptyComponent);
        }
        if !is_path_component(component) {
            return Err(BadPart::Component(component.to_string()));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn check_tag(tag: &str) -> Result<(), BadPart> {
    let bytes = tag.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(BadPart::Tag(tag.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// Docker's reading, short names included (what the Docker Engine's names get).
    fn parse(text: &str) -> Reference {
        Reference::parse_docker_name(text).unwrap_or_else(|e| panic!("{text} should parse: {e}"))
    }

    #[test]
    fn a_reference_that_reaches_a_registry_names_it() {
        for named in [
            "localhost/x",
            "localhost:5000/x:1",
            "127.0.0.1:5000/a/b",
            "registry.example/ml/rt:1",
            "[::1]:5000/x",
            &format!("{}/library/debian:12", DOCKER_HUB.name),
        ] {
            let strict: Reference = named.parse().unwrap();
            assert_eq!(strict, parse(named), "{named}");
        }
        for short in [
            "debian",
            "debian:bookworm",
            "team/runtime:1",
            "localhost",
            "host:port/x",
            "Foo/bar",
        ] {
            let error = short.parse::<Reference>().unwrap_err().to_string();
            assert!(
                error.contains("does not name its registry"),
                "{short}: {error}"
            );
            assert!(
                error.contains("never defaults to a public registry"),
                "{error}"
            );
        }
        let error = "debian:bookworm"
            .parse::<Reference>()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("e.g. `registry.example.com/debian:bookworm`"),
            "{error}"
        );
    }

    #[test]
    fn registry_hosts() {
        for yes in [
            "a.b",
            "localhost",
            "host:5000",
            "[::1]",
            "[::1]:80",
            "Registry.Example",
        ] {
            assert!(is_registry_host(yes), "{yes}");
        }
        for no in [
            "debian",
            "oci-arhive:x",
            "oci-arhive:",
            "host:port",
            ":5000",
            "Foo",
        ] {
            assert!(!is_registry_host(no), "{no}");
        }
    }

    #[test]
    fn normalizes_like_docker() {
        let hub = DOCKER_HUB.name;
        let legacy = DOCKER_HUB.legacy_name;
        let table: Vec<(String, String)> = [
            ("debian", format!("{hub}/library/debian:latest")),
            ("debian:bookworm", format!("{hub}/library/debian:bookworm")),
            ("team/runtime:1.0", format!("{hub}/team/runtime:1.0")),
            (
                &format!("{hub}/debian"),
                format!("{hub}/library/debian:latest"),
            ),
            (
                &format!("{legacy}/debian:12"),
                format!("{hub}/library/debian:12"),
            ),
            (
                &format!("{hub}/team/runtime"),
                format!("{hub}/team/runtime:latest"),
            ),
            ("localhost/foo", "localhost/foo:latest".into()),
            (
                "localhost:5000/foo/bar:v1",
                "localhost:5000/foo/bar:v1".into(),
            ),
            ("127.0.0.1:5000/a/b/c:x", "127.0.0.1:5000/a/b/c:x".into()),
            ("[::1]:5000/foo:1", "[::1]:5000/foo:1".into()),
            (
                "registry.example/ml/rt:2024.02.1",
                "registry.example/ml/rt:2024.02.1".into(),
            ),
            ("Registry.Example/x", "Registry.Example/x:latest".into()),
            ("localhost", format!("{hub}/library/localhost:latest")),
            (
                "a_b.c-d__e---f",
                format!("{hub}/library/a_b.c-d__e---f:latest"),
            ),
            (&format!("debian@{D}"), format!("{hub}/library/debian@{D}")),
            (
                &format!("debian:12@{D}"),
                format!("{hub}/library/debian:12@{D}"),
            ),
            (&format!("host:5000/x@{D}"), format!("host:5000/x@{D}")),
        ]
        .into_iter()
        .map(|(input, full)| (input.to_string(), full))
        .collect();
        for (input, full) in &table {
            let reference = parse(input);
            assert_eq!(&reference.to_string(), full, "{input}");
            assert_eq!(parse(full), reference, "{full} round-trips");
            assert_eq!(full.parse::<Reference>().as_ref(), Ok(&reference), "{full}");
        }
        let official = parse("debian");
        assert_eq!(official.registry, hub);
        assert_eq!(official.repository, "library/debian");
    }

    #[test]
    fn fields() {
        let r = parse("localhost:5000/foo/bar:v1");
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "foo/bar");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest, None);
        assert_eq!(r.api_reference(), "v1");

        let pinned = r.with_digest(D.parse().unwrap());
        assert_eq!(pinned.api_reference(), D);
        assert_eq!(pinned.to_string(), format!("localhost:5000/foo/bar:v1@{D}"));
        let retagged = pinned.with_tag("v2");
        assert_eq!(retagged.to_string(), "localhost:5000/foo/bar:v2");

        assert_eq!(parse("debian").api_host(), DOCKER_HUB.api_host);
        assert_eq!(parse("127.0.0.1:1/x").api_host(), "127.0.0.1:1");
    }

    #[test]
    fn loopback() {
        for yes in [
            "localhost/x",
            "localhost:5000/x",
            "127.0.0.1:5000/x",
            "127.1.2.3/x",
            "[::1]:80/x",
        ] {
            assert!(is_loopback_host(&parse(yes).registry), "{yes}");
        }
        for no in ["debian", "10.0.0.1:5000/x", "registry.example/x", "[::2]/x"] {
            assert!(!is_loopback_host(&parse(no).registry), "{no}");
        }
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let table = [
            ("", "empty"),
            ("Debian", "lower case"),
            ("team/Runtime", "lower case"),
            ("debian:", "not a valid tag"),
            ("debian:.x", "not a valid tag"),
            ("debian:a/b", "not a valid"),
            ("debian@sha256:abc", "sha256"),
            ("debian@sha512:abc", "sha256"),
            ("-debian", "path component"),
            ("debian-", "path component"),
            ("a..b", "path component"),
            ("a//b", "empty component"),
            ("host:port/x", "path component"),
            ("host:5000/", "empty component"),
            ("de bian", "white space"),
            (&"a".repeat(64), "image ID"),
            (&"f".repeat(64), "image ID"),
            (&format!("x/{}", "a".repeat(300)), "longer"),
            (&format!("debian:{}", "t".repeat(129)), "not a valid tag"),
        ];
        for (input, expected) in table {
            let error = Reference::parse_docker_name(input)
                .expect_err(&format!("{input:?} should be refused"));
            let text = error.to_string();
            assert!(text.contains(expected), "{input:?}: {text}");
            assert!(text.contains(&format!("`{input}`")), "{text}");
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn component() -> impl Strategy<Value = String> {
            "[a-z0-9]{1,6}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}"
        }

        fn registry() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(DOCKER_HUB.name.to_string()),
                Just("localhost".to_string()),
                (1u16..=65535).prop_map(|port| format!("127.0.0.1:{port}")),
                (
                    "[a-z][a-z0-9-]{0,8}[a-z0-9]",
                    "[a-z]{2,5}",
                    proptest::option::of(1u16..=65535)
                )
                    .prop_map(|(host, tld, port)| match port {
                        Some(port) => format!("{host}.{tld}:{port}"),
                        None => format!("{host}.{tld}"),
                    }),
            ]
        }

        fn reference() -> impl Strategy<Value = Reference> {
            (
                registry(),
                proptest::collection::vec(component(), 1..4),
                proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
                proptest::option::of(proptest::array::uniform32(any::<u8>())),
            )
                .prop_map(|(registry, mut path, tag, digest)| {
                    if registry == DOCKER_HUB.name && path.len() == 1 {
                        path.insert(0, OFFICIAL_NAMESPACE.to_string());
                    }
                    let digest = digest.map(|d| Digest::from_sha256(&d));
                    let tag = if tag.is_none() && digest.is_none() {
                        Some("latest".to_string())
                    } else {
                        tag
                    };
                    Reference {
                        registry,
                        repository: path.join("/"),
                        tag,
                        digest,
                    }
                })
        }

        proptest! {
            #[test]
            fn display_round_trips(r in reference()) {
                let shown = r.to_string();
                let parsed: Reference = shown.parse().unwrap();
                prop_assert_eq!(parsed, r);
            }

            #[test]
            fn parsing_never_panics(text in "\\PC{0,80}") {
                let _ = text.parse::<Reference>();
            }
        }
    }
}
