//! Request bodies made on a blocking thread: a tar written by synchronous code (the
//! layer and archive writers) streams to the engine through a small bounded channel,
//! so memory stays flat whatever the size, and the engine starts reading at once.

use bytes::Bytes;
use futures_util::Stream;

/// Chunks in flight between the writer thread and the request.
const CHANNEL_CHUNKS: usize = 8;
const CHUNK: usize = 256 * 1024;

/// Why the thread writing a request body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// What wrote the body failed; its own error, chain and all.
    #[error(transparent)]
    Write(Box<dyn std::error::Error + Send + Sync>),
    /// The writing thread panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] crate::task::TaskFailed),
}

/// Runs `produce` on a blocking thread and returns the bytes it writes as a request
/// body, and the thread's outcome (await it after the request: a failed `produce` also
/// ends the body with an error, so the engine never takes a truncated stream as whole).
pub fn body<F, E>(
    produce: F,
) -> (
    impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    impl Future<Output = Result<(), BodyError>> + Send + 'static,
)
where
    F: FnOnce(&mut dyn std::io::Write) -> Result<(), E> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_CHUNKS);
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let result = match produce(&mut out) {
            Ok(()) => out.flush_chunk().map_err(|e| BodyError::Write(Box::new(e))),
            Err(e) => Err(BodyError::Write(Box::new(e))),
        };
        if let Err(e) = &result {
            // The engine only needs to see the body end badly; the caller reports `e`.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        result
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let outcome = async move {
        writer
            .await
            .map_err(|e| crate::task::TaskFailed(e.to_string()))?
    };
    (body, outcome)
}

/// Collects writes into chunks and sends them down the channel (blocking: this runs on
/// a blocking thread, and waiting here is what bounds memory).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::other("the Docker Engine stopped reading"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(CHUNK - self.buffer.len());
        self.buffer.extend_from_slice(&buf[..n]);
        if self.buffer.len() == CHUNK {
            self.flush_chunk()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
