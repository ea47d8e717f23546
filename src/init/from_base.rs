//! A [`Draft`] from a base image's inventory: `[base]` pinned to nothing yet (the lock
//! pins it), empty package sections each saying what the base already holds, and
//! `[runtime]` prefilled from the base's `com.cloudera.ml.runtime.*` labels: the editor
//! kept (a custom runtime usually keeps its base's), the edition, description and
//! versions left for the user (they name the new runtime), the keys Cloudera forbids
//! in custom runtimes left out.

use std::collections::BTreeMap;

use super::draft::Draft;
use crate::inspect::inventory::Inventory;
use crate::manifest::LABEL_PREFIX;

/// `reference` as the user named the base; `platform` `os/arch`; `labels` the base's.
pub fn draft(
    reference: &str,
    platform: &str,
    inventory: &Inventory,
    labels: &BTreeMap<String, String>,
) -> Draft {
    let mut d = Draft {
        base: reference.to_string(),
        platform: (platform != "linux/amd64").then(|| platform.to_string()),
        ..Draft::default()
    };
    d.origin = vec![
        format!("runtime.toml for a runtime that extends {reference}, written by `rtlock init`."),
        "Add packages below, then `rtlock lock` pins the base by digest and every package by"
            .to_string(),
        "sha256; `rtlock build -o docker-daemon:NAME` (or oci:, docker://…) builds it.".to_string(),
    ];
    if let Some(os) = &inventory.os.pretty_name {
        d.notes
            .base
            .push(format!("{os}, {}", inventory.os.architecture));
    }
    let installed = inventory
        .apt
        .packages
        .iter()
        .filter(|p| p.status == "installed")
        .count();
    d.notes.apt.push(format!(
        "The base has {installed} dpkg packages; name what to add (`pkg`, `pkg (>= 1.2)`, `pkg=VERSION`)."
    ));
    match inventory.python.interpreters.first() {
        Some(python) => {
            d.notes.pip.push(format!(
                "The base has Python {} ({}) with {} distributions, held at their versions",
                python.version,
                python.path,
                inventory.python.distributions.len()
            ));
            d.notes
                .pip
                .push("unless `allow-upgrade = [\"NAME\"]` names them.".to_string());
        }
        None => d.notes.pip.push(
            "The base has no Python: add python3 and python3-pip to [apt] packages first."
                .to_string(),
        ),
    }
    match inventory.r.first() {
        Some(r) => {
            d.notes.r.push(format!(
                "The base has R {} ({}) with {} packages in {}.",
                r.version.as_deref().unwrap_or("of unknown version"),
                r.home,
                r.packages.len(),
                r.library_paths.join(", ")
            ));
            if let Some(repo) = r.repos.first() {
                d.notes.r.push(format!(
                    "Its Rprofile.site sets the repos ({} = {}): packages come from there.",
                    repo.name, repo.url
                ));
            }
        }
        None => d
            .notes
            .r
            .push("The base has no R: add r-base-core to [apt] packages first.".to_string()),
    }
    let runtime: BTreeMap<&str, &str> = labels
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(LABEL_PREFIX)?, v.as_str())))
        .collect();
    if !runtime.is_empty() {
        d.notes.runtime.push(format!(
            "The base is a Cloudera ML Runtime ({}): name this one; its edition and",
            runtime
                .iter()
                .filter(|(k, _)| ["editor", "edition", "full-version"].contains(k))
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        d.notes.runtime.push(
            "versions must differ from the base's, and each new iteration needs a higher"
                .to_string(),
        );
        d.notes.runtime.push(
            "maintenance-version. Kernel, metadata and CUDA versions stay the base's.".to_string(),
        );
        if let Some(editor) = runtime.get("editor") {
            d.runtime.push(("editor".to_string(), editor.to_string()));
        }
        d.runtime_todo = [
            "edition",
            "description",
            "short-version",
            "maintenance-version",
            "full-version",
        ]
        .iter()
        .map(|k| k.to_string())
        .collect();
    }
    d
}
