//! Reading `runtime.toml` from TOML with spans, so that every error points at the key or
//! value that is wrong. The walk is by hand rather than through serde because the errors
//! are the product here: unknown keys get a "did you mean", forbidden Cloudera keys get
//! the reason, and bad requirement strings point inside the string.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::str::FromStr;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::runtime::{self, FORBIDDEN_RUNTIME_KEYS, RUNTIME_KEYS, RuntimeMetadata};
use super::{
    AptSpec, BaseSpec, Compression, ImageSpec, LockSpec, Manifest, PipSpec, Platform, RSpec,
    SUPPORTED_PLATFORMS,
};
use crate::apt::relation::parse_relation;
use crate::diagnostic::{SourceError, did_you_mean};
use crate::r::requirement::RRequirement;

type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: [&str; 7] = ["base", "apt", "pip", "r", "image", "runtime", "lock"];
const BASE_KEYS: [&str; 2] = ["image", "platform"];
const APT_KEYS: [&str; 4] = [
    "packages",
    "install-recommends",
    "sources",
    "exclude-sources",
];
const PIP_KEYS: [&str; 4] = ["packages", "index-url", "extra-index-urls", "allow-upgrade"];
const R_KEYS: [&str; 5] = [
    "packages",
    "repos",
    "suggests",
    "allow-upgrade",
    "system-requirements",
];
const IMAGE_KEYS: [&str; 7] = [
    "env",
    "labels",
    "user",
    "workdir",
    "entrypoint",
    "cmd",
    "compression",
];
const LOCK_KEYS: [&str; 1] = ["as-of"];

pub(super) fn parse(text: &str, path: &Path) -> Result<Manifest, SourceError> {
    let cx = Cx { text, path };
    let root = DeTable::parse(text).map_err(|e| cx.toml_error(&e))?;
    let root = root.get_ref();
    cx.check_keys(root, "the manifest", &TOP_KEYS)?;

    let Some(base) = root.get("base") else {
        return Err(cx
            .error(
                0..0,
                "missing [base] table: which image does this runtime extend?",
            )
            .with_help("add a [base] table with image = \"registry.example.com/ml/runtime:tag\""));
    };
    let base = cx.base(base)?;
    let apt = match root.get("apt") {
        Some(v) => cx.apt(v)?,
        None => AptSpec::default(),
    };
    let pip = match root.get("pip") {
        Some(v) => cx.pip(v)?,
        None => PipSpec::default(),
    };
    let r = match root.get("r") {
        Some(v) => cx.r(v)?,
        None => RSpec::default(),
    };
    let runtime = root.get("runtime").map(|v| cx.runtime(v)).transpose()?;
    let image = match root.get("image") {
        Some(v) => cx.image(v)?,
        None => ImageSpec::default(),
    };
    let lock = match root.get("lock") {
        Some(v) => cx.lock(v)?,
        None => LockSpec::default(),
    };
    Ok(Manifest {
        base,
        apt,
        pip,
        r,
        image,
        runtime,
        lock,
    })
}

