//! Reading a `.deb` in one streaming pass: the `ar` archive, its control member (kept in
//! memory: a few kilobytes of metadata and scripts) and its data member (file bytes
//! spooled to disk above [`IN_MEMORY`], so memory stays flat for big packages).
//!
//! Entry paths are checked here, once, for what any package could do on its own: no
//! absolute path, no `..`. What depends on the other packages of the install (a parent
//! directory that is a symlink one of them ships) is checked by the layer maker.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};

use super::InstallError;
use crate::oci::layer::Content;

/// Files up to this size stay in memory; larger ones go to the spool directory.
const IN_MEMORY: u64 = 64 << 10;

/// A control-archive file (`control`, `md5sums`, `postinst`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFile {
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub mtime: i64,
}

/// One entry of the data archive, its path relative to the root (`usr/bin/jq`, no
/// leading `./` or `/`, no trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEntry {
    pub path: String,
    pub kind: DataKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataKind {
    Dir,
    /// A regular file with its MD5 (what dpkg records in md5sums and Conffiles).
    File {
        content: Content,
        md5: String,
    },
    Symlink(String),
    /// A hard link to `target`, a path of the same package (cleaned like `path`).
    HardLink(String),
}

/// A read package: its control files by name, and its data entries in archive order
/// (the order dpkg lists them in `info/<pkg>.list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deb {
    pub control: BTreeMap<String, ControlFile>,
    pub data: Vec<DataEntry>,
}

impl Deb {
    /// The text of a control file (`control`, `conffiles`, …), if the package has it.
    pub fn control_text(&self, name: &str) -> Option<String> {
        self.control
            .get(name)
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
    }
}

/// What the reader needs to know to name the package in errors.
struct Context<'a> {
    package: &'a str,
    file: &'a Path,
}

impl Context<'_> {
    fn read_error(&self, source: io::Error) -> InstallError {
        InstallError::Read {
            package: self.package.to_string(),
            file: self.file.to_path_buf(),
            source,
        }
    }

    fn not_a_deb(&self, problem: impl Into<String>) -> InstallError {
        InstallError::NotADeb {
            package: self.package.to_string(),
            file: self.file.to_path_buf(),
            problem: problem.into(),
        }
    }

    fn unsafe_path(&self, entry: &str, reason: &str) -> InstallError {
        InstallError::UnsafePath {
            package: self.package.to_string(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Reads the whole package `file` (of `package`, for errors), spooling large file
/// contents into `spool` (which must outlive the returned entries).
pub fn read_deb(file: &Path, package: &str, spool: &Path) -> Result<Deb, InstallError> {
    read(file, package, Some(spool))
}

/// Reads only the control files (it stops before the data member): enough to know a
/// package's maintainer scripts when its layer is already cached.
pub fn read_control(
    file: &Path,
    package: &str,
) -> Result<BTreeMap<String, ControlFile>, InstallError> {
    read(file, package, None).map(|deb| deb.control)
}

fn read(file: &Path, package: &str, spool: Option<&Path>) -> Result<Deb, InstallError> {
    let cx = Context { package, file };
    let mut reader = BufReader::new(File::open(file).map_err(|e| cx.read_error(e))?);
    let mut magic = [0u8; 8];
    let short = match reader.read_exact(&mut magic) {
        Ok(()) => false,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => true,
        Err(e) => return Err(cx.read_error(e)),
    };
    if short || &magic != b"!<arch>\n" {
        return Err(cx.not_a_deb("it does not start with an ar archive header"));
    }
    let mut deb = Deb {
        control: BTreeMap::new(),
        data: Vec::new(),
    };
    let (mut seen_control, mut seen_data) = (false, false);
    while let Some((name, size)) = next_member(&mut reader, &cx)? {
        let mut member = (&mut reader).take(size);
        if name == "debian-binary" {
            let mut version = String::new();
            member
                .read_to_string(&mut version)
                .map_err(|e| cx.read_error(e))?;
            if !version.starts_with("2.") {
                return Err(cx.not_a_deb(format!("format version {:?}", version.trim())));
            }
        } else if let Some(suffix) = name.strip_prefix("control.tar") {
            deb.control = read_control_tar(decompressor(suffix, &mut member, &cx)?, &cx)?;
            seen_control = true;
        } else if let Some(suffix) = name.strip_prefix("data.tar") {
            let Some(spool) = spool else {
                break;
            };
            deb.data = read_data_tar(decompressor(suffix, &mut member, &cx)?, &cx, spool)?;
            seen_data = true;
        }
        // Whatever the tar reader left (end-of-archive padding), then the ar padding.
        io::copy(&mut member, &mut io::sink()).map_err(|e| cx.read_error(e))?;
        if size % 2 == 1 {
            let mut pad = [0u8; 1];
            reader.read_exact(&mut pad).map_err(|e| cx.read_error(e))?;
        }
    }
    if !seen_control {
        return Err(cx.not_a_deb("it has no control.tar member"));
    }
    if spool.is_some() && !seen_data {
        return Err(cx.not_a_deb("it has no data.tar member"));
    }
    if !deb.control.contains_key("control") {
        return Err(cx.not_a_deb("its control archive has no `control` file"));
    }
    Ok(deb)
}

/// The next ar member header: (name, size), or `None` at the end of the archive.
fn next_member(
    reader: &mut impl Read,
    cx: &Context,
) -> Result<Option<(String, u64)>, InstallError> {
    let mut header = [0u8; 60];
    let mut filled = 0;
    while filled < header.len() {
        match reader.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(cx.not_a_deb("the ar archive ends inside a member header")),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(cx.read_error(e)),
        }
    }
    if &header[58..60] != b"`\n" {
        return Err(cx.not_a_deb("an ar member header is damaged"));
    }
    // GNU ar ends names with `/`; dpkg-deb pads them with spaces.
    let name = String::from_utf8_lossy(&header[..16])
        .trim_end()
        .trim_end_matches('/')
        .to_string();
    let size = std::str::from_utf8(&header[48..58])
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| cx.not_a_deb(format!("the ar member `{name}` has no valid size")))?;
    Ok(Some((name, size)))
}

/// The decompressing reader for a `control.tar*`/`data.tar*` member by its suffix.
fn decompressor<'r>(
    suffix: &str,
    member: &'r mut dyn Read,
    cx: &Context,
) -> Result<Box<dyn Read + 'r>, InstallError> {
    Ok(match suffix {
        "" => Box::new(member),
        ".gz" => Box::new(flate2::read::GzDecoder::new(member)),
        ".xz" => Box::new(liblzma::read::XzDecoder::new(member)),
        ".zst" => Box::new(zstd::stream::read::Decoder::new(member).map_err(|e| cx.read_error(e))?),
        ".bz2" => Box::new(bzip2::read::BzDecoder::new(member)),
        other => {
            return Err(cx.not_a_deb(format!(
                "its tar member is compressed as `{other}`, which dpkg does not write"
            )));
        }
    })
}

