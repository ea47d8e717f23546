//! Reading `runtime.lock`: the format version first (so a newer lock gets a clear
//! "upgrade rtlock" rather than a confusing field error), then the typed contents
//! (digests, platform, compression and versions are parsed here; a refusal is worded
//! by [`super::validate::refused`]), then the checks of what serde cannot see
//! ([`super::validate`]).

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
        let span = e.span().unwrap_or(0..0);
        // A digest, the platform, the compression or a version that does not parse:
        // worded as the other checks word theirs, with the entry it belongs to.
        match super::validate::refused(table.get_ref(), text, path, span.clone()) {
            Some(located) => LockfileError::Invalid(Box::new(located)),
            None => invalid(
                span,
                format!("invalid lockfile: {}", e.message().trim_end()),
            ),
        }
    })?;
    super::validate::validate(&lock, table.get_ref(), text, path)
        .map_err(|e| LockfileError::Invalid(Box::new(e)))?;
    Ok(lock)
}
