//! Running the new packages' maintainer scripts, and keeping what they did as layer
//! entries.
//!
//! rtlock installs apt packages without running apt or dpkg: the apt layer holds their
//! files and a dpkg database that says which of them still have to be configured
//! (`install ok unpacked`). [`configure`] loads the image with that layer into the
//! Docker Engine and, in a container with no network, runs the scripts dpkg would
//! (see [`script`]), captures the filesystem changes ([`crate::docker::container`]) and
//! normalizes them ([`normalize`]); [`scripts_layer`] makes them a layer of their own
//! on top of the apt layer.
//!
//! # Reproducibility
//!
//! The engine has no time namespace, so the scripts see the host's clock; a fixed
//! clock would need faketime-style preloading, which breaks static binaries and some
//! runtimes. Instead the result is made independent of the clock: no mtime is kept,
//! `SOURCE_DATE_EPOCH` is set (tools that honour it, such as py_compile, stop writing
//! times), the dates `adduser`/`useradd` write are rewritten to the epoch's day, and
//! files that record times or run order are dropped. Two runs give the same entries.

mod merge;
pub mod normalize;
pub mod script;

pub use merge::scripts_layer;

use std::sync::atomic::{AtomicUsize, Ordering};

use bollard::Docker;

use crate::docker::DockerError;
use crate::docker::container::{Container, ContainerError, Step, untag};
use crate::oci::layer::{Content, Entry, EntryKind};
use crate::oci::output::Image;

/// The repository of the tags given to images loaded for their scripts.
pub const TAG_REPOSITORY: &str = "rtlock-configure";

/// Lines of the log an error shows.
const LOG_TAIL_LINES: usize = 40;

/// What the maintainer scripts changed, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captured {
    /// Added and changed paths, sorted, without mtimes.
    pub entries: Vec<Entry>,
    /// Paths the scripts deleted (relative, sorted).
    pub removed: Vec<String>,
    /// What the scripts printed.
    pub log: String,
}

/// Why the maintainer scripts could not be run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    #[error(
        "cannot load the image into the Docker Engine to run the maintainer scripts of {packages}\n\
         help: build with --no-daemon to skip maintainer scripts (the packages then stay unconfigured)"
    )]
    Load {
        packages: String,
        #[source]
        source: Box<DockerError>,
    },
    #[error("cannot run the maintainer scripts of {packages} in a container")]
    Container {
        packages: String,
        #[source]
        source: Box<ContainerError>,
    },
    #[error(
        "the maintainer scripts of {packages} failed (exit status {exit_code}); the end of their output:\n\
         {log_tail}\n\
         help: a package whose scripts need a running system (services, network) cannot be configured \
         at build time; drop it, or build with --no-daemon to leave the packages unconfigured"
    )]
    Failed {
        packages: String,
        exit_code: i64,
        log_tail: String,
    },
}

/// Runs the maintainer scripts of `packages` (the ones the apt layer added) in a
/// container of `image`, and returns what they changed, normalized for `epoch` (the
/// lock's source-date-epoch). The container and the image's tag are removed
/// afterwards, also after an error.
pub async fn configure(
    docker: &Docker,
    image: &Image,
    packages: &[String],
    epoch: i64,
) -> Result<Captured, ConfigureError> {
    let (result, cleanup) = configure_deferred(docker, image, packages, epoch).await;
    let cleaned = cleanup.finish().await;
    let captured = result?;
    cleaned?;
    Ok(captured)
}

/// [`configure`], leaving the removal of the container and the image's tag to the
/// caller, who can do other work meanwhile (the engine takes a while to delete a
/// large layer). Call [`Cleanup::finish`] whatever the result.
pub async fn configure_deferred(
    docker: &Docker,
    image: &Image,
    packages: &[String],
    epoch: i64,
) -> (Result<Captured, ConfigureError>, Cleanup) {
    let names = packages.join(", ");
    let tag = tag_for(image);
    let mut cleanup = Cleanup {
        docker: docker.clone(),
        packages: names.clone(),
        container: None,
        removing: None,
        tag: None,
    };
    let started = std::time::Instant::now();
    if let Err(source) = crate::docker::load::load(docker, image, &tag).await {
        let error = ConfigureError::Load {
            packages: names,
            source: Box::new(source),
        };
        return (Err(error), cleanup);
    }
    cleanup.tag = Some(tag.clone());
    tracing::debug!("configure: image loaded in {:?}", started.elapsed());
    let result = run(docker, &tag, packages, epoch, &mut cleanup).await;
    (result, cleanup)
}

