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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::LayerBlob;
    use crate::image::store::BlobLocation;

    /// A base of one uncompressed layer holding `etc/` (0755), `etc/motd`,
    /// `var/log/` (0755) and `srv/` (0755).
    fn base(dir: &std::path::Path) -> RootFs {
        let path = dir.join("base.tar");
        let mut tar = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (name, kind, mode) in [
            ("etc/", tar::EntryType::Directory, 0o755),
            ("etc/motd", tar::EntryType::Regular, 0o644),
            ("srv/", tar::EntryType::Directory, 0o755),
            ("var/log/", tar::EntryType::Directory, 0o755),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_mode(mode);
            header.set_size(0);
            tar.append_data(&mut header, name, &[][..]).unwrap();
        }
        tar.into_inner().unwrap();
        let layer = LayerBlob {
            media_type: Some(crate::oci::media_type::OCI_LAYER_TAR.into()),
            digest: None,
            size: None,
            diff_id: None,
            location: BlobLocation::file(&path).unwrap(),
        };
        RootFs::read(&[layer], &|_, _| None).unwrap()
    }

    fn file(path: &str, text: &str) -> Entry {
        Entry::file(path, 0o644, Content::Bytes(text.as_bytes().to_vec()))
    }

    #[test]
    fn scripts_changes_replace_remove_and_white_out() {
        let dir = tempfile::tempdir().unwrap();
        let base = base(dir.path());
        let layer = vec![
            Entry::dir("opt/app", 0o755),
            file("opt/app/conf.dpkg-new", "new"),
            Entry::dir("opt/app/cache", 0o755),
            file("opt/app/cache/x", "x"),
            file("var/lib/dpkg/status", "unpacked"),
        ];
        let captured = Captured {
            entries: vec![
                // Only touched: the same as in the layer or the base.
                Entry::dir("opt/app", 0o755),
                Entry::dir("etc", 0o755),
                // Changed: a mode the base does not have, an owner the layer does not.
                Entry::dir("srv", 0o750),
                Entry::dir("opt/app", 0o755).owner(0, 50),
                file("opt/app/conf", "new"),
                file("var/lib/dpkg/status", "installed"),
            ],
            removed: vec![
                "etc/motd".into(),
                "opt/app/conf.dpkg-new".into(),
                "opt/app/cache".into(),
            ],
            log: String::new(),
        };
        let merged = merge(layer, captured, &base);
        let shown: Vec<(String, &EntryKind, u32)> = merged
            .iter()
            .map(|e| (e.path.clone(), &e.kind, e.mode))
            .collect();
        let bytes = |t: &str| EntryKind::File(Content::Bytes(t.as_bytes().to_vec()));
        assert_eq!(
            shown,
            [
                ("etc/.wh.motd".into(), &bytes(""), 0o644),
                ("opt/app".into(), &EntryKind::Directory, 0o755),
                ("opt/app/conf".into(), &bytes("new"), 0o644),
                ("srv".into(), &EntryKind::Directory, 0o750),
                ("var/lib/dpkg/status".into(), &bytes("installed"), 0o644),
            ]
        );
        assert_eq!(merged[1].gid, 50, "the owner the script gave opt/app");
    }
}