/// The text being read, for building located errors.
struct Cx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Cx<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> SourceError {
        SourceError::new(self.path, self.text, span, message)
    }

    fn toml_error(&self, e: &toml::de::Error) -> SourceError {
        let message = format!("invalid TOML: {}", e.message().trim_end());
        self.error(e.span().unwrap_or(0..0), message)
    }

    /// Every key of `table` must be one of `allowed`.
    fn check_keys(
        &self,
        table: &DeTable,
        place: &str,
        allowed: &[&str],
    ) -> Result<(), SourceError> {
        for key in table.keys() {
            let name: &str = key.get_ref();
            if allowed.contains(&name) {
                continue;
            }
            let mut error = self.error(key.span(), format!("unknown key `{name}` in {place}"));
            error = match did_you_mean(name, allowed) {
                Some(close) => error.with_help(format!("did you mean `{close}`?")),
                None => error.with_help(format!("expected one of: {}", allowed.join(", "))),
            };
            return Err(error);
        }
        Ok(())
    }

    fn table<'t, 'i>(
        &self,
        value: &'t Value<'i>,
        name: &str,
    ) -> Result<&'t DeTable<'i>, SourceError> {
        value.get_ref().as_table().ok_or_else(|| {
            self.error(
                value.span(),
                format!("`{name}` must be a table, found {}", type_name(value)),
            )
        })
    }

    fn string<'t>(&self, value: &'t Value, name: &str) -> Result<&'t str, SourceError> {
        value.get_ref().as_str().ok_or_else(|| {
            self.error(
                value.span(),
                format!("`{name}` must be a string, found {}", type_name(value)),
            )
        })
    }

    fn nonempty_string<'t>(&self, value: &'t Value, name: &str) -> Result<&'t str, SourceError> {
        let s = self.string(value, name)?;
        if s.trim().is_empty() {
            return Err(self.error(value.span(), format!("`{name}` must not be empty")));
        }
        Ok(s)
    }

    fn bool(&self, value: &Value, name: &str) -> Result<bool, SourceError> {
        value.get_ref().as_bool().ok_or_else(|| {
            self.error(
                value.span(),
                format!("`{name}` must be true or false, found {}", type_name(value)),
            )
        })
    }

    fn array<'t, 'i>(
        &self,
        value: &'t Value<'i>,
        name: &str,
    ) -> Result<&'t [Value<'i>], SourceError> {
        match value.get_ref() {
            DeValue::Array(items) => Ok(items),
            _ => Err(self.error(
                value.span(),
                format!(
                    "`{name}` must be an array of strings, found {}",
                    type_name(value)
                ),
            )),
        }
    }

    /// An array of strings, each with its span.
    fn strings<'t>(
        &self,
        value: &'t Value,
        name: &str,
    ) -> Result<Vec<(&'t str, Range<usize>)>, SourceError> {
        self.array(value, name)?
            .iter()
            .enumerate()
            .map(|(i, item)| Ok((self.string(item, &format!("{name}[{i}]"))?, item.span())))
            .collect()
    }

    /// A table of strings (env, labels).
    fn string_map(
        &self,
        value: &Value,
        name: &str,
    ) -> Result<Vec<(String, Range<usize>, String)>, SourceError> {
        let table = self.table(value, name)?;
        table
            .iter()
            .map(|(key, item)| {
                let key_name = key.get_ref().to_string();
                let s = self.string(item, &format!("{name}.{key_name}"))?;
                Ok((key_name, key.span(), s.to_string()))
            })
            .collect()
    }

    /// The span of `offset..offset+len` inside the string literal at `span`, when the
    /// literal's source text is the string itself (no escapes); else the whole literal.
    fn inner_span(
        &self,
        span: Range<usize>,
        value: &str,
        offset: usize,
        len: usize,
    ) -> Range<usize> {
        let raw = self.text.get(span.clone()).unwrap_or("");
        let quote_len = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3
        } else {
            1
        };
        let inner = raw.get(quote_len..raw.len().saturating_sub(quote_len));
        if inner == Some(value) && offset <= value.len() {
            let start = span.start + quote_len + offset;
            start..start + len.max(1).min(value.len() - offset).max(1)
        } else {
            span
        }
    }

    fn url(&self, s: &str, span: Range<usize>, name: &str) -> Result<url::Url, SourceError> {
        let url = url::Url::parse(s)
            .map_err(|e| self.error(span.clone(), format!("`{name}` is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https" | "file") {
            return Err(self.error(
                span,
                format!(
                    "`{name}` must be an http, https or file URL, not `{}:`",
                    url.scheme()
                ),
            ));
        }
        Ok(url)
    }

    fn base(&self, value: &Value) -> Result<BaseSpec, SourceError> {
        let table = self.table(value, "base")?;
        self.check_keys(table, "[base]", &BASE_KEYS)?;
        let Some(image) = table.get("image") else {
            return Err(self
                .error(value.span(), "missing `image` in [base]")
                .with_help("name the image this runtime extends, by tag or @sha256 digest"));
        };
        let image_name = self.nonempty_string(image, "base.image")?;
        if image_name.contains(char::is_whitespace) {
            return Err(self.error(image.span(), "`base.image` must not contain whitespace"));
        }
        // Checked here, not when the registry is asked: a short name must never be read
        // as an image of a public registry (SPEC.md, image sources).
        if let Err(e) = image_name.parse::<crate::oci::reference::Reference>() {
            let (reason, help) = e.reason.split_once("\nhelp: ").unwrap_or((&e.reason, ""));
            let error = self.error(image.span(), format!("invalid `base.image`: {reason}"));
            return Err(if help.is_empty() {
                error
            } else {
                error.with_help(help)
            });
        }
        let platform = match table.get("platform") {
            None => Platform::default(),
            Some(p) => {
                let s = self.string(p, "base.platform")?;
                parse_platform(s).ok_or_else(|| {
                    self.error(p.span(), format!("unsupported platform `{s}`"))
                        .with_help(format!("use one of: {}", SUPPORTED_PLATFORMS.join(", ")))
                })?
            }
        };
        Ok(BaseSpec {
            image: image_name.to_string(),
            platform,
        })
    }

    fn apt(&self, value: &Value) -> Result<AptSpec, SourceError> {
        let table = self.table(value, "apt")?;
        self.check_keys(table, "[apt]", &APT_KEYS)?;
        let mut spec = AptSpec::default();
        if let Some(packages) = table.get("packages") {
            let mut seen = BTreeSet::new();
            for (i, (s, span)) in self
                .strings(packages, "apt.packages")?
                .into_iter()
                .enumerate()
            {
                let relation = parse_relation(s, true).map_err(|e| {
                    self.error(
                        self.inner_span(span.clone(), s, e.offset, s.len() - e.offset),
                        format!("invalid apt package `apt.packages[{i}]`: {}", e.message),
                    )
                    .with_help("write `name`, `name=version`, `name (>= version)` or `name:arch`")
                })?;
                if !seen.insert(relation.name.clone()) {
                    return Err(self.error(
                        span,
                        format!("apt package `{}` is listed twice", relation.name),
                    ));
                }
                spec.packages.push(relation);
            }
        }
        if let Some(v) = table.get("install-recommends") {
            spec.install_recommends = self.bool(v, "apt.install-recommends")?;
        }
        if let Some(v) = table.get("sources") {
            let mut sources = Vec::new();
            for (s, span) in self.strings(v, "apt.sources")? {
                check_apt_source_line(s).map_err(|e| self.error(span, e.to_string()))?;
                sources.push(s.trim().to_string());
            }
            spec.sources = Some(sources);
        }
        if let Some(v) = table.get("exclude-sources") {
            for (s, span) in self.strings(v, "apt.exclude-sources")? {
                let s = s.trim();
                if !(s.starts_with("http://") || s.starts_with("https://")) {
                    return Err(self
                        .error(span, format!("`{s}` is not the start of a source URL"))
                        .with_help("write the URL prefix of the sources to leave out, e.g. \"https://archive.vendor.example/\""));
                }
                spec.exclude_sources.push(s.to_string());
            }
        }
        Ok(spec)
    }

    fn pip(&self, value: &Value) -> Result<PipSpec, SourceError> {
        let table = self.table(value, "pip")?;
        self.check_keys(table, "[pip]", &PIP_KEYS)?;
        let mut spec = PipSpec::default();
        if let Some(packages) = table.get("packages") {
            let mut seen = BTreeSet::new();
            for (i, (s, span)) in self
                .strings(packages, "pip.packages")?
                .into_iter()
                .enumerate()
            {
                let requirement = pep508_rs::Requirement::from_str(s).map_err(|e| {
                    self.error(
                        self.inner_span(span.clone(), s, e.start, e.len),
                        format!(
                            "invalid Python requirement `pip.packages[{i}]`: {}",
                            e.message
                        ),
                    )
                    .with_help(
                        "write a PEP 508 requirement, such as `pandas>=2,<3` or `requests[socks]`",
                    )
                })?;
                if !seen.insert(requirement.name.to_string()) {
                    return Err(self.error(
                        span,
                        format!("Python package `{}` is listed twice", requirement.name),
                    ));
                }
                spec.packages.push(requirement);
            }
        }
        if let Some(v) = table.get("index-url") {
            let s = self.string(v, "pip.index-url")?;
            spec.index_url = Some(self.url(s, v.span(), "pip.index-url")?);
        }
        if let Some(v) = table.get("extra-index-urls") {
            for (i, (s, span)) in self
                .strings(v, "pip.extra-index-urls")?
                .into_iter()
                .enumerate()
            {
                spec.extra_index_urls.push(self.url(
                    s,
                    span,
                    &format!("pip.extra-index-urls[{i}]"),
                )?);
            }
        }
        if let Some(v) = table.get("allow-upgrade") {
            for (s, span) in self.strings(v, "pip.allow-upgrade")? {
                let name = pep508_rs::PackageName::from_str(s).map_err(|e| {
                    self.error(
                        span,
                        format!(
                            "`{s}` in `pip.allow-upgrade` is not a valid Python package name: {e}"
                        ),
                    )
                })?;
                spec.allow_upgrade.push(name.to_string());
            }
        }
        Ok(spec)
    }

    fn r(&self, value: &Value) -> Result<RSpec, SourceError> {
        let table = self.table(value, "r")?;
        self.check_keys(table, "[r]", &R_KEYS)?;
        let mut spec = RSpec::default();
        if let Some(packages) = table.get("packages") {
            let mut seen = BTreeSet::new();
            for (i, (s, span)) in self
                .strings(packages, "r.packages")?
                .into_iter()
                .enumerate()
            {
                let requirement = RRequirement::from_str(s).map_err(|e| {
                    self.error(
                        self.inner_span(span.clone(), s, e.offset, s.len() - e.offset),
                        format!("invalid R package `r.packages[{i}]`: {}", e.message),
                    )
                    .with_help("write `name` or `name (>= version)`")
                })?;
                if !seen.insert(requirement.name.clone()) {
                    return Err(self.error(
                        span,
                        format!("R package `{}` is listed twice", requirement.name),
                    ));
                }
                spec.packages.push(requirement);
            }
        }
        if let Some(v) = table.get("repos") {
            let mut repos = Vec::new();
            for (i, (s, span)) in self.strings(v, "r.repos")?.into_iter().enumerate() {
                repos.push(self.url(s, span, &format!("r.repos[{i}]"))?);
            }
            spec.repos = Some(repos);
        }
        if let Some(v) = table.get("suggests") {
            spec.suggests = self.bool(v, "r.suggests")?;
        }
        if let Some(v) = table.get("allow-upgrade") {
            for (s, span) in self.strings(v, "r.allow-upgrade")? {
                if !crate::r::requirement::is_valid_package_name(s) {
                    return Err(self
                        .error(
                            span,
                            format!("`{s}` in `r.allow-upgrade` is not a valid R package name"),
                        )
                        .with_help(
                            "R package names are letters, digits and `.`, starting with a letter",
                        ));
                }
                if !spec.allow_upgrade.iter().any(|n| n == s) {
                    spec.allow_upgrade.push(s.to_string());
                }
            }
        }
        if let Some(v) = table.get("system-requirements") {
            spec.system_requirements = self.bool(v, "r.system-requirements")?;
        }
        Ok(spec)
    }

    fn image(&self, value: &Value) -> Result<ImageSpec, SourceError> {
        let table = self.table(value, "image")?;
        self.check_keys(table, "[image]", &IMAGE_KEYS)?;
        let mut spec = ImageSpec::default();
        if let Some(v) = table.get("env") {
            let mut env = BTreeMap::new();
            for (key, span, value) in self.string_map(v, "image.env")? {
                if key.is_empty() || key.contains(['=', '\0']) {
                    return Err(self.error(
                        span,
                        format!("`{key}` is not a valid environment variable name"),
                    ));
                }
                if key.starts_with(runtime::ENV_PREFIX) {
                    return Err(self.runtime_owned(span, &key));
                }
                env.insert(key, value);
            }
            spec.env = env;
        }
        if let Some(v) = table.get("labels") {
            let mut labels = BTreeMap::new();
            for (key, span, value) in self.string_map(v, "image.labels")? {
                if key.is_empty() {
                    return Err(self.error(span, "label names must not be empty"));
                }
                if key.starts_with(runtime::LABEL_PREFIX) {
                    return Err(self.runtime_owned(span, &key));
                }
                labels.insert(key, value);
            }
            spec.labels = labels;
        }
        if let Some(v) = table.get("user") {
            let user = self.string(v, "image.user").map_err(|e| {
                if v.get_ref().is_integer() {
                    e.with_help("quote it: user = \"8536\"")
                } else {
                    e
                }
            })?;
            if user.trim().is_empty() || user.contains(char::is_whitespace) {
                return Err(self.error(v.span(), "`image.user` must be a user name or uid[:gid]"));
            }
            spec.user = Some(user.to_string());
        }
        if let Some(v) = table.get("workdir") {
            let dir = self.string(v, "image.workdir")?;
            if !dir.starts_with('/') {
                return Err(self.error(
                    v.span(),
                    format!("`image.workdir` must be an absolute path, not `{dir}`"),
                ));
            }
            spec.workdir = Some(dir.to_string());
        }
        if let Some(v) = table.get("entrypoint") {
            spec.entrypoint = Some(
                self.strings(v, "image.entrypoint")?
                    .into_iter()
                    .map(|(s, _)| s.to_string())
                    .collect(),
            );
        }
        if let Some(v) = table.get("cmd") {
            spec.cmd = Some(
                self.strings(v, "image.cmd")?
                    .into_iter()
                    .map(|(s, _)| s.to_string())
                    .collect(),
            );
        }
        if let Some(v) = table.get("compression") {
            let s = self.string(v, "image.compression")?;
            spec.compression = Compression::from_name(s).ok_or_else(|| {
                self.error(v.span(), format!("unknown compression `{s}`"))
                    .with_help(format!("use one of: {}", Compression::NAMES.join(", ")))
            })?;
        }
        Ok(spec)
    }

    fn runtime_owned(&self, span: Range<usize>, key: &str) -> SourceError {
        self.error(span, format!("`{key}` is Cloudera runtime metadata and is set from [runtime]"))
            .with_help("move it to [runtime]: rtlock writes the ML_RUNTIME_* variable and the com.cloudera.ml.runtime.* label together so they always agree")
    }

    fn runtime(&self, value: &Value) -> Result<RuntimeMetadata, SourceError> {
        let table = self.table(value, "runtime")?;
        for (key, _) in table.iter() {
            let name: &str = key.get_ref();
            if FORBIDDEN_RUNTIME_KEYS.contains(&name) {
                return Err(self
                    .error(key.span(), format!("`{name}` cannot be set in a custom runtime"))
                    .with_help(format!(
                        "Cloudera's base runtime sets {} and custom runtimes must keep it; remove this key",
                        runtime::env_name(name)
                    )));
            }
        }
        self.check_keys(table, "[runtime]", &RUNTIME_KEYS)?;
        let text = |key: &str| -> Result<Option<String>, SourceError> {
            table
                .get(key)
                .map(|v| {
                    self.nonempty_string(v, &format!("runtime.{key}"))
                        .map(str::to_string)
                })
                .transpose()
        };
        let Some(edition) = text("edition")? else {
            return Err(self
                .error(value.span(), "missing `edition` in [runtime]")
                .with_help("Cloudera requires an edition for custom runtimes, such as edition = \"Data Science\""));
        };
        let maintenance_version = match table.get("maintenance-version") {
            None => None,
            Some(v) => Some(self.maintenance_version(v)?),
        };
        Ok(RuntimeMetadata {
            edition,
            editor: text("editor")?,
            description: text("description")?,
            short_version: text("short-version")?,
            maintenance_version,
            full_version: text("full-version")?,
        })
    }

    fn maintenance_version(&self, v: &Value) -> Result<u64, SourceError> {
        let bad = |found: String| {
            self.error(
                v.span(),
                format!(
                    "`runtime.maintenance-version` must be a non-negative integer, found {found}"
                ),
            )
            .with_help("write it without quotes, such as maintenance-version = 3")
        };
        match v.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| bad(format!("`{}`", i.as_str()))),
            _ => Err(bad(type_name(v).to_string())),
        }
    }

    fn lock(&self, value: &Value) -> Result<LockSpec, SourceError> {
        let table = self.table(value, "lock")?;
        self.check_keys(table, "[lock]", &LOCK_KEYS)?;
        let mut spec = LockSpec::default();
        if let Some(v) = table.get("as-of") {
            let text = match v.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Datetime(d) => d.to_string(),
                _ => {
                    return Err(self.error(
                        v.span(),
                        format!("`lock.as-of` must be a date-time, found {}", type_name(v)),
                    ));
                }
            };
            let timestamp = text.parse::<jiff::Timestamp>().map_err(|_| {
                self.error(
                    v.span(),
                    format!("`lock.as-of` is not an RFC 3339 date-time with an offset: `{text}`"),
                )
                .with_help("write it as as-of = \"2026-11-01T00:00:00Z\"")
            })?;
            spec.as_of = Some(timestamp);
        }
        Ok(spec)
    }
}

