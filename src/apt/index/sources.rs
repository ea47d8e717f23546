//! apt sources: which repositories (URI, suite, components) to read, for which
//! architectures, and with which keys to check them.
//!
//! Both of apt's forms are read, one-line `deb [opts] URI suite [component…]` (in
//! `sources.list`, `*.list` and the manifest's `[apt] sources`) and deb822 paragraphs
//! (`*.sources`), into the same plain [`AptSource`]: one value per (URI, suite), since
//! that is what has one `InRelease`. `deb-src` entries and disabled paragraphs are left
//! out: rtlock installs binary packages only.

use crate::deb822;
use crate::image::ImageError;
use crate::image::rootfs::RootFs;

/// One repository suite to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// The archive root, always ending in `/` (so relative paths join under it).
    pub uri: String,
    /// `bookworm`, `stable-updates`; for a flat repository the path ending in `/`
    /// (`./`, `pool/`), in which case `components` is empty.
    pub suite: String,
    pub components: Vec<String>,
    /// `arch=` / `Architectures:`; empty means the caller's default architectures.
    pub architectures: Vec<String>,
    pub signed_by: Option<SignedBy>,
    /// `trusted=yes`: apt accepts the repository unsigned, and so does rtlock.
    pub trusted: bool,
    /// `check-valid-until=no` turns off the expiry check of the Release's
    /// `Valid-Until` (needed for snapshot archives, whose Releases are old by design).
    pub check_valid_until: bool,
    /// Where it was written (`/etc/apt/sources.list:3`, `manifest [apt] sources`), for
    /// errors.
    pub origin: String,
}

/// The keys a source names with `signed-by` / `Signed-By`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedBy {
    /// Keyring files (absolute paths inside the image) or key fingerprints.
    Keyrings(Vec<String>),
    /// An ASCII-armoured public key block written in the `.sources` file itself.
    Inline(String),
}

impl AptSource {
    /// A flat repository (`deb URI dir/`): its indexes sit right under `URI/dir/`.
    pub fn is_flat(&self) -> bool {
        self.components.is_empty() && self.suite.ends_with('/')
    }

    /// The directory holding `InRelease` (`URI/dists/SUITE/`, or `URI/SUITE` when flat).
    pub fn dist_url(&self) -> String {
        if self.is_flat() {
            let suite = self.suite.trim_start_matches("./");
            format!("{}{}", self.uri, suite)
        } else {
            format!("{}dists/{}/", self.uri, self.suite)
        }
    }
}

/// Why a source line could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SourceError {
    pub origin: String,
    pub message: String,
}

fn fail(origin: &str, message: impl Into<String>) -> SourceError {
    SourceError {
        origin: origin.to_string(),
        message: message.into(),
    }
}

fn with_slash(uri: &str) -> String {
    if uri.ends_with('/') {
        uri.to_string()
    } else {
        format!("{uri}/")
    }
}

fn is_yes(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "yes" | "true" | "1")
}

/// One-line entries. `origin` names the file (line numbers are added); comments and
/// blank lines are skipped, `deb-src` lines ignored, and anything else that is not a
/// well-formed `deb` line is an error, because a silently dropped source changes what
/// gets resolved.
pub fn parse_one_line(text: &str, origin: &str) -> Result<Vec<AptSource>, SourceError> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let here = format!("{origin}:{}", index + 1);
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        match kind {
            "deb" => {}
            "deb-src" => continue,
            other => {
                return Err(fail(
                    &here,
                    format!("expected `deb` or `deb-src`, found `{other}`"),
                ));
            }
        }
        let mut rest = rest.trim_start();
        let mut options = "";
        if let Some(after) = rest.strip_prefix('[') {
            let Some((inside, tail)) = after.split_once(']') else {
                return Err(fail(&here, "the option list `[` is not closed by `]`"));
            };
            options = inside;
            rest = tail;
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            return Err(fail(
                &here,
                "expected `deb [options] URI SUITE [COMPONENT…]`",
            ));
        };
        let mut source = AptSource {
            uri: with_slash(uri),
            suite: suite.to_string(),
            components: words.map(str::to_string).collect(),
            architectures: Vec::new(),
            signed_by: None,
            trusted: false,
            check_valid_until: true,
            origin: here.clone(),
        };
        for option in options.split_whitespace() {
            let Some((name, value)) = option.split_once('=') else {
                return Err(fail(
                    &here,
                    format!("option `{option}` should be `name=value`"),
                ));
            };
            let values = || value.split(',').map(str::to_string).collect::<Vec<_>>();
            match name {
                "arch" => source.architectures = values(),
                "signed-by" => source.signed_by = Some(SignedBy::Keyrings(values())),
                "trusted" => source.trusted = is_yes(value),
                "check-valid-until" => source.check_valid_until = is_yes(value),
                // lang=, target=, pdiffs=, by-hash=…: apt's download
                // tuning, no bearing on which packages exist.
                _ => {}
            }
        }
        check_suite(&source)?;
        out.push(source);
    }
    Ok(out)
}

