//! Files of an image on disk: a directory (an OCI layout) or a tar file (an OCI archive,
//! a docker archive), read in place.
//!
//! An archive is never unpacked: one pass over its tar headers (skipping the data with
//! seeks) records where each member's bytes start and how long they are, and a blob is
//! then read straight out of the tar file. Reading a 2 GB archive costs one header scan,
//! no copy and no memory beyond the member list. Only a compressed archive
//! (`docker save | gzip`) is first decompressed, to a temporary file, since a gzip stream
//! cannot be seeked.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::ImageError;

/// Where a blob's bytes are: `len` bytes of `path` starting at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
}

impl BlobLocation {
    /// The whole of a file.
    pub fn file(path: &Path) -> io::Result<BlobLocation> {
        let len = std::fs::metadata(path)?.len();
        Ok(BlobLocation {
            path: path.to_path_buf(),
            offset: 0,
            len,
        })
    }

    /// A reader of exactly these bytes.
    pub fn open(&self) -> io::Result<io::Take<File>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        Ok(file.take(self.len))
    }
}

/// A directory or a tar file, addressed by the member paths of an image layout
/// (`index.json`, `blobs/sha256/…`, `manifest.json`).
#[derive(Debug)]
pub enum Store {
    Dir(PathBuf),
    Tar {
        path: PathBuf,
        members: HashMap<String, BlobLocation>,
        /// Keeps a decompressed copy of a compressed archive alive while it is read.
        _temp: Option<tempfile::NamedTempFile>,
    },
}

/// The largest JSON document (index, manifest, config) read into memory. Real ones are
/// a few kilobytes; this only stops a wrong file from being slurped.
const MAX_DOCUMENT: u64 = 16 << 20;

impl Store {
    /// Opens a tar archive: one scan of its headers.
    pub fn tar(path: &Path) -> Result<Store, ImageError> {
        let io_err =
            |e: io::Error| ImageError::io(format!("cannot read the archive {}", path.display()), e);
        let mut file = File::open(path).map_err(io_err)?;
        let mut magic = [0u8; 4];
        let n = read_up_to(&mut file, &mut magic).map_err(io_err)?;
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let (tar_path, temp) = match &magic[..n] {
            [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd] => {
                let temp = decompress_to_temp(file, magic[0] == 0x1f).map_err(|e| {
                    ImageError::io(
                        format!("cannot decompress the archive {}", path.display()),
                        e,
                    )
                })?;
                (temp.path().to_path_buf(), Some(temp))
            }
            _ => (path.to_path_buf(), None),
        };
        let members = index_tar(&tar_path).map_err(|e| {
            ImageError::Layout(format!(
                "{} is not a readable tar archive: {e}",
                path.display()
            ))
        })?;
        Ok(Store::Tar {
            path: path.to_path_buf(),
            members,
            _temp: temp,
        })
    }

    /// What to call this store in messages.
    pub fn display(&self) -> String {
        match self {
            Store::Dir(path) | Store::Tar { path, .. } => path.display().to_string(),
        }
    }

    /// Where a member is, or `None` when it does not exist.
    pub fn locate(&self, member: &str) -> Option<BlobLocation> {
        let member = member.trim_start_matches("./");
        match self {
            Store::Dir(dir) => BlobLocation::file(&dir.join(member)).ok(),
            Store::Tar { members, .. } => members.get(member).cloned(),
        }
    }

    /// A small member (a JSON document), read whole.
    pub fn read(&self, member: &str) -> Result<Vec<u8>, ImageError> {
        let location = self
            .locate(member)
            .ok_or_else(|| ImageError::Layout(format!("{} has no {member}", self.display())))?;
        if location.len > MAX_DOCUMENT {
            return Err(ImageError::Layout(format!(
                "{member} in {} is {} bytes, too large for an image document",
                self.display(),
                location.len
            )));
        }
        let mut bytes = Vec::with_capacity(location.len as usize);
        location
            .open()
            .and_then(|mut r| r.read_to_end(&mut bytes))
            .map_err(|e| {
                ImageError::io(format!("cannot read {member} in {}", self.display()), e)
            })?;
        Ok(bytes)
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn decompress_to_temp(file: File, gzip: bool) -> io::Result<tempfile::NamedTempFile> {
    let mut temp = tempfile::NamedTempFile::new()?;
    let input = io::BufReader::new(file);
    if gzip {
        io::copy(
            &mut flate2::bufread::MultiGzDecoder::new(input),
            temp.as_file_mut(),
        )?;
    } else {
        io::copy(
            &mut zstd::stream::read::Decoder::with_buffer(input)?,
            temp.as_file_mut(),
        )?;
    }
    Ok(temp)
}

/// Member path → location of its data. Symbolic links between members (old `docker
/// save` links a repeated `layer.tar` to its first copy) point at their target's data.
fn index_tar(path: &Path) -> io::Result<HashMap<String, BlobLocation>> {
    let mut archive = tar::Archive::new(File::open(path)?);
    let mut members = HashMap::new();
    let mut links = Vec::new();
    for entry in archive.entries_with_seek()? {
        let entry = entry?;
        let name = normalize_member(&String::from_utf8_lossy(&entry.path_bytes()));
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                members.insert(
                    name,
                    BlobLocation {
                        path: path.to_path_buf(),
                        offset: entry.raw_file_position(),
                        len: entry.size(),
                    },
                );
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Some(target) = entry.link_name_bytes() {
                    let target = String::from_utf8_lossy(&target).into_owned();
                    let resolved = if entry.header().entry_type() == tar::EntryType::Symlink {
                        let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                        join_member(dir, &target)
                    } else {
                        normalize_member(&target)
                    };
                    links.push((name, resolved));
                }
            }
            _ => {}
        }
    }
    for (name, target) in links {
        if let Some(location) = members.get(&target).cloned() {
            members.insert(name, location);
        }
    }
    Ok(members)
}

fn normalize_member(name: &str) -> String {
    join_member("", name)
}

/// `dir` + `rel`, with `.` and `..` applied (never above the archive's top).
fn join_member(dir: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_paths_are_normalized() {
        assert_eq!(normalize_member("./blobs/sha256/ab"), "blobs/sha256/ab");
        assert_eq!(join_member("abc", "../def/layer.tar"), "def/layer.tar");
        assert_eq!(join_member("a", "/x"), "x");
    }

    #[test]
    fn members_of_a_tar_are_read_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let tar_path = dir.path().join("a.tar");
        let mut builder = tar::Builder::new(File::create(&tar_path).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "one/layer.tar", &b"hello"[..])
            .unwrap();
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        builder
            .append_link(&mut link, "two/layer.tar", "../one/layer.tar")
            .unwrap();
        builder.into_inner().unwrap();
        let store = Store::tar(&tar_path).unwrap();
        assert_eq!(store.read("one/layer.tar").unwrap(), b"hello");
        assert_eq!(store.read("./two/layer.tar").unwrap(), b"hello");
        assert!(store.read("three").is_err());
    }
}
