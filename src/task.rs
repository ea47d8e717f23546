//! Work off the async runtime, and work spread over the cores: the one place for both,
//! so that a panicking worker is always an error that names what it was doing.

/// A worker thread or blocking task that panicked or was cancelled.
#[derive(Debug, thiserror::Error)]
#[error("an internal task failed: {0}")]
pub struct TaskFailed(pub String);

/// Runs `f` on tokio's blocking pool (reading layers, hashing, compressing).
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TaskFailed> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TaskFailed(e.to_string()))
}
