//! Running one step in a container and capturing what it changed, as layer entries.
//!
//! A step runs from an image already in the engine, with no network (what a step may
//! produce must depend on the image alone), and its output is collected when it ends.
//! What it changed comes from the engine's diff (`docker diff`: added, changed and
//! deleted paths) and the content of those paths from one `docker export` streamed into
//! a temporary file, read once: memory holds only the captured files, never the image.
//!
//! The engine has no time namespace: the step sees the host's clock. Callers make the
//! result independent of the clock by normalizing what was captured (mtimes are not
//! captured at all; see [`crate::apt::configure`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::models::{ChangeType, ContainerCreateBody, HostConfig};
use futures_util::StreamExt;

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
    #[error("cannot keep the export of container {id} in {}: {source}\nhelp: check free space in TMPDIR", file.display())]
    Io {
        id: String,
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the export of container {id} is not a readable tar at `{path}`: {reason}\n\
         help: is the Docker Engine healthy? try `docker export {id} | tar t`"
    )]
    Archive {
        id: String,
        path: String,
        reason: String,
    },
    #[error(
        "the step in container {id} made `{path}`, a {kind}, which a layer entry cannot hold\n\
         help: make the step create it at run time instead (e.g. in an entrypoint)"
    )]
    Unsupported {
        id: String,
        path: String,
        kind: String,
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
            cmd: Some(step.cmd.clone()),
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
    /// the others are never read. Deleted paths are reported whatever `keep` says.
    pub async fn changes(&self, keep: &dyn Fn(&str) -> bool) -> Result<Changes, ContainerError> {
        let listed = self
            .docker
            .container_changes(&self.id)
            .await
            .map_err(|source| api("list a container's changes", &self.image, source))?
            .unwrap_or_default();
        let mut wanted = BTreeSet::new();
        let mut removed = Vec::new();
        for change in listed {
            let path = change.path.trim_start_matches('/').to_string();
            if path.is_empty() {
                continue;
            }
            match change.kind {
                ChangeType::_2 => removed.push(path),
                _ if keep(&path) => {
                    wanted.insert(path);
                }
                _ => {}
            }
        }
        removed.sort();
        let archive = self.export().await?;
        let id = self.id.clone();
        let path = archive.path().to_path_buf();
        let entries = tokio::task::spawn_blocking(move || read_entries(&path, &wanted, &id))
            .await
            .map_err(|e| ContainerError::Archive {
                id: self.id.clone(),
                path: String::new(),
                reason: format!("the reader stopped: {e}"),
            })??;
        Ok(Changes { entries, removed })
    }

    /// `docker export`, streamed into a temporary file.
    async fn export(&self) -> Result<tempfile::NamedTempFile, ContainerError> {
        let io = |file: &Path, source| ContainerError::Io {
            id: self.id.clone(),
            file: file.to_path_buf(),
            source,
        };
        let mut temp = tempfile::Builder::new()
            .prefix("rtlock-step-")
            .suffix(".tar")
            .tempfile()
            .map_err(|e| io(&std::env::temp_dir(), e))?;
        let mut body = std::pin::pin!(self.docker.export_container(&self.id));
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| api("export a container", &self.image, source))?;
            temp.write_all(&chunk).map_err(|e| io(temp.path(), e))?;
        }
        temp.flush().map_err(|e| io(temp.path(), e))?;
        Ok(temp)
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

/// Where a regular file's bytes are in the export, for hard links to uncaptured files.
struct Located {
    offset: u64,
    size: u64,
}

