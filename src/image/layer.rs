//! One layer of an image as a stream of tar bytes: decompressed on the fly and checked
//! while it is read.
//!
//! Two digests guard a layer: the blob's own (`digest` of the manifest, over the
//! compressed bytes) and its `diff_id` (in the config, over the uncompressed tar). Both
//! are hashed as the bytes go by and compared when the stream reaches its end, so a layer
//! is read once, never buffered, and a corrupt one still fails: the error surfaces
//! from the read that hits the end of the stream. Callers that stop early (a tar reader
//! stops at the end-of-archive blocks) call [`LayerReader::finish`] to read the rest.
//!
//! A blob whose size on disk differs from its descriptor's is refused before any byte is
//! decompressed: that is a truncated download, and saying so beats a gzip error.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest as _, Sha256};

use super::ImageError;
use super::store::BlobLocation;
use crate::oci::Digest;
use crate::oci::media_type::{LayerCompression, layer_compression};
use crate::progress::Bar;

/// A layer of an opened image: where its blob is and what it must hash to.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// The descriptor's media type (docker archives have none: the compression is then
    /// recognized by its magic bytes).
    pub media_type: Option<String>,
    /// The blob's digest, when known (a docker archive names layers by path only).
    pub digest: Option<Digest>,
    /// The blob's size from its descriptor, when known.
    pub size: Option<u64>,
    /// The digest of the uncompressed tar, from the config's `rootfs.diff_ids`.
    pub diff_id: Option<Digest>,
    pub location: BlobLocation,
}

impl LayerBlob {
    /// The layer whose blob is the file `path` (a downloaded base layer, one rtlock
    /// wrote), as its descriptor and the config's diff_id describe it.
    pub fn in_file(
        path: &std::path::Path,
        media_type: &str,
        digest: &Digest,
        size: u64,
        diff_id: &Digest,
    ) -> Result<LayerBlob, ImageError> {
        let location = BlobLocation::file(path)
            .map_err(|e| ImageError::io(format!("cannot open the layer {}", path.display()), e))?;
        Ok(LayerBlob {
            media_type: Some(media_type.to_string()),
            digest: Some(digest.clone()),
            size: Some(size),
            diff_id: Some(diff_id.clone()),
            location,
        })
    }

    /// [`in_file`](Self::in_file) for a layer of an image rtlock assembled.
    pub fn of_image_layer(layer: &crate::oci::output::ImageLayer) -> Result<LayerBlob, ImageError> {
        Self::in_file(
            &layer.path,
            &layer.descriptor.media_type,
            &layer.descriptor.digest,
            layer.descriptor.size,
            &layer.diff_id,
        )
    }

    /// The layers of `base` (bottom first) with `above` (rtlock's) on top.
    pub fn stack(
        base: &[crate::oci::output::ImageLayer],
        above: &[crate::oci::layer::Layer],
    ) -> Result<Vec<LayerBlob>, ImageError> {
        let base = base.iter().map(Self::of_image_layer);
        base.chain(above.iter().map(Self::of_layer)).collect()
    }

    /// [`in_file`](Self::in_file) for a layer rtlock wrote.
    pub fn of_layer(layer: &crate::oci::layer::Layer) -> Result<LayerBlob, ImageError> {
        Self::in_file(
            &layer.path,
            &layer.media_type,
            &layer.digest,
            layer.size,
            &layer.diff_id,
        )
    }
}

impl fmt::Display for LayerBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.digest, &self.diff_id) {
            (Some(digest), _) => write!(f, "{digest}"),
            (None, Some(diff_id)) => write!(f, "diff_id {diff_id}"),
            (None, None) => write!(f, "{}", self.location.path.display()),
        }
    }
}

/// The uncompressed tar stream of a layer. Verification errors are `InvalidData` I/O
/// errors whose message says what did not match.
pub struct LayerReader {
    inner: Box<dyn Read + Send>,
}

