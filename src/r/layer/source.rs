//! Building the lock's source packages: `R CMD INSTALL` of each, in dependency order, in
//! one container of the image below the R layer plus its binaries, through the Docker
//! Engine, with no network; what the builds installed in the library is captured
//! ([`crate::docker::container`]) and normalized ([`super::normalize`]).
//!
//! The sources are unpacked by rtlock (the checked reader, [`crate::r::tarball`]) and
//! copied into the container at [`BUILD_DIR`]`/<Package>` before it starts: a fixed path,
//! since the compiler and R's help database record where they were built (see
//! [`super::normalize`]). `SOURCE_DATE_EPOCH` is set for the tools that honour it, and
//! `--built-timestamp` gives R the epoch's date where it takes one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use bollard::Docker;

use crate::docker::container::{Container, ContainerError, Step};
use crate::oci::layer::Entry;
use crate::oci::output::Image;

use super::RLayerError;
use super::library::Library;
use super::normalize;

/// Where the sources are unpacked in the container (an image path, no leading `/`).
pub const BUILD_DIR: &str = "tmp/rtlock-r/build";

/// The repository of the tags given to images loaded for source builds.
pub const TAG_REPOSITORY: &str = "rtlock-r-build";

/// Lines of a failed build's output an error shows.
const LOG_TAIL_LINES: usize = 40;

/// The line the script prints before each package's build.
const BUILDING: &str = "rtlock: building ";

/// A source package, unpacked, ready to copy into the container.
#[derive(Debug, Clone)]
pub struct SourceTree {
    pub name: String,
    pub version: String,
    /// Its DESCRIPTION's `SystemRequirements`, shown when its build fails.
    pub system_requirements: Option<String>,
    /// Its files under `BUILD_DIR/<name>`, modes and mtimes as the tarball gives them.
    pub entries: Vec<Entry>,
}

/// The build script: `sh -c SCRIPT sh LIBRARY STAMP PKG…`, packages in build order. Its
/// output goes to standard output only, so the log reads in order.
pub fn script() -> &'static str {
    r#"set -u
exec 2>&1
lib=$1
stamp=$2
shift 2
stamped=
if R CMD INSTALL --help 2>/dev/null | grep -q -e --built-timestamp; then
    stamped=1
fi
for name in "$@"; do
    echo "rtlock: building $name"
    if [ -n "$stamped" ]; then
        R CMD INSTALL --library="$lib" --built-timestamp="$stamp" "/tmp/rtlock-r/build/$name"
    else
        R CMD INSTALL --library="$lib" "/tmp/rtlock-r/build/$name"
    fi
    status=$?
    if [ "$status" -ne 0 ]; then
        echo "rtlock: R CMD INSTALL of $name failed (exit status $status)"
        exit "$status"
    fi
done
# The sources and their objects are not part of the result: gone, they are not
# captured either.
rm -rf /tmp/rtlock-r
"#
}

/// The names of `packages` (each with its `requires`) in an order where every package
/// comes after those of `packages` it requires; requirements on other packages (binaries,
/// the image's own) are already installed. Among the packages ready at once, by name.
/// A cycle is an error naming the packages in it (and those waiting on them).
pub fn build_order(packages: &[(&str, &[String])]) -> Result<Vec<String>, Vec<String>> {
    let names: BTreeSet<&str> = packages.iter().map(|(n, _)| *n).collect();
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = packages
        .iter()
        .map(|(name, requires)| {
            let on: BTreeSet<&str> = requires
                .iter()
                .map(String::as_str)
                .filter(|r| names.contains(r) && r != name)
                .collect();
            (*name, on)
        })
        .collect();
    let mut order = Vec::new();
    loop {
        let ready: Vec<&str> = waiting
            .iter()
            .filter(|(_, on)| on.is_empty())
            .map(|(name, _)| *name)
            .collect();
        if ready.is_empty() {
            break;
        }
        for name in ready {
            waiting.remove(name);
            for on in waiting.values_mut() {
                on.remove(name);
            }
            order.push(name.to_string());
        }
    }
    if waiting.is_empty() {
        Ok(order)
    } else {
        Err(waiting.keys().map(|n| n.to_string()).collect())
    }
}

/// Builds `sources` in `order` in a container of `image` (the image below the R layer
/// plus its binaries), and returns what they installed in `library`, normalized for
/// `epoch`. The image is loaded into the engine under a tag of its own, removed
/// afterwards with the container, also after an error.
pub async fn build(
    docker: &Docker,
    image: &Image,
    base_reference: &str,
    library: &Library,
    sources: &[SourceTree],
    order: &[String],
    epoch: i64,
) -> Result<Vec<Entry>, RLayerError> {
    let packages = order.join(", ");
    let tag = tag_for(image);
    // The base may be in the engine already: then only rtlock's layers are sent.
    crate::docker::load::note_present(base_reference);
    let started = std::time::Instant::now();
    crate::docker::load::load(docker, image, &tag)
        .await
        .map_err(|source| RLayerError::Engine {
            packages: packages.clone(),
            source: Box::new(source),
        })?;
    tracing::debug!(
        "r: image for source builds loaded in {:?}",
        started.elapsed()
    );
    let built = in_container(docker, &tag, library, sources, order, epoch).await;
    if let Err(e) = crate::docker::container::untag(docker, &tag).await {
        tracing::warn!("{e}");
    }
    built
}

