//! Merging what the maintainer scripts changed into the apt layer.

use std::collections::BTreeMap;

use crate::image::rootfs::{Kind, RootFs};
use crate::oci::layer::{Content, Entry, EntryKind};

use super::Captured;

/// The apt layer with the scripts' changes applied.
///
/// - A captured entry replaces the layer's entry at the same path.
/// - A captured directory that the layer or the base already has with the same mode
///   (and, in the layer, the same owner) is left out: the scripts only touched it
///   (added or removed something in it), and its mtime is not part of the result.
///   The base's owners are not known here, so a script that only `chown`s a base
///   directory is not seen; one that changes its mode is.
/// - A path the scripts removed leaves the layer, with everything under it, and is
///   hidden by a whiteout (`DIR/.wh.NAME`) when the base has it.
pub fn merge(layer: Vec<Entry>, captured: Captured, base: &RootFs) -> Vec<Entry> {
    let mut merged: BTreeMap<String, Entry> =
        layer.into_iter().map(|e| (e.path.clone(), e)).collect();
    for path in &captured.removed {
        let under = format!("{path}/");
        merged.retain(|p, _| p != path && !p.starts_with(&under));
        if matches!(base.lstat(path), Ok(Some(_))) {
            let whiteout = match path.rsplit_once('/') {
                Some((dir, name)) => format!("{dir}/.wh.{name}"),
                None => format!(".wh.{path}"),
            };
            merged.insert(
                whiteout.clone(),
                Entry::file(&whiteout, 0o644, Content::Bytes(Vec::new())),
            );
        }
    }
    for entry in captured.entries {
        if entry.kind == EntryKind::Directory && only_touched(&entry, &merged, base) {
            continue;
        }
        merged.insert(entry.path.clone(), entry);
    }
    merged.into_values().collect()
}

fn only_touched(dir: &Entry, layer: &BTreeMap<String, Entry>, base: &RootFs) -> bool {
    if let Some(existing) = layer.get(&dir.path) {
        return existing.kind == EntryKind::Directory
            && existing.mode == dir.mode
            && existing.uid == dir.uid
            && existing.gid == dir.gid;
    }
    matches!(base.lstat(&dir.path), Ok(Some((_, node)))
        if node.kind == Kind::Dir && node.mode & 0o7777 == dir.mode)
}