/// [`configure_deferred`] without loading an image first: the container is made from
/// `base`, an image the engine has (its ID), and `files` (the apt layer's entries, of
/// which none may be a whiteout) are copied into it before it starts. The engine then
/// takes the files in once, as it extracts them, instead of registering a layer of
/// them; a caller that wants that layer in the engine too can load it meanwhile.
///
/// `preload` may give an image (the base plus the apt layer) to load into the engine
/// while the scripts run, so that a finished image loaded afterwards shares its layer
/// instead of sending it; its tag is left in the cleanup. A failed preload only costs
/// that sharing.
pub async fn configure_on(
    docker: &Docker,
    base: &str,
    files: Vec<Entry>,
    packages: &[String],
    epoch: i64,
    preload: impl std::future::Future<Output = Option<Image>>,
) -> (Result<Captured, ConfigureError>, Cleanup) {
    let mut cleanup = Cleanup {
        docker: docker.clone(),
        packages: packages.join(", "),
        container: None,
        removing: None,
        tag: None,
    };
    let container = match create(docker, base, packages, epoch, &mut cleanup).await {
        Ok(container) => container,
        Err(e) => return (Err(e), cleanup),
    };
    let started = std::time::Instant::now();
    let copied = container
        .upload(move |out| {
            let entries = crate::oci::layer::normalize(files)?;
            crate::oci::layer::write_tar(&entries, epoch, out)
        })
        .await;
    if let Err(source) = copied {
        return (Err(container_error(&cleanup.packages, source)), cleanup);
    }
    tracing::debug!("configure: files copied in {:?}", started.elapsed());
    // The preload starts now, not with the copy: the scripts leave a core idle (they run
    // one program at a time), the copy does not.
    let loaded = async {
        let image = preload.await?;
        let tag = tag_for(&image);
        let started = std::time::Instant::now();
        match crate::docker::load::load(docker, &image, &tag).await {
            Ok(()) => {
                tracing::debug!("configure: image preloaded in {:?}", started.elapsed());
                Some(tag)
            }
            Err(e) => {
                tracing::debug!("preloading the apt layer into the engine failed: {e}");
                None
            }
        }
    };
    let (tag, result) = tokio::join!(loaded, run_in(container, packages, epoch));
    cleanup.tag = tag;
    (result, cleanup)
}

/// What a configure run leaves in the engine: its container and its image's tag.
#[derive(Debug)]
pub struct Cleanup {
    docker: Docker,
    packages: String,
    container: Option<Container>,
    /// The container's removal, when [`remove_container`](Cleanup::remove_container)
    /// started it.
    removing: Option<tokio::task::JoinHandle<Result<(), ContainerError>>>,
    tag: Option<String>,
}

impl Cleanup {
    /// Starts removing the container (the engine takes a moment), leaving the image's
    /// tag for [`finish`](Self::finish): while the tag holds the image, the engine keeps
    /// its layers, which an image loaded next can then share instead of receiving
    /// them again.
    pub fn remove_container(&mut self) {
        if let Some(container) = self.container.take() {
            self.removing = Some(tokio::spawn(container.remove()));
        }
    }

    /// Removes the container (or waits for [`remove_container`](Self::remove_container)
    /// to have done it), then the tag (the image goes with it, and its layers when no
    /// other image has them).
    pub async fn finish(self) -> Result<(), ConfigureError> {
        let started = std::time::Instant::now();
        let removed = match (self.container, self.removing) {
            (Some(container), _) => container.remove().await,
            (None, Some(removing)) => removing.await.unwrap_or_else(|e| {
                Err(ContainerError::Task {
                    action: "remove a container".into(),
                    reason: e.to_string(),
                })
            }),
            (None, None) => Ok(()),
        };
        let untagged = match &self.tag {
            Some(tag) => untag(&self.docker, tag).await,
            None => Ok(()),
        };
        tracing::debug!(
            "configure: container and image removed in {:?}",
            started.elapsed()
        );
        removed.map_err(|source| container_error(&self.packages, source))?;
        untagged.map_err(|source| container_error(&self.packages, source))
    }
}