/// `./usr/bin/x` → `usr/bin/x`; `./` → `` (the root). Refuses absolute paths and `..`.
fn clean(raw: &str, cx: &Context) -> Result<String, InstallError> {
    let stripped = raw.strip_prefix("./").unwrap_or(raw);
    if stripped == "." {
        return Ok(String::new());
    }
    if stripped.starts_with('/') {
        return Err(cx.unsafe_path(raw, "the path is absolute"));
    }
    let mut parts = Vec::new();
    for part in stripped.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(cx.unsafe_path(raw, "the path has a `..` component")),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn read_control_tar(
    reader: Box<dyn Read + '_>,
    cx: &Context,
) -> Result<BTreeMap<String, ControlFile>, InstallError> {
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| cx.read_error(e))? {
        let mut entry = entry.map_err(|e| cx.read_error(e))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = clean(&raw, cx)?;
        if name.is_empty() || name.contains('/') {
            continue; // dpkg-deb only reads the top level of the control archive
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| cx.read_error(e))?;
        files.insert(name, ControlFile { bytes, mode, mtime });
    }
    Ok(files)
}

fn read_data_tar(
    reader: Box<dyn Read + '_>,
    cx: &Context,
    spool: &Path,
) -> Result<Vec<DataEntry>, InstallError> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| cx.read_error(e))? {
        let mut entry = entry.map_err(|e| cx.read_error(e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = clean(&raw, cx)?;
        if path.is_empty() {
            continue; // the root directory: dpkg lists it as `/.` whatever the archive says
        }
        let mut xattrs = BTreeMap::new();
        if let Some(extensions) = entry.pax_extensions().map_err(|e| cx.read_error(e))? {
            for extension in extensions {
                let extension = extension.map_err(|e| cx.read_error(e))?;
                if let Ok(key) = extension.key()
                    && let Some(name) = key.strip_prefix("SCHILY.xattr.")
                {
                    xattrs.insert(name.to_string(), extension.value_bytes().to_vec());
                }
            }
        }
        let header = entry.header();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let uid = header.uid().unwrap_or(0) as u32;
        let gid = header.gid().unwrap_or(0) as u32;
        let mtime = header.mtime().unwrap_or(0) as i64;
        let link = || {
            entry
                .link_name_bytes()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or_else(|| cx.not_a_deb(format!("the link `{raw}` has no target")))
        };
        let kind = match header.entry_type() {
            tar::EntryType::Directory => DataKind::Dir,
            tar::EntryType::Symlink => DataKind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = link()?;
                let cleaned = clean(&target, cx).map_err(|_| {
                    cx.unsafe_path(
                        &raw,
                        &format!("its hard link target `{target}` leaves the package"),
                    )
                })?;
                DataKind::HardLink(cleaned)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                let (content, md5) = read_file(&mut entry, size, spool, cx)?;
                DataKind::File { content, md5 }
            }
            other => {
                return Err(cx.not_a_deb(format!(
                    "the entry `{raw}` is a {other:?}, which rtlock does not install (devices and FIFOs belong to maintainer scripts)"
                )));
            }
        };
        out.push(DataEntry {
            path,
            kind,
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        });
    }
    Ok(out)
}