async fn in_container(
    docker: &Docker,
    image: &str,
    library: &Library,
    sources: &[SourceTree],
    order: &[String],
    epoch: i64,
) -> Result<Vec<Entry>, RLayerError> {
    let packages = order.join(", ");
    let container_error = |source: ContainerError| RLayerError::Container {
        packages: packages.clone(),
        source: Box::new(source),
    };
    let stamp = normalize::built_stamp(epoch);
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        script().to_string(),
        "sh".to_string(),
        library.absolute(),
        stamp.clone(),
    ];
    cmd.extend(order.iter().cloned());
    let step = Step {
        image: image.to_string(),
        cmd,
        env: vec![
            format!("SOURCE_DATE_EPOCH={epoch}"),
            "LC_ALL=C".into(),
            "TZ=UTC".into(),
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ],
        user: "root".into(),
        binds: Vec::new(),
    };
    let container = Container::create(docker, &step)
        .await
        .map_err(container_error)?;
    let result = run(&container, library, sources, order, epoch, &stamp).await;
    if let Err(e) = container.remove().await {
        tracing::warn!("{e}");
    }
    result.map_err(|e| match e {
        Failure::Container(source) => container_error(source),
        Failure::Other(e) => e,
    })
}

enum Failure {
    Container(ContainerError),
    Other(RLayerError),
}

async fn run(
    container: &Container,
    library: &Library,
    sources: &[SourceTree],
    order: &[String],
    epoch: i64,
    stamp: &str,
) -> Result<Vec<Entry>, Failure> {
    let mut files = vec![
        Entry::dir("tmp/rtlock-r", 0o755),
        Entry::dir(BUILD_DIR, 0o755),
    ];
    files.extend(sources.iter().flat_map(|s| s.entries.iter().cloned()));
    let started = std::time::Instant::now();
    container
        .upload(move |out| {
            let entries = crate::oci::layer::normalize(files)?;
            crate::oci::layer::write_tar(&entries, epoch, out)
        })
        .await
        .map_err(Failure::Container)?;
    tracing::debug!("r: sources copied in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let finished = container.run().await.map_err(Failure::Container)?;
    tracing::debug!("r: source builds ran in {:?}", started.elapsed());
    if finished.exit_code != 0 {
        let (package, log_tail) = failed(&finished.log, order);
        let system_requirements = sources
            .iter()
            .find(|s| s.name == package)
            .and_then(|s| s.system_requirements.clone());
        let version = sources
            .iter()
            .find(|s| s.name == package)
            .map(|s| s.version.as_str())
            .unwrap_or_default();
        return Err(Failure::Other(RLayerError::BuildFailed {
            package: format!("{package} {version}").trim().to_string(),
            exit_code: finished.exit_code,
            log_tail,
            system_requirements,
        }));
    }
    tracing::debug!("r: source builds:\n{}", finished.log);
    let keep = |path: &str| normalize::is_captured(path, &library.path, order);
    let changes = container.changes(&keep).await.map_err(Failure::Container)?;
    normalize::captured(changes.entries, &library.path, order, stamp)
        .map_err(|e| Failure::Other(e.into()))
}

/// The package whose build failed (the last one the script started; the first of
/// `order` when it started none) and the end of the log from that package's start.
fn failed(log: &str, order: &[String]) -> (String, String) {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines.iter().rposition(|l| l.starts_with(BUILDING));
    let package = start
        .and_then(|i| lines[i].strip_prefix(BUILDING))
        .map(str::to_string)
        .or_else(|| order.first().cloned())
        .unwrap_or_default();
    let from = start.map_or(0, |i| i + 1);
    let own = &lines[from..];
    let tail = own[own.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    (package, tail)
}

/// `rtlock-r-build:DIGEST12-PID-N`: the image's tag for one build. The short digest
/// says which image it is; the process and a counter keep two builds apart.
fn tag_for(image: &Image) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{TAG_REPOSITORY}:{}-{}-{}",
        &image.manifest_digest.hex()[..12],
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(packages: &[(&str, &[&str])]) -> Result<Vec<String>, Vec<String>> {
        let owned: Vec<(&str, Vec<String>)> = packages
            .iter()
            .map(|(n, r)| (*n, r.iter().map(|s| s.to_string()).collect()))
            .collect();
        let graph: Vec<(&str, &[String])> = owned.iter().map(|(n, r)| (*n, r.as_slice())).collect();
        build_order(&graph)
    }

    #[test]
    fn sources_build_after_the_sources_they_require() {
        assert_eq!(
            order(&[
                ("zoo", &["lattice"]),
                ("b", &["a", "R6"]),
                ("a", &["zoo", "Rcpp"]),
                ("c", &[]),
            ])
            .unwrap(),
            ["c", "zoo", "a", "b"]
        );
        assert_eq!(order(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(order(&[("self", &["self"])]).unwrap(), ["self"]);
    }

    #[test]
    fn a_cycle_names_its_packages() {
        assert_eq!(
            order(&[("a", &["b"]), ("b", &["a"]), ("c", &["b"]), ("d", &[])]).unwrap_err(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn a_failure_names_the_last_package_started_with_its_own_output() {
        let log = "rtlock: building first\n* installing *source* package 'first'\n* DONE (first)\n\
                   rtlock: building second\n* installing *source* package 'second'\n\
                   gcc -c broken.c\nbroken.c:1:1: error: expected ';'\n\
                   rtlock: R CMD INSTALL of second failed (exit status 1)\n";
        let (package, tail) = failed(log, &["first".into(), "second".into()]);
        assert_eq!(package, "second");
        assert!(
            tail.starts_with("* installing *source* package 'second'"),
            "{tail}"
        );
        assert!(tail.contains("error: expected ';'"), "{tail}");
        assert!(!tail.contains("first"), "{tail}");
        let (package, _) = failed("sh: R: not found\n", &["only".into()]);
        assert_eq!(package, "only");
    }
}