/// Reads the `wanted` paths of the export at `archive` as entries.
///
/// A hard link whose target was also captured stays a hard link; one whose target was
/// not (the step linked to a file of the image) becomes a copy of the target's bytes,
/// which come earlier in the same tar.
fn read_entries(
    archive: &Path,
    wanted: &BTreeSet<String>,
    id: &str,
) -> Result<Vec<Entry>, ContainerError> {
    let bad = |path: &str, reason: String| ContainerError::Archive {
        id: id.to_string(),
        path: path.to_string(),
        reason,
    };
    let io = |source| ContainerError::Io {
        id: id.to_string(),
        file: archive.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(archive).map_err(io)?;
    let mut tar = tar::Archive::new(file);
    let mut regular: BTreeMap<String, Located> = BTreeMap::new();
    let mut found: Vec<Entry> = Vec::new();
    let mut links: Vec<(Entry, String)> = Vec::new();
    for item in tar.entries().map_err(|e| bad("", e.to_string()))? {
        let mut item = item.map_err(|e| bad("", e.to_string()))?;
        let raw = item.path().map_err(|e| bad("", e.to_string()))?;
        let path = raw
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
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
                target: link_target()?.trim_start_matches("./").to_string(),
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
        let xattrs = xattrs(&mut item).map_err(|e| bad(&path, e))?;
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
    let mut file = tar.into_inner();
    for (mut entry, target) in links {
        let located = regular.get(&target).ok_or_else(|| {
            bad(
                &entry.path,
                format!("a hard link to `{target}`, which the export does not hold"),
            )
        })?;
        let mut bytes = vec![0; located.size as usize];
        file.seek(SeekFrom::Start(located.offset)).map_err(io)?;
        file.read_exact(&mut bytes).map_err(io)?;
        entry.kind = EntryKind::File(Content::Bytes(bytes));
        found.push(entry);
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// `SCHILY.xattr.NAME` records of an entry's PAX header.
fn xattrs<R: Read>(item: &mut tar::Entry<R>) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut found = BTreeMap::new();
    if let Some(extensions) = item.pax_extensions().map_err(|e| e.to_string())? {
        for extension in extensions {
            let extension = extension.map_err(|e| e.to_string())?;
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

    /// An export holding a base file, a captured hard link to it, a captured file with
    /// an xattr and its captured hard link, and a FIFO.
    fn export(fifo_wanted: bool) -> (tempfile::NamedTempFile, BTreeSet<String>) {
        let temp = tempfile::NamedTempFile::new().unwrap();
        let mut tar = tar::Builder::new(temp.reopen().unwrap());
        tar.append_data(
            &mut header(tar::EntryType::Regular, 4, 0o644),
            "usr/bin/base",
            &b"base"[..],
        )
        .unwrap();
        tar.append_data(
            &mut header(tar::EntryType::Directory, 0, 0o755),
            "etc/",
            &[][..],
        )
        .unwrap();
        tar.append_pax_extensions([("SCHILY.xattr.user.rtlock", &b"yes"[..])])
            .unwrap();
        tar.append_data(
            &mut header(tar::EntryType::Regular, 3, 0o4755),
            "etc/new",
            &b"new"[..],
        )
        .unwrap();
        for (path, target) in [("etc/again", "etc/new"), ("etc/copy", "usr/bin/base")] {
            let mut link = header(tar::EntryType::Link, 0, 0o644);
            tar.append_link(&mut link, path, target).unwrap();
        }
        tar.append_data(
            &mut header(tar::EntryType::Fifo, 0, 0o644),
            "run/fifo",
            &[][..],
        )
        .unwrap();
        tar.into_inner().unwrap();
        let mut wanted: BTreeSet<String> = ["etc", "etc/new", "etc/again", "etc/copy"]
            .map(String::from)
            .into();
        if fifo_wanted {
            wanted.insert("run/fifo".into());
        }
        (temp, wanted)
    }

    #[test]
    fn an_export_is_read_as_entries_with_links_owners_and_xattrs() {
        let (temp, wanted) = export(false);
        let entries = read_entries(temp.path(), &wanted, "c1").unwrap();
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
        let (temp, wanted) = export(true);
        let err = read_entries(temp.path(), &wanted, "c1").unwrap_err();
        assert!(matches!(err, ContainerError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("run/fifo"), "{err}");
    }
}
