//! Reading `runtime.lock`: the format version first (so a newer lock gets a clear
//! "upgrade rtlock" rather than a confusing field error), then the typed contents, then
//! checks of what serde cannot see (digest shapes).

use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::{FORMAT_VERSION, Lockfile, LockfileError};
use crate::diagnostic::SourceError;

/// Parses lock `text`; `path` is used in messages only.
pub fn parse(text: &str, path: &Path) -> Result<Lockfile, LockfileError> {
    let invalid = |span: std::ops::Range<usize>, message: String| {
        LockfileError::Invalid(Box::new(SourceError::new(path, text, span, message)))
    };
    let table = DeTable::parse(text).map_err(|e| {
        invalid(
            e.span().unwrap_or(0..0),
            format!("invalid lockfile: {}", e.message().trim_end()),
        )
    })?;
    let Some(version) = table.get_ref().get("version") else {
        return Err(invalid(
            0..0,
            "missing `version`: this is not an rtlock lockfile (run `rtlock lock` to write one)"
                .into(),
        ));
    };
    let found = match version.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
        _ => None,
    };
    match found {
        Some(FORMAT_VERSION) => {}
        Some(found) if found > FORMAT_VERSION => {
            return Err(LockfileError::Newer {
                path: path.to_path_buf(),
                found,
            });
        }
        _ => {
            return Err(invalid(
                version.span(),
                format!(
                    "unsupported lockfile `version`; this rtlock reads version {FORMAT_VERSION}"
                ),
            ));
        }
    }
    let lock: Lockfile = toml::from_str(text).map_err(|e| {
        invalid(
            e.span().unwrap_or(0..0),
            format!("invalid lockfile: {}", e.message().trim_end()),
        )
    })?;
    check_digests(&lock).map_err(|message| LockfileError::Malformed {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(lock)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(is_sha256_hex)
}

fn check_digests(lock: &Lockfile) -> Result<(), String> {
    if !is_digest(&lock.manifest) {
        return Err(format!(
            "`manifest` must be `sha256:` and 64 lower-case hex digits, not `{}`",
            lock.manifest
        ));
    }
    for (what, digest) in [
        ("base.digest", &lock.base.digest),
        ("base.manifest", &lock.base.manifest),
    ] {
        if !is_digest(digest) {
            return Err(format!(
                "`{what}` must be `sha256:` and 64 lower-case hex digits, not `{digest}`"
            ));
        }
    }
    let entries = lock
        .apt
        .iter()
        .map(|p| ("apt", &p.name, &p.sha256))
        .chain(lock.pip.iter().map(|p| ("pip", &p.name, &p.sha256)))
        .chain(lock.r.iter().map(|p| ("r", &p.name, &p.sha256)));
    for (ecosystem, name, sha256) in entries {
        if !is_sha256_hex(sha256) {
            return Err(format!(
                "[[{ecosystem}]] `{name}`: sha256 must be 64 lower-case hex digits, not `{sha256}`"
            ));
        }
    }
    Ok(())
}
