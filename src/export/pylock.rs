//! `rtlock export pylock`: a PEP 751 `pylock.toml` (lock-version 1.0) for the base image's
//! platform, one wheel per package.
//!
//! What the lock knows goes in; what it does not is left out rather than guessed:
//! - `environments`: the base's platform as a marker (`linux/amd64` → `platform_machine
//!   == 'x86_64'`), so an installer on another machine refuses the file.
//! - `requires-python`: `==X.Y.*` when the wheels' CPython ABI tags name one Python
//!   (`cp311`); omitted when only pure-Python or abi3 wheels are locked.
//! - `packages.index`: omitted, since the lock keeps each wheel's URL but not the index root
//!   it came from.
//! - `packages.dependencies`: `{ name }` references to other entries; requirements the
//!   base image satisfies have no entry and are left out (the PEP makes them purely
//!   informational anyway).
//!
//! Written by hand, like the lock itself, so the bytes depend on the lock alone; key order
//! follows the PEP's.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use super::{ExportError, PipSet, provenance};
use crate::lockfile::Lockfile;
use crate::oci::types::Platform;

/// The pylock.toml for the pip packages of `lock`, read from `path` (named in the header).
/// Fails when the lock has no pip packages.
pub fn pylock(lock: &Lockfile, path: &Path) -> Result<String, ExportError> {
    let set = PipSet::new(lock, path)?;
    let mut out = String::new();
    for line in provenance(lock, path) {
        let _ = writeln!(out, "# {line}");
    }
    out.push_str("\nlock-version = \"1.0\"\n");
    if let Some(marker) = platform_marker(&lock.base.platform) {
        let _ = writeln!(out, "environments = [{}]", string(&marker));
    }
    if let Some(python) = cpython_of(set.packages.values().map(|p| p.file.as_str())) {
        let _ = writeln!(
            out,
            "requires-python = {}",
            string(&format!("=={python}.*"))
        );
    }
    out.push_str("created-by = \"rtlock\"\n");

    for (name, p) in &set.packages {
        out.push_str("\n[[packages]]\n");
        let _ = writeln!(out, "name = {}", string(name));
        let _ = writeln!(out, "version = {}", string(p.version.as_str()));
        let dependencies = set.dependencies(p);
        if !dependencies.is_empty() {
            out.push_str("dependencies = [\n");
            for d in dependencies {
                let _ = writeln!(out, "    {{ name = {} }},", string(&d));
            }
            out.push_str("]\n");
        }
        let _ = writeln!(
            out,
            "wheels = [\n    {{ name = {}, url = {}, size = {}, hashes = {{ sha256 = {} }} }},\n]",
            string(&p.file),
            string(&p.url),
            p.size,
            string(&p.sha256)
        );
    }
    Ok(out)
}

/// The PEP 508 marker of an OCI platform rtlock builds for; `None` for others.
fn platform_marker(platform: &Platform) -> Option<String> {
    let machine = match (
        platform.os.as_str(),
        platform.architecture.as_str(),
        platform.variant.as_deref(),
    ) {
        ("linux", "amd64", None) => "x86_64",
        ("linux", "arm64", None | Some("v8")) => "aarch64",
        _ => return None,
    };
    Some(format!(
        "sys_platform == 'linux' and platform_machine == '{machine}'"
    ))
}

/// `X.Y` when the CPython ABI tags (`cp311`, `cp37m`) of these wheel file names name
/// exactly one Python; `None` when none does (pure or abi3 wheels) or they disagree.
fn cpython_of<'a>(files: impl Iterator<Item = &'a str>) -> Option<String> {
    let versions: BTreeSet<String> = files
        .filter_map(|f| {
            let stem = f.strip_suffix(".whl")?;
            // name-version[-build]-python-abi-platform: the ABI is the second field from
            // the end, whatever the name holds.
            let abi = stem.rsplit('-').nth(1)?;
            let digits: String = abi
                .strip_prefix("cp")?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let (major, minor) = digits.split_at_checked(1)?;
            (!minor.is_empty()).then(|| format!("{major}.{minor}"))
        })
        .collect();
    match versions.len() {
        1 => versions.into_iter().next(),
        _ => None,
    }
}

/// A TOML basic string. JSON's string escaping is a subset of TOML's (`\"`, `\\`, `\n`,
/// `\uXXXX` for control characters), and the values written here — names, versions,
/// URLs, hex hashes, markers — hold no DEL, the one character JSON leaves raw and TOML
/// forbids.
fn string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_comes_from_cpython_abi_tags_only() {
        let files = [
            "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "six-1.16.0-py2.py3-none-any.whl",
            "cryptography-43.0.1-cp39-abi3-manylinux_2_28_x86_64.whl",
            "pkg-1.0-1-cp311-cp311-linux_x86_64.whl",
        ];
        assert_eq!(cpython_of(files.into_iter()).as_deref(), Some("3.11"));
        assert_eq!(cpython_of(files[1..3].iter().copied()), None);
        let mixed = ["a-1-cp310-cp310-any.whl", "b-1-cp311-cp311-any.whl"];
        assert_eq!(cpython_of(mixed.into_iter()), None);
        assert_eq!(
            cpython_of(["old-1-cp37-cp37m-any.whl"].into_iter()).as_deref(),
            Some("3.7")
        );
    }

    #[test]
    fn platforms_map_to_machine_markers() {
        let marker = |p: &str| platform_marker(&p.parse().unwrap());
        assert_eq!(
            marker("linux/amd64").as_deref(),
            Some("sys_platform == 'linux' and platform_machine == 'x86_64'")
        );
        for arm64 in ["linux/arm64", "linux/arm64/v8"] {
            assert_eq!(
                marker(arm64).as_deref(),
                Some("sys_platform == 'linux' and platform_machine == 'aarch64'")
            );
        }
        assert_eq!(marker("linux/s390x"), None);
        assert_eq!(marker("linux/amd64/v3"), None);
    }

    #[test]
    fn strings_are_toml_basic_strings() {
        let s = "a \"quoted\" \\ path\n\u{1}";
        let doc = format!("k = {}\n", string(s));
        let parsed: toml::Table = toml::from_str(&doc).unwrap();
        assert_eq!(parsed["k"].as_str(), Some(s));
    }
}
