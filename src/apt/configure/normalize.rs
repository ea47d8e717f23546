//! Normalizing what the maintainer scripts changed, so the captured entries depend on the
//! packages and the image only, never on the clock, the host or the run.
//!
//! The rules, each with its reason:
//!
//! - **No mtimes.** Every captured entry has `mtime: None` (the source-date-epoch): the
//!   container ran on the host's clock (the engine has no time namespace).
//! - **Noise is dropped** ([`is_noise`]): logs (`/var/log`), caches rebuilt on demand
//!   whose content records times or the order files were found in (ldconfig's
//!   `aux-cache`, fontconfig, man-db), the `-old` backups dpkg and debconf write before
//!   each change, lock files (empty, but their presence and mtimes vary), `/tmp` and
//!   `/run` (scratch space, emptied at boot), apt's lists and binary caches.
//!   `/etc/ld.so.cache` is kept: ldconfig writes it from the library directories in a
//!   fixed order, so it is the same every run (a test checks it).
//! - **Byte code only when checked by hash** ([`keeps_byte_code`]): a `.pyc` that is
//!   validated by the source's mtime and size would be stale or rewritten at run time;
//!   one checked by hash (py_compile's default when `SOURCE_DATE_EPOCH` is set) is
//!   as reproducible as its source.
//! - **Password ages** ([`shadow`]): `adduser`/`useradd` write today's date (days since
//!   the epoch) as the last password change of the users they add. In `/etc/shadow`
//!   (and its backup `/etc/shadow-`), that field becomes the source-date-epoch's day
//!   for the users the scripts added and those whose date they changed.
//!   (`/etc/gshadow` has no date.)
//! - **Hard links** to a dropped entry become copies of its content, so no link dangles.

use std::collections::BTreeMap;

use crate::oci::layer::{Content, Entry, EntryKind};

/// Paths (relative, no leading `/`) whose changes are never captured.
pub fn is_noise(path: &str) -> bool {
    const UNDER: [&str; 9] = [
        "var/log/",
        "tmp/",
        "run/",
        "var/tmp/",
        "var/cache/fontconfig/",
        "var/cache/man/",
        "var/lib/apt/lists/",
        "var/cache/apt/",
        "var/lib/dpkg/updates/",
    ];
    const EXACT: [&str; 8] = [
        "var/cache/ldconfig/aux-cache",
        "var/lib/dpkg/lock",
        "var/lib/dpkg/lock-frontend",
        "var/lib/dpkg/triggers/Lock",
        "var/cache/debconf/config.dat-old",
        "var/cache/debconf/templates.dat-old",
        "var/cache/debconf/passwords.dat-old",
        // shadow's lckpwdf(3) lock, left behind by useradd/groupadd.
        "etc/.pwd.lock",
    ];
    if UNDER.iter().any(|dir| path.starts_with(dir)) || EXACT.contains(&path) {
        return true;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    (parent == "var/lib/dpkg" || parent == "var/cache/debconf") && name.ends_with("-old")
}

/// Keeps a byte-code file only when it is validated by hash (PEP 552: the flags word
/// after the magic number has both the hash-based and the check-source bits).
pub(crate) fn keeps_byte_code(path: &str, content: &[u8]) -> bool {
    if !(path.ends_with(".pyc") && path.contains("/__pycache__/")) {
        return true;
    }
    content
        .get(4..8)
        .is_some_and(|flags| u32::from_le_bytes(flags.try_into().expect("4 bytes")) == 0b11)
}

/// `/etc/shadow` with the last-change day of the users a script added, or whose
/// last-change day a script changed, set to `day`; the other lines as they are (a
/// `usermod -s` of a base user keeps its date).
pub fn shadow(after: &[u8], before: &[u8], day: i64) -> Vec<u8> {
    let before = String::from_utf8_lossy(before);
    let old_days: BTreeMap<&str, &str> = before
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            Some((fields.next()?, fields.nth(1)?))
        })
        .collect();
    let text = String::from_utf8_lossy(after);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let mut fields: Vec<&str> = body.split(':').collect();
        let day = day.to_string();
        if fields.len() >= 3 && !fields[2].is_empty() && old_days.get(fields[0]) != Some(&fields[2])
        {
            fields[2] = &day;
        }
        out.push_str(&fields.join(":"));
        out.push_str(end);
    }
    out.into_bytes()
}

