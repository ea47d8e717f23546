//! The tar format of rtlock layers, chosen once: ustar headers, a PAX extended header
//! only where ustar cannot hold a value (long or non-ASCII names, big ids or sizes,
//! xattrs), no user/group names, no atime/ctime, mtime clamped, two zero blocks at the
//! end and no padding to a record size (as Docker and Go write layers).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use sha2::{Digest as _, Sha256};

use super::LayerError;
use super::entry::{Content, Entry, EntryKind};
use crate::oci::Digest;

const BLOCK: usize = 512;
/// Largest value of an 8-byte octal ustar field (uid, gid, mode).
const MAX_OCTAL_7: u64 = 0o7777777;
/// Largest value of the 12-byte octal size and mtime fields.
const MAX_OCTAL_11: u64 = 0o77777777777;
/// The name of every PAX extended header: fixed, so it never varies with a pid or a
/// path as GNU tar's does.
const PAX_HEADER_NAME: &[u8] = b"././@PaxHeader";

/// Entries checked and in archive order; only [`normalize`] makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedEntries(Vec<Entry>);

impl NormalizedEntries {
    pub fn entries(&self) -> &[Entry] {
        &self.0
    }
}

/// Checks the entries and puts them in archive order: by path, component by component,
/// so a directory comes right before what it holds. A hard link that would sort before
/// the file it names takes the file's place (tar readers need the file first), and the
/// other names link to it: the same set of entries always gives the same archive.
pub fn normalize(entries: Vec<Entry>) -> Result<NormalizedEntries, LayerError> {
    let mut entries = entries
        .into_iter()
        .map(clean_entry)
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by(|a, b| compare_paths(&a.path, &b.path));
    if let Some(pair) = entries.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(LayerError::Duplicate {
            path: pair[0].path.clone(),
        });
    }
    reorder_hard_links(&mut entries)?;
    Ok(NormalizedEntries(entries))
}

fn compare_paths(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

fn invalid(path: &str, reason: impl Into<String>) -> LayerError {
    LayerError::InvalidEntry {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// `/usr//bin/` → `usr/bin`; refuses `..`, `.` inside, NUL and the root itself.
fn clean_path(path: &str) -> Result<String, LayerError> {
    let trimmed = path.trim_start_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    let mut parts = Vec::new();
    for part in trimmed.split('/') {
        match part {
            "" => continue,
            "." | ".." => {
                return Err(invalid(
                    path,
                    format!("`{part}` is not allowed in a layer path"),
                ));
            }
            p if p.contains('\0') => return Err(invalid(path, "a path cannot hold a NUL byte")),
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err(invalid(
            path,
            "the image root itself cannot be a layer entry",
        ));
    }
    Ok(parts.join("/"))
}

fn clean_entry(mut entry: Entry) -> Result<Entry, LayerError> {
    let original = entry.path.clone();
    entry.path = clean_path(&entry.path)?;
    if entry.mode & !0o7777 != 0 {
        return Err(invalid(
            &original,
            format!(
                "mode {:o} has bits beyond 7777 (the file type is the entry kind)",
                entry.mode
            ),
        ));
    }
    match &mut entry.kind {
        EntryKind::HardLink { target } => *target = clean_path(target)?,
        EntryKind::Symlink { target } if target.is_empty() || target.contains('\0') => {
            return Err(invalid(
                &original,
                "a symlink needs a target without NUL bytes",
            ));
        }
        _ => {}
    }
    Ok(entry)
}

fn reorder_hard_links(entries: &mut [Entry]) -> Result<(), LayerError> {
    let index: HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.path.clone(), i))
        .collect();
    // Group the links by the file they name.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        if let EntryKind::HardLink { target } = &entry.kind {
            let Some(&t) = index.get(target) else {
                return Err(invalid(
                    &entry.path,
                    format!("hard link to `{target}`, which is not in the layer"),
                ));
            };
            if !matches!(entries[t].kind, EntryKind::File(_)) {
                return Err(invalid(
                    &entry.path,
                    format!("hard link to `{target}`, which is not a regular file"),
                ));
            }
            groups.entry(t).or_default().push(i);
        }
    }
    for (file, links) in groups {
        let first = links.iter().copied().min().expect("a group has a link");
        if first > file {
            continue;
        }
        // The first name in archive order carries the content; all others link to it.
        let first_path = entries[first].path.clone();
        let mut carrier = entries[file].clone();
        carrier.path = first_path.clone();
        let file_path = entries[file].path.clone();
        entries[first] = carrier;
        let mut former = entries[file].clone();
        former.kind = EntryKind::HardLink {
            target: first_path.clone(),
        };
        former.path = file_path;
        entries[file] = former;
        for &l in &links {
            if l != first {
                entries[l].kind = EntryKind::HardLink {
                    target: first_path.clone(),
                };
            }
        }
    }
    Ok(())
}