fn type_name(value: &Value) -> &'static str {
    match value.get_ref() {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn parse_platform(s: &str) -> Option<Platform> {
    let normalized = match s {
        "linux/arm64/v8" => "linux/arm64",
        other => other,
    };
    if !SUPPORTED_PLATFORMS.contains(&normalized) {
        return None;
    }
    normalized.parse().ok()
}

/// What is wrong with a one-line apt source of `[apt] sources`.
#[derive(Debug, thiserror::Error)]
enum BadSourceLine {
    #[error(
        "apt source `{0}` must start with `deb` (one-line sources.list form; deb-src is not used)"
    )]
    NotDeb(String),
    #[error("apt source `{0}` has an unclosed `[` option list")]
    UnclosedOptions(String),
    #[error("apt source `{0}` has no URI")]
    NoUri(String),
    #[error("apt source `{line}`: `{uri}` is not a valid URI: {reason}")]
    BadUri {
        line: String,
        uri: String,
        reason: url::ParseError,
    },
    #[error("apt source `{0}` has no suite")]
    NoSuite(String),
    #[error("apt source `{line}` names no component (such as `main`) after the suite `{suite}`")]
    NoComponent { line: String, suite: String },
}

/// A light check of a one-line apt source (`deb [options] URI suite [components]`); the
/// apt module reads it fully when it resolves.
fn check_apt_source_line(line: &str) -> Result<(), BadSourceLine> {
    let mut rest = line.trim();
    let Some(after_type) = rest
        .strip_prefix("deb ")
        .or_else(|| rest.strip_prefix("deb\t"))
    else {
        return Err(BadSourceLine::NotDeb(line.to_string()));
    };
    rest = after_type.trim_start();
    if let Some(options) = rest.strip_prefix('[') {
        let Some(end) = options.find(']') else {
            return Err(BadSourceLine::UnclosedOptions(line.to_string()));
        };
        rest = options[end + 1..].trim_start();
    }
    let mut words = rest.split_whitespace();
    let uri = words
        .next()
        .ok_or_else(|| BadSourceLine::NoUri(line.to_string()))?;
    url::Url::parse(uri).map_err(|reason| BadSourceLine::BadUri {
        line: line.to_string(),
        uri: uri.to_string(),
        reason,
    })?;
    let suite = words
        .next()
        .ok_or_else(|| BadSourceLine::NoSuite(line.to_string()))?;
    if !suite.ends_with('/') && words.next().is_none() {
        return Err(BadSourceLine::NoComponent {
            line: line.to_string(),
            suite: suite.to_string(),
        });
    }
    Ok(())
}
