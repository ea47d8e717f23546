//! Layer compression, fixed per algorithm: the bytes decide the digest, so the level and
//! every header field are constants, and flate2's backend is pinned (Cargo.toml).

use std::io::{self, Write};

use sha2::{Digest as _, Sha256};

use crate::oci::Digest;
use crate::oci::media_type;

/// gzip level: the default of gzip(1) and Docker, a good size/speed balance.
pub(crate) const GZIP_LEVEL: u32 = 6;
/// gzip header OS byte: 255 ("unknown"), as Go's and Docker's writers use, so the
/// archive does not say which system built it.
pub(crate) const GZIP_OS_UNKNOWN: u8 = 255;
/// zstd level: the library's default.
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// How a layer is compressed. It decides the layer digests, so a manifest's
/// `[image] compression` is recorded in the lock; gzip unless it says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
    /// A plain tar, for destinations that do not need compression.
    None,
}

impl Compression {
    /// What a manifest's `[image] compression` may name (a plain tar is only asked for
    /// at build time, never recorded).
    pub const NAMES: [&'static str; 2] = ["gzip", "zstd"];

    /// One of [`Self::NAMES`].
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// From the lock's `[image] compression` (absent or empty: gzip, the lock's default).
    pub fn from_lock(value: &str) -> Option<Compression> {
        match value {
            "" => Some(Compression::default()),
            name => Compression::from_name(name),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "tar",
        }
    }

    /// The algorithm and its level, as the layer cache files blobs by: a change of
    /// level changes every blob.
    pub fn cache_id(self) -> String {
        match self {
            Compression::Gzip => format!("gzip-{GZIP_LEVEL}"),
            Compression::Zstd => format!("zstd-{ZSTD_LEVEL}"),
            Compression::None => "tar".to_string(),
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => media_type::OCI_LAYER_GZIP,
            Compression::Zstd => media_type::OCI_LAYER_ZSTD,
            Compression::None => media_type::OCI_LAYER_TAR,
        }
    }
}

/// A writer that hashes and counts what passes through it.
pub struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashWriter<W> {
    pub fn new(inner: W) -> Self {
        HashWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The writer back, the digest and the byte count of everything written.
    pub fn finish(self) -> (W, Digest, u64) {
        let hash: [u8; 32] = self.hasher.finalize().into();
        (self.inner, Digest::from_sha256(&hash), self.bytes)
    }
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What one pass produced.
pub(crate) struct Compressed<W> {
    pub out: W,
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
}

/// Runs `produce` on a writer whose bytes (a tar) are hashed, compressed, hashed again
/// and written to `out`: one pass, constant memory.
pub fn compress_into<W: Write, E>(
    out: W,
    compression: Compression,
    produce: impl FnOnce(&mut dyn Write) -> Result<(), E>,
    io_error: impl Fn(io::Error) -> E,
) -> Result<Compressed<W>, E> {
    let blob = HashWriter::new(out);
    let blob = match compression {
        Compression::Gzip => {
            let encoder = flate2::GzBuilder::new()
                .operating_system(GZIP_OS_UNKNOWN)
                .write(blob, flate2::Compression::new(GZIP_LEVEL));
            let mut tar = HashWriter::new(encoder);
            produce(&mut tar)?;
            let (encoder, diff_id, _) = tar.finish();
            (encoder.finish().map_err(&io_error)?, diff_id)
        }
        Compression::Zstd => {
            let encoder = zstd::stream::write::Encoder::new(blob, ZSTD_LEVEL).map_err(&io_error)?;
            let mut tar = HashWriter::new(encoder);
            produce(&mut tar)?;
            let (encoder, diff_id, _) = tar.finish();
            (encoder.finish().map_err(&io_error)?, diff_id)
        }
        Compression::None => {
            let mut tar = blob;
            produce(&mut tar)?;
            let (out, diff_id, size) = tar.finish();
            return Ok(Compressed {
                out,
                digest: diff_id.clone(),
                diff_id,
                size,
            });
        }
    };
    let ((out, digest, size), diff_id) = (blob.0.finish(), blob.1);
    Ok(Compressed {
        out,
        diff_id,
        digest,
        size,
    })
}