/// Writes the archive of `entries` to `out`. Output errors come back as
/// [`LayerError::Write`] with an empty `dir`, for the caller to fill in.
pub fn write_tar(
    entries: &NormalizedEntries,
    epoch: i64,
    out: &mut dyn Write,
) -> Result<(), LayerError> {
    let mut buffer = vec![0u8; 256 * 1024];
    for entry in &entries.0 {
        write_entry(entry, epoch, out, &mut buffer)?;
    }
    out.write_all(&[0u8; 2 * BLOCK]).map_err(write_error)
}

fn write_error(source: std::io::Error) -> LayerError {
    LayerError::Write {
        dir: Default::default(),
        source,
    }
}

fn write_entry(
    entry: &Entry,
    epoch: i64,
    out: &mut dyn Write,
    buffer: &mut [u8],
) -> Result<(), LayerError> {
    let mtime = entry.mtime.unwrap_or(epoch).min(epoch).max(0) as u64;
    let mut file = None;
    let (type_flag, size, link) = match &entry.kind {
        EntryKind::Directory => (tar::EntryType::Directory, 0, None),
        EntryKind::Symlink { target } => (tar::EntryType::Symlink, 0, Some(target.as_str())),
        EntryKind::HardLink { target } => (tar::EntryType::Link, 0, Some(target.as_str())),
        EntryKind::File(Content::Bytes(bytes)) => {
            (tar::EntryType::Regular, bytes.len() as u64, None)
        }
        EntryKind::File(Content::Path(path) | Content::Blob { path, .. }) => {
            let read_error = |source| LayerError::ReadContent {
                path: entry.path.clone(),
                file: path.clone(),
                source,
            };
            let f = std::fs::File::open(path).map_err(read_error)?;
            let len = f.metadata().map_err(read_error)?.len();
            file = Some(f);
            (tar::EntryType::Regular, len, None)
        }
    };
    let name = match entry.kind {
        EntryKind::Directory => format!("{}/", entry.path),
        _ => entry.path.clone(),
    };

    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    let mut header = tar::Header::new_ustar();
    if !set_name(&mut header, name.as_bytes()) {
        pax.push(("path".into(), name.clone().into_bytes()));
        set_name(&mut header, &truncated_name(&name));
    }
    if let Some(link) = link {
        let fits = link.len() <= 100 && link.is_ascii();
        let field = &mut header.as_old_mut().linkname;
        if fits {
            field[..link.len()].copy_from_slice(link.as_bytes());
        } else {
            pax.push(("linkpath".into(), link.as_bytes().to_vec()));
        }
    }
    header.set_mode(entry.mode);
    for (key, value, set) in [
        (
            "uid",
            entry.uid as u64,
            tar::Header::set_uid as fn(&mut tar::Header, u64),
        ),
        ("gid", entry.gid as u64, tar::Header::set_gid),
    ] {
        if value <= MAX_OCTAL_7 {
            set(&mut header, value);
        } else {
            pax.push((key.into(), value.to_string().into_bytes()));
            set(&mut header, 0);
        }
    }
    if size <= MAX_OCTAL_11 {
        header.set_size(size);
    } else {
        pax.push(("size".into(), size.to_string().into_bytes()));
        header.set_size(0);
    }
    header.set_mtime(mtime.min(MAX_OCTAL_11));
    for (name, value) in &entry.xattrs {
        pax.push((format!("SCHILY.xattr.{name}"), value.clone()));
    }
    header.set_entry_type(type_flag);
    header.set_cksum();

    if !pax.is_empty() {
        write_pax(&pax, mtime, out)?;
    }
    out.write_all(header.as_bytes()).map_err(write_error)?;

    match (&entry.kind, file) {
        (EntryKind::File(Content::Bytes(bytes)), _) => {
            out.write_all(bytes).map_err(write_error)?;
        }
        (
            EntryKind::File(content @ (Content::Path(path) | Content::Blob { path, .. })),
            Some(f),
        ) => {
            let expected = match content {
                Content::Blob { digest, .. } => Some(digest),
                _ => None,
            };
            copy_content(entry, path, f, size, expected, out, buffer)?;
        }
        _ => {}
    }
    pad(size, out)
}

