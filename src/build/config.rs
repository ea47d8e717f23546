//! The image config: the base image's config with the lock's `[image]` applied, the
//! history extended, and every timestamp the source-date-epoch.

use std::collections::BTreeMap;

use crate::lockfile::{Lockfile, rfc3339};
use crate::oci::Digest;
use crate::oci::annotation::{
    BASE_DIGEST as LABEL_BASE_DIGEST, BASE_NAME as LABEL_BASE_NAME, CREATED as LABEL_CREATED,
};
use crate::oci::types::{History, ImageConfig};

/// One layer rtlock adds: its diff_id and what the history says it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedLayer {
    pub diff_id: Digest,
    pub created_by: String,
}

/// The config of the built image.
///
/// - env: merged by key, the lock wins; the base's order is kept, new keys follow sorted;
/// - labels: the base's, then `org.opencontainers.image.created`/`base.digest`/
///   `base.name`, then the lock's (which win);
/// - user, workdir, entrypoint, cmd: replaced when the lock sets them; setting an
///   entrypoint without a cmd drops the base's cmd, as a Dockerfile `ENTRYPOINT` does
///   (the base's arguments were meant for the base's entrypoint);
/// - `created` and every new history entry: the source-date-epoch.
pub fn image_config(base: &ImageConfig, lock: &Lockfile, added: &[AddedLayer]) -> ImageConfig {
    let created = rfc3339(lock.source_date_epoch);
    let image = &lock.image;
    let mut config = base.clone();
    config.created = Some(created.clone());

    let mut container = config.config.take().unwrap_or_default();
    container.env = merged_env(container.env.take(), &image.env);
    let mut labels = container.labels.take().unwrap_or_default();
    labels.insert(LABEL_CREATED.to_string(), created.clone());
    labels.insert(
        LABEL_BASE_DIGEST.to_string(),
        lock.base.manifest.to_string(),
    );
    labels.insert(LABEL_BASE_NAME.to_string(), lock.base.reference.clone());
    labels.extend(image.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    container.labels = Some(labels);
    if let Some(user) = &image.user {
        container.user = Some(user.clone());
    }
    if let Some(workdir) = &image.workdir {
        container.working_dir = Some(workdir.clone());
    }
    if let Some(entrypoint) = &image.entrypoint {
        container.entrypoint = Some(entrypoint.clone());
        if image.cmd.is_none() {
            container.cmd = None;
        }
    }
    if let Some(cmd) = &image.cmd {
        container.cmd = Some(cmd.clone());
    }
    config.config = Some(container);

    config
        .rootfs
        .diff_ids
        .extend(added.iter().map(|l| l.diff_id.clone()));
    for layer in added {
        config.history.push(History {
            created: Some(created.clone()),
            created_by: Some(layer.created_by.clone()),
            comment: Some("rtlock".to_string()),
            ..History::default()
        });
    }
    config.history.push(History {
        created: Some(created),
        created_by: Some(describe_config(lock)),
        comment: Some("rtlock".to_string()),
        empty_layer: Some(true),
        ..History::default()
    });
    config
}

/// What the last, empty history entry says: which parts of the config the lock set.
fn describe_config(lock: &Lockfile) -> String {
    let image = &lock.image;
    let mut parts = vec![format!("labels ({})", image.labels.len() + 3)];
    if !image.env.is_empty() {
        parts.insert(0, format!("env ({})", image.env.len()));
    }
    for (set, name) in [
        (image.user.is_some(), "user"),
        (image.workdir.is_some(), "workdir"),
        (image.entrypoint.is_some(), "entrypoint"),
        (image.cmd.is_some(), "cmd"),
    ] {
        if set {
            parts.push(name.to_string());
        }
    }
    format!("rtlock: image config: {}", parts.join(", "))
}

fn merged_env(base: Option<Vec<String>>, lock: &BTreeMap<String, String>) -> Option<Vec<String>> {
    let base = base.unwrap_or_default();
    let mut rest = lock.clone();
    let mut env: Vec<String> = base
        .into_iter()
        .map(|entry| {
            let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
            match rest.remove(key) {
                Some(value) => format!("{key}={value}"),
                None => entry,
            }
        })
        .collect();
    env.extend(rest.into_iter().map(|(k, v)| format!("{k}={v}")));
    (!env.is_empty()).then_some(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> ImageConfig {
        serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","created":"2026-01-02T03:04:05.123Z",
            "config":{"Env":["PATH=/usr/bin","LANG=C"],"Cmd":["bash"],"Labels":{"a":"base"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},
            "history":[{"created_by":"debootstrap"}]}"#,
        )
        .unwrap()
    }

    fn lock() -> Lockfile {
        crate::lockfile::parse(
            r#"version = 1
manifest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
source-date-epoch = 1761955200
[base]
reference = "127.0.0.1:5000/base:1"
digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
manifest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
platform = "linux/amd64"
[image]
env = { TZ = "UTC", LANG = "C.UTF-8", A = "1" }
labels = { a = "lock", "com.cloudera.ml.runtime.edition" = "Data Science" }
user = "8536"
workdir = "/home/cdsw"
entrypoint = ["/bin/sh", "-c"]
"#,
            std::path::Path::new("runtime.lock"),
        )
        .unwrap()
    }

    #[test]
    fn the_lock_is_applied_over_the_base() {
        let added = [AddedLayer {
            diff_id: Digest::of(b"x"),
            created_by: "rtlock: apt (2 packages)".into(),
        }];
        let config = image_config(&base(), &lock(), &added);
        assert_eq!(config.created.as_deref(), Some("2025-11-01T00:00:00Z"));
        let c = config.config.as_ref().unwrap();
        assert_eq!(
            c.env.as_ref().unwrap(),
            &["PATH=/usr/bin", "LANG=C.UTF-8", "A=1", "TZ=UTC"]
        );
        let labels = c.labels.as_ref().unwrap();
        assert_eq!(labels["a"], "lock");
        assert_eq!(labels[LABEL_CREATED], "2025-11-01T00:00:00Z");
        assert_eq!(labels[LABEL_BASE_NAME], "127.0.0.1:5000/base:1");
        assert_eq!(labels["com.cloudera.ml.runtime.edition"], "Data Science");
        assert_eq!(c.user.as_deref(), Some("8536"));
        assert_eq!(c.working_dir.as_deref(), Some("/home/cdsw"));
        assert_eq!(c.cmd, None, "an entrypoint drops the base's cmd");
        assert_eq!(config.rootfs.diff_ids.len(), 2);
        assert_eq!(config.history.len(), 3);
        assert_eq!(
            config.history[1].created_by.as_deref(),
            Some("rtlock: apt (2 packages)")
        );
        assert_eq!(config.history[2].empty_layer, Some(true));
        assert!(
            config.history[1..]
                .iter()
                .all(|h| h.created.as_deref() == Some("2025-11-01T00:00:00Z"))
        );
    }

    #[test]
    fn timestamps_are_utc_whole_seconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_761_955_200), "2025-11-01T00:00:00Z");
    }
}