impl Read for LayerReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl LayerReader {
    /// Reads what is left of the stream, so that both digests are checked.
    pub fn finish(mut self) -> io::Result<()> {
        io::copy(&mut self.inner, &mut io::sink()).map(|_| ())
    }

    /// The same stream, inflated and verified on a thread of its own a few chunks ahead of
    /// the reader: inflating is most of the work of reading a layer, so the reader's own
    /// work (parsing the tar) then runs on another core. Memory stays bounded (at most
    /// [`AHEAD`] chunks wait).
    pub fn read_ahead(self) -> LayerReader {
        LayerReader {
            inner: Box::new(ReadAhead::spawn(self.inner)),
        }
    }
}

/// Chunks a [`ReadAhead`] thread may have ready, and their size.
const AHEAD: usize = 16;
const CHUNK: usize = 256 << 10;

/// The reading end of [`LayerReader::read_ahead`]. An empty chunk ends the stream, so a
/// thread that stopped without saying so is an error, never a silently short layer.
struct ReadAhead {
    chunks: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    ended: bool,
}

impl ReadAhead {
    fn spawn(mut inner: Box<dyn Read + Send>) -> ReadAhead {
        let (sender, chunks) = std::sync::mpsc::sync_channel(AHEAD);
        std::thread::spawn(move || {
            loop {
                let mut chunk = vec![0; CHUNK];
                let message = match inner.read(&mut chunk) {
                    Ok(n) => {
                        chunk.truncate(n);
                        Ok(chunk)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let last = !matches!(&message, Ok(chunk) if !chunk.is_empty());
                // A closed channel means the reader gave up: stop inflating.
                if sender.send(message).is_err() || last {
                    return;
                }
            }
        });
        ReadAhead {
            chunks,
            current: Vec::new(),
            at: 0,
            ended: false,
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.ended = chunk.is_empty();
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Err(_) => {
                    self.ended = true;
                    return Err(io::Error::other("the layer's reading thread stopped"));
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl LayerBlob {
    /// Opens the stream.
    pub fn open(&self) -> Result<LayerReader, ImageError> {
        self.open_with_progress(None)
    }

    /// Opens the stream, counting the blob's bytes on `bar` as they are read.
    pub fn open_with_progress(&self, bar: Option<Bar>) -> Result<LayerReader, ImageError> {
        let fail = |problem: String| ImageError::Layer {
            layer: self.to_string(),
            entry: None,
            problem,
        };
        if let Some(size) = self.size
            && size != self.location.len
        {
            return Err(fail(format!(
                "the blob is {} bytes but its descriptor says {size}: it is truncated or \
                 not the blob the manifest names; fetch the image again",
                self.location.len
            )));
        }
        let file = self
            .location
            .open()
            .map_err(|e| fail(format!("cannot open {}: {e}", self.location.path.display())))?;
        let counted = Counting { inner: file, bar };
        let compressed = Verifying::new(counted, self.digest.clone(), "the blob");
        let mut buffered = BufReader::with_capacity(256 << 10, compressed);
        let compression = match self.media_type.as_deref().and_then(layer_compression) {
            Some(known) => known,
            None => sniff(&mut buffered).map_err(|e| fail(format!("cannot read: {e}")))?,
        };
        let tar: Box<dyn Read + Send> = match compression {
            LayerCompression::None => Box::new(buffered),
            LayerCompression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            LayerCompression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered)
                    .map_err(|e| fail(format!("cannot start zstd decompression: {e}")))?,
            ),
        };
        Ok(LayerReader {
            inner: Box::new(Verifying::new(
                tar,
                self.diff_id.clone(),
                "its uncompressed tar (diff_id)",
            )),
        })
    }
}

/// The compression of a blob of unknown media type, from its first bytes.
fn sniff(reader: &mut impl BufRead) -> io::Result<LayerCompression> {
    let head = reader.fill_buf()?;
    Ok(match head {
        [0x1f, 0x8b, ..] => LayerCompression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => LayerCompression::Zstd,
        _ => LayerCompression::None,
    })
}

/// Reports the bytes that pass through on a progress bar.
struct Counting<R> {
    inner: R,
    bar: Option<Bar>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}

/// Hashes what passes through and, at the end of the stream, compares it with the
/// expected digest.
struct Verifying<R> {
    inner: R,
    hasher: Sha256,
    expected: Option<Digest>,
    what: &'static str,
    checked: bool,
}

impl<R> Verifying<R> {
    fn new(inner: R, expected: Option<Digest>, what: &'static str) -> Self {
        Verifying {
            inner,
            hasher: Sha256::new(),
            expected,
            what,
            checked: false,
        }
    }
}

impl<R: Read> Read for Verifying<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
        } else if !buf.is_empty() && !self.checked {
            self.checked = true;
            if let Some(expected) = &self.expected {
                let actual = Digest::from_sha256(&self.hasher.clone().finalize().into());
                if &actual != expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{} hashes to {actual}, not {expected}: the data is corrupt or \
                             not what the image names; fetch the image again",
                            self.what
                        ),
                    ));
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn blob(bytes: &[u8], dir: &std::path::Path) -> BlobLocation {
        let path = dir.join("blob");
        std::fs::write(&path, bytes).unwrap();
        BlobLocation::file(&path).unwrap()
    }

    /// Gives `data`, then fails: as a layer whose digest is checked at the end does.
    struct FailingAtEnd(io::Cursor<Vec<u8>>);

    impl Read for FailingAtEnd {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(io::Error::other("digest mismatch")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn read_ahead_gives_the_same_bytes_and_the_same_errors() {
        // More than the chunks that may wait, so the thread blocks and resumes.
        let data: Vec<u8> = (0..(AHEAD + 3) * CHUNK + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        let plain = LayerReader {
            inner: Box::new(io::Cursor::new(data.clone())),
        };
        let mut out = Vec::new();
        plain.read_ahead().read_to_end(&mut out).unwrap();
        assert_eq!(out, data);

        let failing = LayerReader {
            inner: Box::new(FailingAtEnd(io::Cursor::new(data.clone()))),
        };
        let mut out = Vec::new();
        let err = failing.read_ahead().read_to_end(&mut out).unwrap_err();
        assert_eq!(err.to_string(), "digest mismatch");
        assert_eq!(out, data, "everything before the error arrives");
    }

    #[test]
    fn gzip_layers_are_verified_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let plain = b"not really a tar, but bytes".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let good = LayerBlob {
            media_type: Some(crate::oci::media_type::OCI_LAYER_GZIP.into()),
            digest: Some(Digest::of(&gz)),
            size: Some(gz.len() as u64),
            diff_id: Some(Digest::of(&plain)),
            location: blob(&gz, dir.path()),
        };
        let mut out = Vec::new();
        good.open().unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);

        let wrong_diff = LayerBlob {
            diff_id: Some(Digest::of(b"x")),
            ..good.clone()
        };
        let err = wrong_diff.open().unwrap().finish().unwrap_err();
        assert!(err.to_string().contains("diff_id"), "{err}");

        let wrong_digest = LayerBlob {
            digest: Some(Digest::of(b"x")),
            ..good.clone()
        };
        let err = wrong_digest.open().unwrap().finish().unwrap_err();
        assert!(err.to_string().contains("the blob hashes to"), "{err}");

        let unknown_type = LayerBlob {
            media_type: None,
            ..good.clone()
        };
        let mut out = Vec::new();
        unknown_type.open().unwrap().read_to_end(&mut out).unwrap();
        assert_eq!(out, plain);

        let short = LayerBlob {
            location: blob(&gz[..gz.len() / 2], dir.path()),
            size: None,
            digest: None,
            ..good.clone()
        };
        assert!(short.open().unwrap().finish().is_err());
        let short_with_size = LayerBlob {
            location: blob(&gz[..gz.len() / 2], dir.path()),
            ..good
        };
        let err = short_with_size.open().err().unwrap();
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