/// Applies the rules to `entries` as captured; `shadow_before` is `/etc/shadow` before
/// the scripts ran, `epoch` the source-date-epoch.
pub fn normalize(entries: Vec<Entry>, shadow_before: &[u8], epoch: i64) -> Vec<Entry> {
    let day = epoch.div_euclid(86_400);
    let bytes_of = |entry: &Entry| match &entry.kind {
        EntryKind::File(Content::Bytes(bytes)) => Some(bytes.clone()),
        _ => None,
    };
    let contents: BTreeMap<String, Vec<u8>> = entries
        .iter()
        .filter_map(|e| bytes_of(e).map(|b| (e.path.clone(), b)))
        .collect();
    let kept: Vec<Entry> = entries
        .into_iter()
        .filter(|e| !is_noise(&e.path))
        .filter(|e| match &e.kind {
            EntryKind::File(Content::Bytes(bytes)) => keeps_byte_code(&e.path, bytes),
            _ => true,
        })
        .map(|mut e| {
            e.mtime = None;
            if (e.path == "etc/shadow" || e.path == "etc/shadow-")
                && let EntryKind::File(Content::Bytes(bytes)) = &e.kind
            {
                e.kind = EntryKind::File(Content::Bytes(shadow(bytes, shadow_before, day)));
            }
            e
        })
        .collect();
    let present: std::collections::BTreeSet<String> = kept.iter().map(|e| e.path.clone()).collect();
    kept.into_iter()
        .map(|mut e| {
            if let EntryKind::HardLink { target } = &e.kind
                && !present.contains(target)
                && let Some(bytes) = contents.get(target)
            {
                e.kind = EntryKind::File(Content::Bytes(bytes.clone()));
            }
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_recognised_and_real_changes_are_not() {
        for noisy in [
            "var/log/dpkg.log",
            "var/log/apt/history.log",
            "var/cache/ldconfig/aux-cache",
            "var/lib/dpkg/status-old",
            "var/lib/dpkg/diversions-old",
            "var/cache/debconf/config.dat-old",
            "var/lib/dpkg/triggers/Lock",
            "tmp/rtlock-configure/new-files",
            "run/adduser",
            "var/cache/fontconfig/abc-le64.cache-8",
            "var/cache/man/index.db",
            "etc/.pwd.lock",
        ] {
            assert!(is_noise(noisy), "{noisy}");
        }
        for real in [
            "var/log",
            "tmp",
            "etc/ld.so.cache",
            "var/lib/dpkg/status",
            "var/lib/dpkg/triggers/File",
            "etc/passwd",
            "etc/papersize",
            "var/lib/dpkg/alternatives/rtlock-probe",
            "usr/share/doc/x/changelog-old.gz",
        ] {
            assert!(!is_noise(real), "{real}");
        }
    }

    #[test]
    fn byte_code_is_kept_only_when_checked_by_hash() {
        let pyc = |flags: u32| {
            let mut b = vec![0xa7, 0x0d, 0x0d, 0x0a];
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(&[0; 8]);
            b
        };
        let path = "usr/lib/python3/dist-packages/x/__pycache__/a.cpython-311.pyc";
        assert!(keeps_byte_code(path, &pyc(0b11)));
        assert!(!keeps_byte_code(path, &pyc(0)), "timestamp-based");
        assert!(!keeps_byte_code(path, &pyc(0b01)), "unchecked hash");
        assert!(keeps_byte_code("usr/share/x/a.pyc.txt", &pyc(0)));
    }

    #[test]
    fn only_the_password_ages_the_scripts_wrote_are_rewritten() {
        let before =
            b"root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\nsys:*:19000:0:99999:7:::\n";
        // bin: locked by a script (same day); sys: its password changed today.
        let after = b"root:*:19000:0:99999:7:::\nbin:!*:19000:0:99999:7:::\nsys:x:20419:0:99999:7:::\nprobe:!:20419::::::\nnoage:!::::::\n";
        let day = 1_761_955_200 / 86_400;
        let out = String::from_utf8(shadow(after, before, day)).unwrap();
        assert_eq!(
            out,
            format!(
                "root:*:19000:0:99999:7:::\nbin:!*:19000:0:99999:7:::\nsys:x:{day}:0:99999:7:::\nprobe:!:{day}::::::\nnoage:!::::::\n"
            )
        );
    }

    #[test]
    fn entries_lose_mtimes_noise_and_dangling_links() {
        let entries = vec![
            Entry::file("var/log/x.log", 0o644, Content::Bytes(b"x".to_vec())).mtime(5),
            Entry::file("etc/a", 0o644, Content::Bytes(b"a".to_vec())).mtime(5),
            Entry::file("tmp/keep-me-not", 0o644, Content::Bytes(b"data".to_vec())),
            Entry::hard_link("etc/b", "tmp/keep-me-not"),
            Entry::hard_link("etc/c", "etc/a"),
        ];
        let out = normalize(entries, b"", 0);
        let paths: Vec<_> = out.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["etc/a", "etc/b", "etc/c"]);
        assert!(out.iter().all(|e| e.mtime.is_none()));
        assert_eq!(
            out[1].kind,
            EntryKind::File(Content::Bytes(b"data".to_vec()))
        );
        assert_eq!(
            out[2].kind,
            EntryKind::HardLink {
                target: "etc/a".into()
            }
        );
    }
}