/// A file's bytes, in memory or spooled, and their MD5, in one pass.
fn read_file(
    entry: &mut impl Read,
    size: u64,
    spool: &Path,
    cx: &Context,
) -> Result<(Content, String), InstallError> {
    let mut md5 = Md5::new();
    if size <= IN_MEMORY {
        let mut bytes = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| cx.read_error(e))?;
        md5.update(&bytes);
        return Ok((Content::Bytes(bytes), hex::encode(md5.finalize())));
    }
    let spool_error = |source| InstallError::Spool {
        package: cx.package.to_string(),
        dir: spool.to_path_buf(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix("deb-")
        .tempfile_in(spool)
        .map_err(spool_error)?;
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        let n = match entry.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cx.read_error(e)),
        };
        md5.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(spool_error)?;
    }
    // Kept until the spool directory goes: the layer writer reads it by path.
    let (_, path): (File, PathBuf) = file.keep().map_err(|e| spool_error(e.error))?;
    Ok((Content::Path(path), hex::encode(md5.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, &[u8])], xattr: Option<(&str, &[u8])>) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            if let Some((name, value)) = xattr {
                let key = format!("SCHILY.xattr.{name}");
                builder
                    .append_pax_extensions([(key.as_str(), value)])
                    .unwrap();
            }
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o4755);
            header.set_size(content.len() as u64);
            header.set_path(path).unwrap();
            header.set_cksum();
            builder.append(&header, *content).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn ar_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"!<arch>\n".to_vec();
        for (name, bytes) in members {
            let header = format!(
                "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
                0,
                0,
                0,
                100644,
                bytes.len()
            );
            out.extend(header.as_bytes());
            out.extend(bytes);
            if bytes.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    /// zstd control and bzip2 data (as some third-party debs have), a PAX xattr, a
    /// setuid mode and a file large enough to be spooled.
    #[test]
    fn reads_zstd_and_bzip2_members_with_xattrs_and_spools_large_files() {
        let control = tar_of(
            &[
                ("./control", b"Package: z\n"),
                ("./postinst", b"#!/bin/sh\n"),
            ],
            None,
        );
        let big = vec![b'x'; (IN_MEMORY + 1) as usize];
        let data = tar_of(
            &[("./usr/bin/ping", b"elf"), ("./usr/share/big", &big)],
            Some(("security.capability", b"\x01\x02")),
        );
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&data).unwrap();
        let deb = ar_of(&[
            ("debian-binary", b"2.0\n".to_vec()),
            (
                "control.tar.zst",
                zstd::encode_all(&control[..], 3).unwrap(),
            ),
            ("data.tar.bz2", bz.finish().unwrap()),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("z.deb");
        std::fs::write(&file, deb).unwrap();

        let read = read_deb(&file, "z", dir.path()).unwrap();
        assert_eq!(
            read.control.keys().collect::<Vec<_>>(),
            ["control", "postinst"]
        );
        let ping = &read.data[0];
        assert_eq!((ping.path.as_str(), ping.mode), ("usr/bin/ping", 0o4755));
        assert_eq!(ping.xattrs["security.capability"], b"\x01\x02");
        match &read.data[1].kind {
            DataKind::File {
                content: Content::Path(path),
                md5,
            } => {
                assert_eq!(std::fs::read(path).unwrap(), big);
                assert_eq!(md5, &hex::encode(Md5::digest(&big)));
            }
            other => panic!("not spooled: {other:?}"),
        }
        assert_eq!(read_control(&file, "z").unwrap(), read.control);
    }

    #[test]
    fn refuses_what_is_not_a_deb() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.deb");
        std::fs::write(&file, b"PK\x03\x04").unwrap();
        let error = read_deb(&file, "x", dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("x") && error.contains("ar archive"),
            "{error}"
        );
    }
}
