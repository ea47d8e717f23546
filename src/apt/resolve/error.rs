//! Why a resolution failed. Each error names the request or the packages on both sides,
//! and says what the user can change in the manifest.

/// A failed resolution.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "apt package `{request}` is not in any configured source{}; check the name, or add \
         the source that has it to `[apt] sources`",
        did_you_mean(.close)
    )]
    Unknown { request: String, close: Vec<String> },
    #[error(
        "no version of `{name}` satisfies the request `{request}`; the sources have {}",
        list_or_none(.versions)
    )]
    NoVersion {
        request: String,
        name: String,
        versions: Vec<String>,
    },
    #[error(
        "`{request}` is a virtual package provided by {}; request one of them explicitly",
        .providers.join(", ")
    )]
    VirtualRequest {
        request: String,
        providers: Vec<String>,
    },
    #[error(
        "{package} {version} depends on `{dependency}`, which no available version \
         satisfies{}; pin another version of {package}, or add a source that has it",
        why_suffix(.why)
    )]
    Unsatisfiable {
        package: String,
        version: String,
        dependency: String,
        why: String,
    },
    /// Boxed: it is the largest, and errors travel through every step of the walk.
    #[error(transparent)]
    Conflict(Box<ConflictError>),
    #[error("{package} {version}: cannot read its {field} field: {message}")]
    BadField {
        package: String,
        version: String,
        field: &'static str,
        message: String,
    },
}

/// Breaks or Conflicts that no available version resolves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{package} {version} {kind} `{relation}`, and {other} {other_version} ({other_origin}) \
     matches it{}; remove one of the two from the request or pin versions that agree",
    why_suffix(.why)
)]
pub struct ConflictError {
    pub package: String,
    pub version: String,
    /// `breaks` or `conflicts with`.
    pub kind: &'static str,
    pub relation: String,
    pub other: String,
    pub other_version: String,
    /// `installed in the base image` or `to be installed`.
    pub other_origin: &'static str,
    pub why: String,
}

fn did_you_mean(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(", "))
    }
}

fn list_or_none(versions: &[String]) -> String {
    if versions.is_empty() {
        "no version of it".to_string()
    } else {
        versions.join(", ")
    }
}

fn why_suffix(why: &str) -> String {
    if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    }
}
