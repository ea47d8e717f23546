//! The Docker Engine, through its API (bollard): loading built images, and (for other
//! commands) exporting images and containers.
//!
//! One way to connect, [`connect`], so that every command honours `DOCKER_HOST` the same
//! way the `docker` CLI does and talks the API version the daemon speaks (an old daemon
//! refuses requests made with a newer version than its own).

use std::path::Path;

use bollard::Docker;

pub mod container;
pub mod export;
pub mod load;
pub mod stream;

/// Where the Docker CLI looks when `DOCKER_HOST` is not set.
pub(crate) const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Seconds a single API request may take. Loading a multi-gigabyte image is one request,
/// so this is generous; a daemon that is down fails at once, not after this long.
const REQUEST_TIMEOUT_SECS: u64 = 3600;

/// Why rtlock could not talk to a Docker Engine.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "no Docker Engine at {host}: the socket {socket} does not exist\n\
         help: start Docker, or set DOCKER_HOST to the engine's address (unix:///path or tcp://host:port)"
    )]
    NoSocket { host: String, socket: String },
    #[error(
        "DOCKER_HOST={host} is not supported: use unix:///path/to/docker.sock or tcp://host:port"
    )]
    UnsupportedHost { host: String },
    #[error(
        "cannot reach the Docker Engine at {host}: {source}\nhelp: is the daemon running, and may this user use its socket?"
    )]
    Unreachable {
        host: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("`{reference}` cannot name an image in the Docker Engine")]
    BadReference {
        reference: String,
        #[source]
        source: crate::oci::transport::DockerNameError,
    },
    #[error("the image stream to the Docker Engine broke")]
    Stream {
        #[source]
        source: stream::BodyError,
    },
    #[error("the Docker Engine at {host} refused the request: {source}")]
    Api {
        host: String,
        #[source]
        source: bollard::errors::Error,
    },
}

/// The engine address rtlock uses: `DOCKER_HOST`, else the default Unix socket.
pub fn docker_host() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.trim().is_empty() => host.trim().to_string(),
        _ => format!("unix://{DEFAULT_SOCKET}"),
    }
}

/// Connects to the engine named by `DOCKER_HOST` (or the default socket) and agrees on
/// an API version with it.
pub async fn connect() -> Result<Docker, DockerError> {
    connect_to(&docker_host()).await
}

/// Connects to the engine at `host` (`unix://…` or `tcp://…`/`http://…`).
pub(crate) async fn connect_to(host: &str) -> Result<Docker, DockerError> {
    let version = bollard::API_DEFAULT_VERSION;
    let docker = if let Some(socket) = host.strip_prefix("unix://") {
        if !Path::new(socket).exists() {
            return Err(DockerError::NoSocket {
                host: host.to_string(),
                socket: socket.to_string(),
            });
        }
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, version)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, version)
    } else {
        return Err(DockerError::UnsupportedHost {
            host: host.to_string(),
        });
    };
    let docker = docker.map_err(|source| DockerError::Unreachable {
        host: host.to_string(),
        source,
    })?;
    docker
        .negotiate_version()
        .await
        .map_err(|source| DockerError::Unreachable {
            host: host.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_socket_says_how_to_fix_it() {
        let err = connect_to("unix:///nonexistent/rtlock/docker.sock")
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/rtlock/docker.sock"), "{text}");
        assert!(text.contains("DOCKER_HOST"), "{text}");
    }

    #[tokio::test]
    async fn an_unknown_scheme_is_refused() {
        let err = connect_to("ftp://x").await.unwrap_err();
        assert!(matches!(err, DockerError::UnsupportedHost { .. }));
    }
}
