//! A suite's `Release` file: what the suite is (for pin priorities: `NotAutomatic`,
//! `ButAutomaticUpgrades`, `Suite`, `Codename`), when it stops being valid, and the
//! SHA256 of every index file under it, which is how the signature on `InRelease`
//! extends to the `Packages` files.

use crate::deb822;

/// The parsed fields rtlock uses. Read it only from signed text (see
/// [`super::signature`]): unsigned, its hashes prove nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    pub suite: Option<String>,
    pub codename: Option<String>,
    /// As written (RFC 2822, `Sat, 08 Nov 2025 09:33:40 UTC`).
    pub date: Option<String>,
    pub valid_until: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub acquire_by_hash: bool,
    /// Candidates from here get pin priority 1 (100 with `ButAutomaticUpgrades`).
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
    /// `No-Support-for-Architecture-all: Packages`: `all` packages are listed in each
    /// architecture's index, so `binary-all` is not read.
    pub no_support_for_architecture_all: bool,
    /// The `SHA256:` list, in file order.
    pub sha256: Vec<IndexFile>,
}

/// One entry of the `SHA256:` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// Relative to the `Release` file's directory (`main/binary-amd64/Packages.xz`).
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

impl Release {
    /// The entry for `path`, if the Release lists it.
    pub fn file(&self, path: &str) -> Option<&IndexFile> {
        self.sha256.iter().find(|f| f.path == path)
    }
}

/// Why a Release file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReleaseError(pub String);

/// Parses the text of a Release file (the signed part of an `InRelease`).
pub fn parse_release(text: &str) -> Result<Release, ReleaseError> {
    let paragraph = deb822::paragraphs(text)
        .next()
        .ok_or_else(|| ReleaseError("the Release file is empty".into()))?;
    let mut release = Release::default();
    let yes = |v: &str| v.eq_ignore_ascii_case("yes");
    let words = |v: &str| v.split_whitespace().map(str::to_string).collect();
    for field in paragraph.fields() {
        let value = field.value;
        match field.name.to_ascii_lowercase().as_str() {
            "origin" => release.origin = Some(value.to_string()),
            "label" => release.label = Some(value.to_string()),
            "suite" => release.suite = Some(value.to_string()),
            "codename" => release.codename = Some(value.to_string()),
            "date" => release.date = Some(value.to_string()),
            "valid-until" => release.valid_until = Some(value.to_string()),
            "architectures" => release.architectures = words(value),
            "components" => release.components = words(value),
            "acquire-by-hash" => release.acquire_by_hash = yes(value),
            "notautomatic" => release.not_automatic = yes(value),
            "butautomaticupgrades" => release.but_automatic_upgrades = yes(value),
            "no-support-for-architecture-all" => {
                release.no_support_for_architecture_all = value.eq_ignore_ascii_case("packages")
            }
            "sha256" => release.sha256 = parse_hashes(value)?,
            _ => {}
        }
    }
    if release.sha256.is_empty() {
        return Err(ReleaseError(
            "the Release file has no SHA256 list, so its index files cannot be checked".into(),
        ));
    }
    Ok(release)
}

fn parse_hashes(value: &str) -> Result<Vec<IndexFile>, ReleaseError> {
    let mut out = Vec::new();
    for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(sha256), Some(size), Some(path), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ReleaseError(format!(
                "SHA256 line `{line}` is not `HASH SIZE PATH`"
            )));
        };
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReleaseError(format!(
                "SHA256 line `{line}`: `{sha256}` is not a sha256"
            )));
        }
        let size = size
            .parse()
            .map_err(|_| ReleaseError(format!("SHA256 line `{line}`: bad size `{size}`")))?;
        out.push(IndexFile {
            path: path.to_string(),
            sha256: sha256.to_ascii_lowercase(),
            size,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_hashes() {
        let text = "Origin: Debian\nSuite: stable\nCodename: bookworm\nNotAutomatic: yes\n\
                    ButAutomaticUpgrades: yes\nAcquire-By-Hash: yes\nArchitectures: amd64 arm64\n\
                    Components: main contrib\nSHA256:\n \
                    0000000000000000000000000000000000000000000000000000000000000000 12 main/binary-amd64/Packages\n \
                    1111111111111111111111111111111111111111111111111111111111111111 3 main/binary-amd64/Packages.xz\n";
        let r = parse_release(text).unwrap();
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert!(r.not_automatic && r.but_automatic_upgrades && r.acquire_by_hash);
        assert_eq!(r.architectures, ["amd64", "arm64"]);
        assert_eq!(r.file("main/binary-amd64/Packages.xz").unwrap().size, 3);
        assert!(parse_release("Suite: x\n").is_err());
        assert!(parse_release("SHA256:\n zz 1 p\n").is_err());
    }
}
