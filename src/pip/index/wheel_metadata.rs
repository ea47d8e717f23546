//! A wheel's `*.dist-info/METADATA` without the `.metadata` file: read through HTTP
//! range requests (the zip's end of central directory, the central directory, then the
//! one entry), or from the whole wheel on disk.

use std::io::Read;
use std::path::Path;

use url::Url;

use super::WheelMetadataError;
use crate::fetch::{ByteRange, Fetcher, header::HeaderMap};

/// How much of the wheel's end to ask for first: the end-of-central-directory record
/// (22 bytes plus a comment of up to 64 KiB) and, for most wheels, the whole central
/// directory with it, so that one request often does.
pub const TAIL: u64 = 64 * 1024;

/// Whether a zip entry is the top-level `<name>-<version>.dist-info/METADATA`.
fn is_metadata(name: &str) -> bool {
    name.ends_with(".dist-info/METADATA") && name.matches('/').count() == 1
}

/// The `METADATA` of a wheel on disk (already verified by its sha256).
pub fn from_file(path: &Path) -> Result<Vec<u8>, WheelMetadataError> {
    let file = std::fs::File::open(path).map_err(WheelMetadataError::Open)?;
    let mut zip = zip::ZipArchive::new(file)?;
    let name = zip
        .file_names()
        .filter_map(Result::ok)
        .find(|n| is_metadata(n))
        .ok_or(WheelMetadataError::NoMetadata)?
        .into_owned();
    let mut out = Vec::new();
    let read = zip.by_name(&name)?.read_to_end(&mut out);
    read.map_err(|source| WheelMetadataError::Entry { name, source })?;
    Ok(out)
}

/// Bytes of the remote wheel already in hand: `bytes` start at `offset`.
struct Window {
    offset: u64,
    bytes: Vec<u8>,
}

impl Window {
    fn get(&self, start: u64, len: u64) -> Option<&[u8]> {
        let from = usize::try_from(start.checked_sub(self.offset)?).ok()?;
        let to = from.checked_add(usize::try_from(len).ok()?)?;
        self.bytes.get(from..to)
    }
}

/// The `METADATA` of a remote wheel, read with range requests. Any error (a server
/// without ranges that broke off, a zip this reader does not follow) is for the caller
/// to answer by downloading the whole wheel.
pub async fn by_ranges(
    fetcher: &Fetcher,
    url: &Url,
    size: Option<u64>,
) -> Result<Vec<u8>, WheelMetadataError> {
    let headers = &HeaderMap::new();
    let fetch = |range| async move {
        fetcher
            .fetch_range(url, headers, range)
            .await
            .map(|r| r.bytes)
            .map_err(|e| WheelMetadataError::Fetch(Box::new(e)))
    };
    let tail = fetcher
        .fetch_range(url, &HeaderMap::new(), ByteRange::Last(TAIL))
        .await
        .map_err(|e| WheelMetadataError::Fetch(Box::new(e)))?;
    let total = tail.total_size.or(size).ok_or(WheelMetadataError::NoSize)?;
    let tail = Window {
        offset: total
            .checked_sub(tail.bytes.len() as u64)
            .ok_or(WheelMetadataError::TooMuch)?,
        bytes: tail.bytes,
    };
    let (cd_offset, cd_size) = central_directory(&tail, &fetch).await?;
    let cd = match tail.get(cd_offset, cd_size) {
        Some(bytes) => bytes.to_vec(),
        None => {
            fetch(ByteRange::Span {
                start: cd_offset,
                end: cd_offset + cd_size,
            })
            .await?
        }
    };
    let entry = find_entry(&cd)?;
    // The local header's extra field may differ from the central one: ask for some
    // slack, and again exactly if that was not enough.
    let guess = 30 + entry.name_len + 1024 + entry.compressed;
    let local = match tail.get(
        entry.local_offset,
        guess.min(total.saturating_sub(entry.local_offset)),
    ) {
        Some(bytes) => bytes.to_vec(),
        None => {
            fetch(ByteRange::Span {
                start: entry.local_offset,
                end: (entry.local_offset + guess).min(total),
            })
            .await?
        }
    };
    if local.get(..4) != Some(b"PK\x03\x04".as_slice()) || local.len() < 30 {
        return Err(WheelMetadataError::NoLocalHeader);
    }
    let data_start = 30 + u64::from(le16(&local, 26)) + u64::from(le16(&local, 28));
    let data = match local.get(data_start as usize..(data_start + entry.compressed) as usize) {
        Some(d) => d.to_vec(),
        None => {
            let start = entry.local_offset + data_start;
            fetch(ByteRange::Span {
                start,
                end: start + entry.compressed,
            })
            .await?
        }
    };
    inflate(&entry, &data)
}