/// deb822 `.sources` paragraphs. Each paragraph gives one [`AptSource`] per URI and
/// suite; `Enabled: no` paragraphs and `Types:` without `deb` give none.
pub fn parse_deb822(text: &str, origin: &str) -> Result<Vec<AptSource>, SourceError> {
    let mut out = Vec::new();
    for paragraph in deb822::paragraphs(text) {
        let here = format!("{origin}:{}", deb822::line_of(text, paragraph.offset));
        let words = |name: &str| -> Vec<String> {
            paragraph
                .get(name)
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        if paragraph.get("Enabled").is_some_and(|v| !is_yes(v)) {
            continue;
        }
        let types = words("Types");
        if types.is_empty() {
            return Err(fail(&here, "the paragraph has no `Types:` field"));
        }
        if !types.iter().any(|t| t == "deb") {
            continue;
        }
        let uris = words("URIs");
        let suites = words("Suites");
        if uris.is_empty() || suites.is_empty() {
            return Err(fail(&here, "a source needs both `URIs:` and `Suites:`"));
        }
        let signed_by = paragraph.get("Signed-By").map(|value| {
            if value.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                SignedBy::Inline(deb822::unfold(value))
            } else {
                SignedBy::Keyrings(value.split_whitespace().map(str::to_string).collect())
            }
        });
        let trusted = paragraph.get("Trusted").is_some_and(is_yes);
        let check_valid_until = paragraph.get("Check-Valid-Until").is_none_or(is_yes);
        for uri in &uris {
            for suite in &suites {
                let source = AptSource {
                    uri: with_slash(uri),
                    suite: suite.clone(),
                    components: words("Components"),
                    architectures: words("Architectures"),
                    signed_by: signed_by.clone(),
                    trusted,
                    check_valid_until,
                    origin: here.clone(),
                };
                check_suite(&source)?;
                out.push(source);
            }
        }
    }
    Ok(out)
}

/// apt's rule: a suite ending in `/` is a flat repository and takes no components;
/// any other suite needs at least one.
fn check_suite(source: &AptSource) -> Result<(), SourceError> {
    match (source.suite.ends_with('/'), source.components.is_empty()) {
        (true, false) => Err(fail(
            &source.origin,
            format!(
                "suite `{}` ends in `/` (a flat repository), which takes no components",
                source.suite
            ),
        )),
        (false, true) => Err(fail(
            &source.origin,
            format!(
                "suite `{}` needs at least one component (e.g. `main`), \
                 or a trailing `/` for a flat repository",
                source.suite
            ),
        )),
        _ => Ok(()),
    }
}

/// The manifest's `[apt] sources` (one-line form, one entry per string).
pub fn from_manifest(lines: &[String]) -> Result<Vec<AptSource>, SourceError> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let origin = format!("runtime.toml [apt] sources[{i}]");
        for mut source in parse_one_line(line, &origin)? {
            source.origin = origin.clone();
            out.push(source);
        }
    }
    Ok(out)
}

const SOURCES_LIST: &str = "etc/apt/sources.list";
const SOURCES_DIR: &str = "etc/apt/sources.list.d";

/// Either kind of failure reading an image's sources.
#[derive(Debug, thiserror::Error)]
pub enum ImageSourcesError {
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// The sources apt in the image would use: `/etc/apt/sources.list`, then
/// `sources.list.d/*.list` and `*.sources` in name order, as apt reads them.
pub fn from_image(rootfs: &RootFs) -> Result<Vec<AptSource>, ImageSourcesError> {
    let mut out = Vec::new();
    if let Some(bytes) = rootfs.read_file(SOURCES_LIST)? {
        out.extend(parse_one_line(
            &String::from_utf8_lossy(&bytes),
            "/etc/apt/sources.list",
        )?);
    }
    for (name, _) in rootfs.list_dir(SOURCES_DIR)? {
        let path = format!("{SOURCES_DIR}/{name}");
        let shown = format!("/{path}");
        let parse = if name.ends_with(".list") {
            parse_one_line
        } else if name.ends_with(".sources") {
            parse_deb822
        } else {
            continue;
        };
        if let Some(bytes) = rootfs.read_file(&path)? {
            out.extend(parse(&String::from_utf8_lossy(&bytes), &shown)?);
        }
    }
    Ok(out)
}