/// Streams the `size` bytes of `f` (the content file `path` of `entry`) to `out`,
/// failing when the file changed size meanwhile or, with `expected`, when its bytes do
/// not hash to it (the check is the copy itself: no second read).
fn copy_content(
    entry: &Entry,
    path: &std::path::Path,
    mut f: std::fs::File,
    size: u64,
    expected: Option<&Digest>,
    out: &mut dyn Write,
    buffer: &mut [u8],
) -> Result<(), LayerError> {
    let mut hasher = expected.map(|_| Sha256::new());
    let mut left = size;
    loop {
        let n = f.read(buffer).map_err(|source| LayerError::ReadContent {
            path: entry.path.clone(),
            file: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        if n as u64 > left {
            return Err(changed(entry, path, size, size - left + n as u64));
        }
        if let Some(hasher) = &mut hasher {
            hasher.update(&buffer[..n]);
        }
        out.write_all(&buffer[..n]).map_err(write_error)?;
        left -= n as u64;
    }
    if left != 0 {
        return Err(changed(entry, path, size, size - left));
    }
    if let (Some(expected), Some(hasher)) = (expected, hasher) {
        let actual = Digest::from_sha256(&hasher.finalize().into());
        if actual != *expected {
            return Err(LayerError::BlobMismatch {
                file: path.to_path_buf(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok(())
}

fn changed(entry: &Entry, file: &std::path::Path, expected: u64, actual: u64) -> LayerError {
    LayerError::Changed {
        path: entry.path.clone(),
        file: file.to_path_buf(),
        expected,
        actual,
    }
}

fn pad(size: u64, out: &mut dyn Write) -> Result<(), LayerError> {
    let rest = (size % BLOCK as u64) as usize;
    if rest != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rest])
            .map_err(write_error)?;
    }
    Ok(())
}

/// Puts `name` into the ustar name (100 bytes) and prefix (155 bytes) fields, split at
/// a `/`. False when it does not fit or is not ASCII (then a PAX `path` holds it).
fn set_name(header: &mut tar::Header, name: &[u8]) -> bool {
    if !name.is_ascii() {
        return false;
    }
    let ustar = header.as_ustar_mut().expect("a ustar header");
    if name.len() <= 100 {
        ustar.name[..name.len()].copy_from_slice(name);
        return true;
    }
    // The longest prefix that fits, so the split is the same every time.
    let split = (0..name.len().min(156))
        .rev()
        .find(|&i| name[i] == b'/' && name.len() - i - 1 <= 100 && name.len() - i - 1 > 0);
    match split {
        Some(i) => {
            ustar.prefix[..i].copy_from_slice(&name[..i]);
            ustar.name[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
            true
        }
        None => false,
    }
}

/// What the ustar fields hold when the real name is in a PAX record: the name's last
/// 100 ASCII bytes, for readers that ignore PAX.
fn truncated_name(name: &str) -> Vec<u8> {
    let ascii: Vec<u8> = name
        .bytes()
        .map(|b| if b.is_ascii() && b != 0 { b } else { b'_' })
        .collect();
    ascii[ascii.len().saturating_sub(100)..].to_vec()
}

fn write_pax(
    records: &[(String, Vec<u8>)],
    mtime: u64,
    out: &mut dyn Write,
) -> Result<(), LayerError> {
    let mut body = Vec::new();
    for (key, value) in records {
        // "<len> <key>=<value>\n", where <len> counts itself.
        let rest = key.len() + value.len() + 3;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        body.extend_from_slice(format!("{len} {key}=").as_bytes());
        body.extend_from_slice(value);
        body.push(b'\n');
    }
    let mut header = tar::Header::new_ustar();
    set_name(&mut header, PAX_HEADER_NAME);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_size(body.len() as u64);
    header.set_mtime(mtime.min(MAX_OCTAL_11));
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_cksum();
    out.write_all(header.as_bytes()).map_err(write_error)?;
    out.write_all(&body).map_err(write_error)?;
    pad(body.len() as u64, out)
}
