//! Running one step in a container and capturing what it changed, as layer entries.
//!
//! A step runs from an image already in the engine, with no network (what a step may
//! produce must depend on the image alone), and its output is collected when it ends.
//!
//! What it changed is found inside the container, by a shell wrapper around the step
//! ([`WRAPPER`]): it lists the filesystem before the step, marks the time, runs the
//! step, then lists again. A path whose status changed after the mark (ctime: every
//! write, create, rename, chmod or chown sets it, and the image's files all predate the
//! mark) was added or changed; a path listed before and not after was deleted. The
//! changed paths go into one tar, which is read with a single request. That is what
//! `docker diff` reports (the container's writable layer holds exactly the paths
//! created or changed), without walking that layer and then exporting the whole
//! filesystem, or asking the engine for each path (each request mounts the container's
//! filesystem again). The image needs `find`, `sort`, `comm` and GNU `tar`, as every
//! Debian and Ubuntu image has.
//!
//! The engine has no time namespace: the step sees the host's clock. Callers make the
//! result independent of the clock by normalizing what was captured (mtimes are not
//! captured at all; see [`crate::apt::configure`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use futures_util::StreamExt;

use super::stream::BodyError;
use crate::oci::layer::{Content, Entry, EntryKind};

/// Why a step could not run or be captured.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("the Docker Engine could not {action} (image {image}): {source}")]
    Api {
        action: String,
        image: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error(
        "the capture of container {id} is not a readable tar at `{path}`: {reason}\n\
         help: is the Docker Engine healthy? try `docker cp {id}:/.rtlock-step - | tar t`"
    )]
    Archive {
        id: String,
        path: String,
        reason: String,
    },
    #[error(
        "cannot capture what the step in container {id} changed: {errors}\n\
         help: the image needs find, sort, comm and GNU tar, and the step must run as root"
    )]
    Capture { id: String, errors: String },
    #[error(
        "the step in container {id} made `{path}`, a {kind}, which a layer entry cannot hold\n\
         help: make the step create it at run time instead (e.g. in an entrypoint)"
    )]
    Unsupported {
        id: String,
        path: String,
        kind: String,
    },
    #[error("rtlock's task to {action} stopped: {reason}")]
    Task { action: String, reason: String },
    /// What writes the files to copy into a container failed.
    #[error("rtlock's task to write the files to copy into a container stopped")]
    Upload {
        #[source]
        source: BodyError,
    },
}

/// One step: what to run, and how.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// An image the engine has (`name:tag` or an image ID).
    pub image: String,
    /// The command, without a shell (`["sh", "-c", SCRIPT]` for a script).
    pub cmd: Vec<String>,
    /// `NAME=value` pairs.
    pub env: Vec<String>,
    pub user: String,
    /// Bind mounts, `HOST:CONTAINER[:ro]`, e.g. packages to install.
    pub binds: Vec<String>,
}

/// A created container; [`remove`](Self::remove) it when done, also after an error.
#[derive(Debug)]
pub struct Container {
    docker: Docker,
    pub id: String,
    image: String,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub exit_code: i64,
    /// Standard output then standard error, as the engine kept them (a script that
    /// wants them interleaved redirects `2>&1`).
    pub log: String,
}

/// What a step changed: entries for added and changed paths, and the deleted paths.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// Sorted by path; mtimes are not kept (`None`: the layer's epoch).
    pub entries: Vec<Entry>,
    /// Paths (relative, no leading `/`) the step deleted, sorted.
    pub removed: Vec<String>,
}

