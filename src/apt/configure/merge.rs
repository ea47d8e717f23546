//! The layer of what the maintainer scripts changed, on top of the apt layer.

use std::collections::BTreeMap;

use crate::image::rootfs::{Kind, RootFs};
use crate::oci::layer::{Entry, EntryKind};

use super::Captured;

/// The entries of the layer that goes on top of the apt layer (`layer`, the
/// installer's entries) to hold what the scripts did.
///
/// Keeping it a layer of its own, rather than folding it into the apt layer, leaves the
/// apt layer the same with and without scripts, and lets the engine that ran them
/// keep the (large) apt layer it was given for the run: the finished image then sends
/// it only the (small) scripts layer.
///
/// - A captured entry is kept as captured (it replaces the path below it).
/// - A captured directory that the layer or the base already has with the same mode
///   (and, in the layer, the same owner) is left out: the scripts only touched it
///   (added or removed something in it), and its mtime is not part of the result.
///   The base's owners are not known here, so a script that only `chown`s a base
///   directory is not seen; one that changes its mode is.
/// - A path the scripts removed is hidden by a whiteout (`DIR/.wh.NAME`) when the
///   layer or the base has it.
pub fn scripts_layer(captured: Captured, layer: &[Entry], base: &RootFs) -> Vec<Entry> {
    let below: BTreeMap<&str, &Entry> = layer.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for path in &captured.removed {
        if below.contains_key(path.as_str()) || matches!(base.lstat(path), Ok(Some(_))) {
            let whiteout = Entry::whiteout(path);
            entries.insert(whiteout.path.clone(), whiteout);
        }
    }
    for entry in captured.entries {
        if entry.kind == EntryKind::Directory && only_touched(&entry, &below, base) {
            continue;
        }
        entries.insert(entry.path.clone(), entry);
    }
    entries.into_values().collect()
}

fn only_touched(dir: &Entry, layer: &BTreeMap<&str, &Entry>, base: &RootFs) -> bool {
    if let Some(existing) = layer.get(dir.path.as_str()) {
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
    use crate::oci::layer::Content;

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
    fn the_scripts_layer_holds_changes_and_whiteouts_over_the_apt_layer() {
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
                // Changed: a mode the base does not have.
                Entry::dir("srv", 0o750),
                file("opt/app/conf", "new"),
                file("var/lib/dpkg/status", "installed"),
            ],
            removed: vec![
                // In the base, in the layer, and in neither (made and removed again).
                "etc/motd".into(),
                "opt/app/conf.dpkg-new".into(),
                "opt/app/cache".into(),
                "tmp/scratch".into(),
            ],
            log: String::new(),
        };
        let scripts = scripts_layer(captured, &layer, &base);
        let shown: Vec<(String, &EntryKind, u32)> = scripts
            .iter()
            .map(|e| (e.path.clone(), &e.kind, e.mode))
            .collect();
        let bytes = |t: &str| EntryKind::File(Content::Bytes(t.as_bytes().to_vec()));
        assert_eq!(
            shown,
            [
                ("etc/.wh.motd".into(), &bytes(""), 0o644),
                ("opt/app/.wh.cache".into(), &bytes(""), 0o644),
                ("opt/app/.wh.conf.dpkg-new".into(), &bytes(""), 0o644),
                ("opt/app/conf".into(), &bytes("new"), 0o644),
                ("srv".into(), &EntryKind::Directory, 0o750),
                ("var/lib/dpkg/status".into(), &bytes("installed"), 0o644),
            ]
        );
    }

    #[test]
    fn a_directory_whose_owner_the_scripts_changed_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let base = base(dir.path());
        let layer = vec![Entry::dir("opt/app", 0o755)];
        let captured = Captured {
            entries: vec![Entry::dir("opt/app", 0o755).owner(0, 50)],
            ..Captured::default()
        };
        let scripts = scripts_layer(captured, &layer, &base);
        assert_eq!(scripts.len(), 1);
        assert_eq!((scripts[0].path.as_str(), scripts[0].gid), ("opt/app", 50));
    }
}
