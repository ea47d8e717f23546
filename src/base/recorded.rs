//! The files a package's own record says it installed, with the digest it recorded:
//! dpkg's `*.md5sums`, pip's `RECORD`, R's `MD5`. Each ecosystem's `inventory.rs` reads
//! its record into [`Recorded`] files; `audit` compares them with what the image holds.

use crate::image::rootfs::FileDigests;

/// One file of a package's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Absolute, inside the image (`/usr/bin/bash`).
    pub path: String,
    pub digest: RecordedDigest,
}

/// The digest a record gives a file, in the algorithm that record uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedDigest {
    Md5([u8; 16]),
    Sha256([u8; 32]),
}

impl RecordedDigest {
    /// Does `found` (a file's content) match this record?
    pub fn matches(&self, found: &FileDigests) -> bool {
        match self {
            RecordedDigest::Md5(md5) => *md5 == found.md5,
            RecordedDigest::Sha256(sha256) => *sha256 == found.sha256,
        }
    }

    /// `md5:…` or `sha256:…`, lowercase hex.
    pub fn shown(&self) -> String {
        match self {
            RecordedDigest::Md5(d) => format!("md5:{}", hex::encode(d)),
            RecordedDigest::Sha256(d) => format!("sha256:{}", hex::encode(d)),
        }
    }

    /// `found`'s digest in this record's algorithm, shown as [`shown`](Self::shown).
    pub fn shown_of(&self, found: &FileDigests) -> String {
        match self {
            RecordedDigest::Md5(_) => RecordedDigest::Md5(found.md5).shown(),
            RecordedDigest::Sha256(_) => RecordedDigest::Sha256(found.sha256).shown(),
        }
    }

    /// An MD5 written as 32 hex digits (dpkg's and R's records).
    pub fn md5_hex(text: &str) -> Option<RecordedDigest> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(RecordedDigest::Md5(out))
    }
}

/// `base/rel` with `rel`'s `.` and `..` applied, as an absolute path; `None` when it
/// would climb above the root (a record cannot name a file outside the image).
pub fn join(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_inside_the_root() {
        assert_eq!(
            join("/usr/local/lib/python3.11/site-packages", "../../../bin/x").as_deref(),
            Some("/usr/local/bin/x")
        );
        assert_eq!(join("/usr/lib", "/etc/x").as_deref(), Some("/etc/x"));
        assert_eq!(join("/a", "../../x"), None);
        assert!(RecordedDigest::md5_hex("00").is_none());
        let d = RecordedDigest::md5_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap();
        assert!(d.matches(&FileDigests::of(b"")));
        assert_eq!(d.shown(), "md5:d41d8cd98f00b204e9800998ecf8427e");
    }
}