impl Container {
    /// Creates (does not start) a container for `step`, with networking off.
    pub async fn create(docker: &Docker, step: &Step) -> Result<Container, ContainerError> {
        let body = ContainerCreateBody {
            image: Some(step.image.clone()),
            cmd: Some(wrapped(&step.cmd)),
            env: Some(step.env.clone()),
            user: Some(step.user.clone()),
            // An empty entrypoint: the image's own (e.g. a notebook launcher) must not
            // wrap the step.
            entrypoint: Some(Vec::new()),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                network_mode: Some("none".into()),
                binds: (!step.binds.is_empty()).then(|| step.binds.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await
            .map_err(|source| api("create a container", &step.image, source))?;
        Ok(Container {
            docker: docker.clone(),
            id: created.id,
            image: step.image.clone(),
        })
    }

    /// Extracts the tar that `produce` writes into the (created, not yet started)
    /// container's filesystem at `/`, keeping owners, modes and xattrs as the tar says:
    /// the container then starts on its image plus those files. A whiteout entry would
    /// be extracted as a plain file: give a tar without any.
    pub async fn upload<F, E>(&self, produce: F) -> Result<(), ContainerError>
    where
        F: FnOnce(&mut dyn std::io::Write) -> Result<(), E> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (body, writer) = crate::docker::stream::body(produce);
        let options = bollard::query_parameters::UploadToContainerOptionsBuilder::new()
            .path("/")
            .build();
        let uploaded = self
            .docker
            .upload_to_container(&self.id, Some(options), bollard::body_try_stream(body))
            .await;
        let written = writer.await;
        // The writer's own error says more than the engine's view of a broken stream.
        written.map_err(|source| ContainerError::Upload { source })?;
        uploaded.map_err(|source| api("copy files into a container", &self.image, source))
    }

    /// Starts the container, waits for it to stop and collects its output.
    pub async fn run(&self) -> Result<Finished, ContainerError> {
        self.docker
            .start_container(
                &self.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|source| api("start a container", &self.image, source))?;
        let mut waiting = std::pin::pin!(self.docker.wait_container(
            &self.id,
            None::<bollard::query_parameters::WaitContainerOptions>
        ));
        let mut exit_code = 0;
        while let Some(status) = waiting.next().await {
            match status {
                Ok(status) => exit_code = status.status_code,
                // bollard reports a non-zero exit as an error; it is an outcome here.
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => {
                    exit_code = code;
                }
                Err(source) => return Err(api("wait for a container", &self.image, source)),
            }
        }
        let options = bollard::query_parameters::LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .build();
        let mut logs = std::pin::pin!(self.docker.logs(&self.id, Some(options)));
        let mut log = Vec::new();
        while let Some(chunk) = logs.next().await {
            let chunk =
                chunk.map_err(|source| api("read a container's log", &self.image, source))?;
            log.extend_from_slice(&chunk.into_bytes());
        }
        Ok(Finished {
            exit_code,
            log: String::from_utf8_lossy(&log).into_owned(),
        })
    }

    /// What the step changed, for the paths `keep` accepts (relative, no leading `/`);
    /// the others are dropped. Deleted paths are reported whatever `keep` says (the
    /// topmost ones: not what was under a deleted directory).
    pub async fn changes(&self, keep: &dyn Fn(&str) -> bool) -> Result<Changes, ContainerError> {
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
            .path(&format!("/{CAPTURE_DIR}"))
            .build();
        let mut body = std::pin::pin!(self.docker.download_from_container(&self.id, Some(options)));
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|source| api("read what a step changed", &self.image, source))?;
            bytes.extend_from_slice(&chunk);
        }
        let id = self.id.clone();
        let captured = read_capture(&bytes, &id)?;
        let wanted: BTreeSet<String> = captured.changed.into_iter().filter(|p| keep(p)).collect();
        let entries = read_entries(&captured.tar, &wanted, &id)?;
        Ok(Changes {
            entries,
            removed: topmost(captured.removed),
        })
    }

    /// Removes the container (and its anonymous volumes), running or not.
    pub async fn remove(self) -> Result<(), ContainerError> {
        let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        self.docker
            .remove_container(&self.id, Some(options))
            .await
            .map_err(|source| api("remove a container", &self.image, source))
    }
}

/// Removes the tag `reference` from the engine (the image goes when nothing else
/// names it); the layers stay while other images share them.
pub async fn untag(docker: &Docker, reference: &str) -> Result<(), ContainerError> {
    let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
        .noprune(false)
        .build();
    docker
        .remove_image(reference, Some(options), None)
        .await
        .map(drop)
        .map_err(|source| api("remove an image tag", reference, source))
}

fn api(action: &str, image: &str, source: bollard::errors::Error) -> ContainerError {
    ContainerError::Api {
        action: action.to_string(),
        image: image.to_string(),
        source,
    }
}

/// The directory (relative to `/`) where the wrapper keeps its lists and the tar of
/// what changed; never captured itself.
const CAPTURE_DIR: &str = ".rtlock-step";