/// The central directory's (offset, size), from the (zip64) end-of-central-directory.
async fn central_directory<F, Fut>(
    tail: &Window,
    fetch: &F,
) -> Result<(u64, u64), WheelMetadataError>
where
    F: Fn(ByteRange) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, WheelMetadataError>>,
{
    let bytes = &tail.bytes;
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
        .ok_or(WheelMetadataError::NoEndOfDirectory)?;
    let size = u64::from(le32(bytes, eocd + 12));
    let offset = u64::from(le32(bytes, eocd + 16));
    if size != u64::from(u32::MAX) && offset != u64::from(u32::MAX) {
        return Ok((offset, size));
    }
    // Zip64: the locator sits just before the record and points at the zip64 record.
    let locator = eocd
        .checked_sub(20)
        .filter(|&l| bytes[l..].starts_with(b"PK\x06\x07"))
        .ok_or(WheelMetadataError::NoZip64Locator)?;
    let record_at = le64(bytes, locator + 8);
    let record = match tail.get(record_at, 56) {
        Some(r) => r.to_vec(),
        None => {
            fetch(ByteRange::Span {
                start: record_at,
                end: record_at + 56,
            })
            .await?
        }
    };
    if !record.starts_with(b"PK\x06\x06") || record.len() < 56 {
        return Err(WheelMetadataError::BrokenZip64);
    }
    Ok((le64(&record, 48), le64(&record, 40)))
}

struct Entry {
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    name_len: u64,
    local_offset: u64,
}

fn find_entry(cd: &[u8]) -> Result<Entry, WheelMetadataError> {
    let mut at = 0;
    while cd.len() >= at + 46 && cd[at..].starts_with(b"PK\x01\x02") {
        let name_len = usize::from(le16(cd, at + 28));
        let extra_len = usize::from(le16(cd, at + 30));
        let comment_len = usize::from(le16(cd, at + 32));
        let name = cd
            .get(at + 46..at + 46 + name_len)
            .ok_or(WheelMetadataError::TruncatedDirectory)?;
        if std::str::from_utf8(name).is_ok_and(is_metadata) {
            let extra = cd
                .get(at + 46 + name_len..at + 46 + name_len + extra_len)
                .ok_or(WheelMetadataError::TruncatedDirectory)?;
            let mut entry = Entry {
                method: le16(cd, at + 10),
                crc: le32(cd, at + 16),
                compressed: u64::from(le32(cd, at + 20)),
                uncompressed: u64::from(le32(cd, at + 24)),
                name_len: name_len as u64,
                local_offset: u64::from(le32(cd, at + 42)),
            };
            zip64_sizes(&mut entry, extra);
            return Ok(entry);
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    Err(WheelMetadataError::NotInDirectory)
}

/// Fills the sizes and offset that the central entry left at 0xFFFFFFFF from its zip64
/// extra field (they appear in this order, only those that overflowed).
fn zip64_sizes(entry: &mut Entry, mut extra: &[u8]) {
    while extra.len() >= 4 {
        let (id, len) = (le16(extra, 0), usize::from(le16(extra, 2)));
        let Some(field) = extra.get(4..4 + len) else {
            return;
        };
        if id == 1 {
            let mut values = field.chunks_exact(8).map(|c| le64(c, 0));
            for slot in [
                &mut entry.uncompressed,
                &mut entry.compressed,
                &mut entry.local_offset,
            ] {
                if *slot == u64::from(u32::MAX) {
                    match values.next() {
                        Some(v) => *slot = v,
                        None => return,
                    }
                }
            }
            return;
        }
        extra = &extra[4 + len..];
    }
}

fn inflate(entry: &Entry, data: &[u8]) -> Result<Vec<u8>, WheelMetadataError> {
    let out = match entry.method {
        0 => data.to_vec(),
        8 => {
            let mut out = Vec::with_capacity(entry.uncompressed as usize);
            flate2::read::DeflateDecoder::new(data)
                .read_to_end(&mut out)
                .map_err(WheelMetadataError::Inflate)?;
            out
        }
        other => return Err(WheelMetadataError::Method(other)),
    };
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if out.len() as u64 != entry.uncompressed || crc.sum() != entry.crc {
        return Err(WheelMetadataError::Crc);
    }
    Ok(out)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn zip_with(dir: &Path, entries: &[(&str, &[u8])]) -> std::path::PathBuf {
        let path = dir.join("demo-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (name, bytes) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    #[test]
    fn reads_the_top_level_metadata_of_a_wheel_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = zip_with(
            dir.path(),
            &[
                ("demo/__init__.py", b""),
                ("demo-1.0.dist-info/METADATA", b"Name: demo\n"),
            ],
        );
        assert_eq!(from_file(&path).unwrap(), b"Name: demo\n");
    }

    #[test]
    fn what_is_wrong_with_a_wheel_file_is_typed_and_worded_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = zip_with(dir.path(), &[("a/b/x.dist-info/METADATA", b"")]);
        let e = from_file(&path).unwrap_err();
        assert!(matches!(e, WheelMetadataError::NoMetadata), "{e:?}");
        assert_eq!(e.to_string(), "it has no *.dist-info/METADATA");

        let not_zip = dir.path().join("not.whl");
        std::fs::write(&not_zip, b"not a zip at all").unwrap();
        let e = from_file(&not_zip).unwrap_err();
        let WheelMetadataError::Zip(zip) = &e else {
            panic!("not a zip error: {e:?}");
        };
        assert_eq!(e.to_string(), zip.to_string());

        let e = from_file(&dir.path().join("missing.whl")).unwrap_err();
        let WheelMetadataError::Open(io) = &e else {
            panic!("not an open error: {e:?}");
        };
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
    }
}