/// The container's part: create, run, capture; the container is left to `cleanup`.
async fn run(
    docker: &Docker,
    image: &str,
    packages: &[String],
    epoch: i64,
    cleanup: &mut Cleanup,
) -> Result<Captured, ConfigureError> {
    let container = create(docker, image, packages, epoch, cleanup).await?;
    run_in(container, packages, epoch).await
}

/// Creates the container that runs the script, leaving it in `cleanup`.
async fn create<'c>(
    docker: &Docker,
    image: &str,
    packages: &[String],
    epoch: i64,
    cleanup: &'c mut Cleanup,
) -> Result<&'c Container, ConfigureError> {
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        script::script().to_string(),
        "sh".to_string(),
    ];
    cmd.extend(packages.iter().cloned());
    let step = Step {
        image: image.to_string(),
        cmd,
        env: vec![
            "DEBIAN_FRONTEND=noninteractive".into(),
            "DEBCONF_NONINTERACTIVE_SEEN=true".into(),
            format!("SOURCE_DATE_EPOCH={epoch}"),
            "LC_ALL=C".into(),
            // update-mime-database (shared-mime-info's trigger) fsyncs each of the
            // hundreds of files it writes unless told not to; the files are the same.
            "PKGSYSTEM_ENABLE_FSYNC=0".into(),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ],
        user: "root".into(),
        binds: Vec::new(),
    };
    let container = Container::create(docker, &step)
        .await
        .map_err(|source| container_error(&packages.join(", "), source))?;
    Ok(cleanup.container.insert(container))
}

async fn run_in(
    container: &Container,
    packages: &[String],
    epoch: i64,
) -> Result<Captured, ConfigureError> {
    let names = packages.join(", ");
    let started = std::time::Instant::now();
    let finished = container
        .run()
        .await
        .map_err(|source| container_error(&names, source))?;
    tracing::debug!("configure: scripts ran in {:?}", started.elapsed());
    if finished.exit_code != 0 {
        let named = script::failed_packages(&finished.log);
        return Err(ConfigureError::Failed {
            packages: if named.is_empty() {
                names
            } else {
                named.join(", ")
            },
            exit_code: finished.exit_code,
            log_tail: tail(&finished.log, LOG_TAIL_LINES),
        });
    }
    let keep = |path: &str| path == script::SHADOW_BEFORE || !normalize::is_noise(path);
    let started = std::time::Instant::now();
    let mut changes = container
        .changes(&keep)
        .await
        .map_err(|source| container_error(&names, source))?;
    tracing::debug!("configure: changes captured in {:?}", started.elapsed());
    let mut shadow_before = Vec::new();
    changes.entries.retain(|e| {
        if e.path != script::SHADOW_BEFORE {
            return true;
        }
        if let EntryKind::File(Content::Bytes(bytes)) = &e.kind {
            shadow_before = bytes.clone();
        }
        false
    });
    Ok(Captured {
        entries: normalize::normalize(changes.entries, &shadow_before, epoch),
        removed: changes
            .removed
            .into_iter()
            .filter(|p| !normalize::is_noise(p))
            .collect(),
        log: finished.log,
    })
}

/// `rtlock-configure:DIGEST12-PID-N`: the image's tag for one run. The short digest
/// says which image it is; the process and a counter keep two runs apart (two builds of
/// the same lock at once must not remove each other's tag).
fn tag_for(image: &Image) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{TAG_REPOSITORY}:{}-{}-{}",
        &image.manifest_digest.hex()[..12],
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

fn container_error(packages: &str, source: ContainerError) -> ConfigureError {
    ConfigureError::Container {
        packages: packages.to_string(),
        source: Box::new(source),
    }
}

/// The last `lines` lines of `log`.
fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