/// The shell wrapper around a step: `sh -c WRAPPER sh CMD…`. It exits with the step's
/// status; the capture's own errors go to `errors`, which [`Container::changes`] reports.
///
/// As `docker diff` does, a file whose status changed but whose type, mode, owner,
/// size and mtime did not (opened for writing, or touched, and left as it was) is not
/// a change; a directory whose status changed is (its entries did).
///
/// The sleep after the mark keeps a change made in the same clock tick as the mark
/// (file times have the kernel's tick as resolution) from being taken for older.
const WRAPPER: &str = r#"cap=/.rtlock-step
mkdir -p "$cap" || exit 125
list() {
    cd / && find . -xdev \( -path ./.rtlock-step -o -path ./proc -o -path ./sys -o -path ./dev \
        -o -path ./etc/hosts -o -path ./etc/hostname -o -path ./etc/resolv.conf \
        -o -path ./.dockerenv \) -prune -o \( "$@" \)
}
# A path with what docker diff compares: type, mode, owner, size, mtime.
stats='%p\t%y %m %U %G %s %T@\0'
(list -printf "$stats") | LC_ALL=C sort -z > "$cap/before" 2>> "$cap/errors"
touch "$cap/mark" && sleep 0.05
"$@"
status=$?
{
    (list -fprint0 "$cap/after" , -cnewer "$cap/mark" -type d -fprint0 "$cap/dirs" , \
        -cnewer "$cap/mark" ! -type d -fprintf "$cap/files" "$stats") &&
    LC_ALL=C sort -z -o "$cap/after" "$cap/after" &&
    cut -z -f1 "$cap/before" | LC_ALL=C comm -z -23 - "$cap/after" > "$cap/removed" &&
    {
        cat "$cap/dirs" &&
        LC_ALL=C sort -z "$cap/files" | LC_ALL=C comm -z -23 - "$cap/before" | cut -z -f1
    } | LC_ALL=C sort -z > "$cap/changed" &&
    tar -C / --null --no-recursion --numeric-owner --format=posix --xattrs \
        --xattrs-include=security.capability -T "$cap/changed" -cf "$cap/changes.tar"
} 2>> "$cap/errors" || echo "the capture failed" >> "$cap/errors"
rm -f "$cap/before" "$cap/after" "$cap/dirs" "$cap/files"
exit $status
"#;

/// The command that runs `cmd` inside the [`WRAPPER`].
fn wrapped(cmd: &[String]) -> Vec<String> {
    let mut wrapped = vec!["sh".into(), "-c".into(), WRAPPER.into(), "sh".into()];
    wrapped.extend(cmd.iter().cloned());
    wrapped
}

/// What the wrapper left: the changed paths, the tar of them, and the deleted paths.
#[derive(Debug, Default)]
struct Capture {
    changed: Vec<String>,
    removed: Vec<String>,
    tar: Vec<u8>,
}

/// Reads the wrapper's directory, as the engine sends it (a tar named `.rtlock-step/…`).
fn read_capture(archive: &[u8], id: &str) -> Result<Capture, ContainerError> {
    let bad = |reason: String| ContainerError::Archive {
        id: id.to_string(),
        path: CAPTURE_DIR.to_string(),
        reason,
    };
    let mut capture = Capture::default();
    let mut errors = String::new();
    let mut found_tar = false;
    let mut tar = tar::Archive::new(archive);
    for item in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut item = item.map_err(|e| bad(e.to_string()))?;
        let path = item.path().map_err(|e| bad(e.to_string()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut bytes = Vec::new();
        item.read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        match name.as_str() {
            "changes.tar" => {
                capture.tar = bytes;
                found_tar = true;
            }
            "changed" => capture.changed = paths(&bytes),
            "removed" => capture.removed = paths(&bytes),
            "errors" => errors = String::from_utf8_lossy(&bytes).into_owned(),
            _ => {}
        }
    }
    if !errors.trim().is_empty() || !found_tar {
        return Err(ContainerError::Capture {
            id: id.to_string(),
            errors: errors.trim().to_string(),
        });
    }
    Ok(capture)
}

/// `find -print0` paths (`./etc/x`) as `etc/x`, without the root.
fn paths(list: &[u8]) -> Vec<String> {
    list.split(|b| *b == 0)
        .map(|p| String::from_utf8_lossy(p))
        .map(|p| p.strip_prefix("./").unwrap_or(&p).to_string())
        .filter(|p| !p.is_empty() && p != ".")
        .collect()
}

/// The paths not under another of them, sorted: a deleted directory stands for what
/// it held.
fn topmost(mut paths: Vec<String>) -> Vec<String> {
    paths.sort();
    let mut kept: Vec<String> = Vec::new();
    for path in paths {
        if kept
            .last()
            .is_some_and(|top| path.starts_with(&format!("{top}/")))
        {
            continue;
        }
        kept.push(path);
    }
    kept
}

/// Where a regular file's bytes are in the tar, for hard links to uncaptured files.
struct Located {
    offset: u64,
    size: u64,
}

/// Reads the `wanted` paths of the tar of what changed as entries.
///
/// A hard link whose target was also captured stays a hard link; one whose target was
/// not becomes a copy of the target's bytes, which come earlier in the same tar.
fn read_entries(
    archive: &[u8],
    wanted: &BTreeSet<String>,
    id: &str,
) -> Result<Vec<Entry>, ContainerError> {
    let bad = |path: &str, reason: String| ContainerError::Archive {
        id: id.to_string(),
        path: path.to_string(),
        reason,
    };
    let name = |raw: &str| {
        raw.trim_start_matches("./")
            .trim_end_matches('/')
            .to_string()
    };
    let mut tar = tar::Archive::new(std::io::Cursor::new(archive));
    let mut regular: BTreeMap<String, Located> = BTreeMap::new();
    let mut found: Vec<Entry> = Vec::new();
    let mut links: Vec<(Entry, String)> = Vec::new();
    for item in tar.entries().map_err(|e| bad("", e.to_string()))? {
        let mut item = item.map_err(|e| bad("", e.to_string()))?;
        let raw = item.path().map_err(|e| bad("", e.to_string()))?;
        let path = name(&raw.to_string_lossy());
        let header = item.header();
        let kind = header.entry_type();
        if kind.is_file() {
            regular.insert(
                path.clone(),
                Located {
                    offset: item.raw_file_position(),
                    size: item.size(),
                },
            );
        }
        if !wanted.contains(&path) {
            continue;
        }
        let mode = header.mode().map_err(|e| bad(&path, e.to_string()))? & 0o7777;
        let uid = header.uid().map_err(|e| bad(&path, e.to_string()))? as u32;
        let gid = header.gid().map_err(|e| bad(&path, e.to_string()))? as u32;
        let link = item
            .link_name()
            .map_err(|e| bad(&path, e.to_string()))?
            .map(|t| t.to_string_lossy().into_owned());
        let link_target = || {
            link.clone()
                .ok_or_else(|| bad(&path, "a link without a target".into()))
        };
        let entry_kind = if kind.is_dir() {
            EntryKind::Directory
        } else if kind.is_symlink() {
            EntryKind::Symlink {
                target: link_target()?,
            }
        } else if kind.is_hard_link() {
            EntryKind::HardLink {
                target: name(&link_target()?),
            }
        } else if kind.is_file() {
            let mut bytes = Vec::with_capacity(item.size() as usize);
            item.read_to_end(&mut bytes)
                .map_err(|e| bad(&path, e.to_string()))?;
            EntryKind::File(Content::Bytes(bytes))
        } else {
            return Err(ContainerError::Unsupported {
                id: id.to_string(),
                path,
                kind: format!("{kind:?}").to_lowercase(),
            });
        };
        let xattrs = xattrs(&mut item).map_err(|e| bad(&path, e.to_string()))?;
        let entry = Entry {
            path: path.clone(),
            kind: entry_kind,
            mode,
            uid,
            gid,
            mtime: None,
            xattrs,
        };
        match &entry.kind {
            EntryKind::HardLink { target } if !wanted.contains(target) => {
                let target = target.clone();
                links.push((entry, target));
            }
            _ => found.push(entry),
        }
    }
    for (mut entry, target) in links {
        let located = regular.get(&target).ok_or_else(|| {
            bad(
                &entry.path,
                format!("a hard link to `{target}`, which the capture does not hold"),
            )
        })?;
        let start = located.offset as usize;
        let bytes = archive
            .get(start..start + located.size as usize)
            .ok_or_else(|| bad(&target, "the tar ends inside this file".into()))?;
        entry.kind = EntryKind::File(Content::Bytes(bytes.to_vec()));
        found.push(entry);
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// `SCHILY.xattr.NAME` records of an entry's PAX header.
fn xattrs<R: Read>(item: &mut tar::Entry<R>) -> std::io::Result<BTreeMap<String, Vec<u8>>> {
    let mut found = BTreeMap::new();
    if let Some(extensions) = item.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            if let Some(name) = extension
                .key()
                .ok()
                .and_then(|k| k.strip_prefix("SCHILY.xattr."))
            {
                found.insert(name.to_string(), extension.value_bytes().to_vec());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_uid(7);
        header.set_gid(8);
        header
    }

    /// A tar of what changed: a file of the image, a captured hard link to it, a
    /// captured file with an xattr and its captured hard link, and a FIFO.
    fn archive(fifo_wanted: bool) -> (Vec<u8>, BTreeSet<String>) {
        let mut tar = tar::Builder::new(Vec::new());
        tar.append_data(
            &mut header(tar::EntryType::Regular, 4, 0o644),
            "./usr/bin/base",
            &b"base"[..],
        )
        .unwrap();
        tar.append_data(
            &mut header(tar::EntryType::Directory, 0, 0o755),
            "./etc/",
            &[][..],
        )
        .unwrap();
        tar.append_pax_extensions([("SCHILY.xattr.user.rtlock", &b"yes"[..])])
            .unwrap();
        tar.append_data(
            &mut header(tar::EntryType::Regular, 3, 0o4755),
            "./etc/new",
            &b"new"[..],
        )
        .unwrap();
        for (path, target) in [
            ("./etc/again", "./etc/new"),
            ("./etc/copy", "./usr/bin/base"),
        ] {
            let mut link = header(tar::EntryType::Link, 0, 0o644);
            tar.append_link(&mut link, path, target).unwrap();
        }
        tar.append_data(
            &mut header(tar::EntryType::Fifo, 0, 0o644),
            "./run/fifo",
            &[][..],
        )
        .unwrap();
        let mut wanted: BTreeSet<String> = ["etc", "etc/new", "etc/again", "etc/copy"]
            .map(String::from)
            .into();
        if fifo_wanted {
            wanted.insert("run/fifo".into());
        }
        (tar.into_inner().unwrap(), wanted)
    }

    #[test]
    fn a_capture_is_read_as_entries_with_links_owners_and_xattrs() {
        let (bytes, wanted) = archive(false);
        let entries = read_entries(&bytes, &wanted, "c1").unwrap();
        let paths: Vec<_> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["etc", "etc/again", "etc/copy", "etc/new"]);
        assert_eq!(entries[0].kind, EntryKind::Directory);
        assert_eq!(
            entries[1].kind,
            EntryKind::HardLink {
                target: "etc/new".into()
            }
        );
        // Its target was not captured: a copy of the target's bytes.
        assert_eq!(
            entries[2].kind,
            EntryKind::File(Content::Bytes(b"base".to_vec()))
        );
        let new = &entries[3];
        assert_eq!(new.kind, EntryKind::File(Content::Bytes(b"new".to_vec())));
        assert_eq!(
            (new.mode, new.uid, new.gid, new.mtime),
            (0o4755, 7, 8, None)
        );
        assert_eq!(
            new.xattrs.get("user.rtlock").map(Vec::as_slice),
            Some(&b"yes"[..])
        );
    }

    #[test]
    fn a_captured_fifo_is_an_error_naming_it() {
        let (bytes, wanted) = archive(true);
        let err = read_entries(&bytes, &wanted, "c1").unwrap_err();
        assert!(matches!(err, ContainerError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("run/fifo"), "{err}");
    }

    /// The wrapper's directory as the engine sends it.
    fn capture_dir(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut header = header(tar::EntryType::Regular, bytes.len() as u64, 0o644);
            tar.append_data(&mut header, format!(".rtlock-step/{name}"), *bytes)
                .unwrap();
        }
        tar.into_inner().unwrap()
    }

    #[test]
    fn the_wrappers_lists_give_changed_and_topmost_removed_paths() {
        let (inner, _) = archive(false);
        let dir = capture_dir(&[
            ("changed", b".\0./.hidden\0./etc\0./etc/new\0"),
            (
                "removed",
                b"./opt/gone\0./opt/gone/a\0./opt/gone/b/c\0./srv/x\0",
            ),
            ("changes.tar", &inner),
            ("errors", b""),
        ]);
        let capture = read_capture(&dir, "c1").unwrap();
        assert_eq!(capture.changed, [".hidden", "etc", "etc/new"]);
        assert_eq!(topmost(capture.removed), ["opt/gone", "srv/x"]);
        assert_eq!(capture.tar, inner);
    }

    #[test]
    fn a_failed_capture_is_an_error_saying_why() {
        let dir = capture_dir(&[("changed", b""), ("errors", b"sh: 1: comm: not found\n")]);
        let err = read_capture(&dir, "c1").unwrap_err().to_string();
        assert!(err.contains("comm: not found"), "{err}");
        assert!(err.contains("GNU tar"), "{err}");
    }
}
