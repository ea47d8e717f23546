//! `/var/lib/dpkg/status` as dpkg writes it: one stanza a package, sorted by name then
//! architecture, known fields in dpkg's order, each stanza followed by a blank line.
//! The base's stanzas are kept byte for byte; only new and upgraded packages' stanzas
//! are written here.

use std::collections::BTreeMap;

use crate::deb822;

/// The fields dpkg writes before every other one, in its order (dpkg's `fieldinfos`).
/// `Filename`, `Size` and `MD5sum` belong to the available file, never to the status.
const DPKG_ORDER: &[&str] = &[
    "Package",
    "Essential",
    "Protected",
    "Status",
    "Priority",
    "Section",
    "Installed-Size",
    "Origin",
    "Maintainer",
    "Bugs",
    "Architecture",
    "Multi-Arch",
    "Source",
    "Version",
    "Config-Version",
    "Replaces",
    "Provides",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Suggests",
    "Breaks",
    "Conflicts",
    "Enhances",
    "Conffiles",
    "Description",
    "Triggers-Pending",
    "Triggers-Awaited",
];

/// Fields of a control file that the status never carries.
const NOT_IN_STATUS: &[&str] = &[
    "Status",
    "Config-Version",
    "Conffiles",
    "Filename",
    "Size",
    "MD5sum",
    "MSDOS-Filename",
];

/// A stanza's identity in the database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageKey {
    pub name: String,
    pub arch: String,
}

/// What a new stanza says beyond the control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaState<'a> {
    /// `installed` or `unpacked`.
    pub state: &'a str,
    /// The version that was configured before an upgrade left the package unpacked.
    pub config_version: Option<&'a str>,
    /// `(path, md5 or "newconffile")`, in the control file's order.
    pub conffiles: &'a [(String, String)],
}

/// The status stanza (with its final newline, without the separating blank line) of
/// a package with control file `control`.
pub fn stanza(control: &str, state: &StanzaState) -> String {
    let paragraph = deb822::paragraphs(control).next();
    let fields: Vec<deb822::Field> = paragraph.map(|p| p.fields().collect()).unwrap_or_default();
    let mut known: BTreeMap<&str, String> = BTreeMap::new();
    let mut others = Vec::new();
    for field in &fields {
        if NOT_IN_STATUS
            .iter()
            .any(|n| n.eq_ignore_ascii_case(field.name))
        {
            continue;
        }
        match DPKG_ORDER
            .iter()
            .find(|n| n.eq_ignore_ascii_case(field.name))
        {
            Some(name) => {
                known.insert(name, line(name, field.value));
            }
            None => others.push(line(field.name, field.value)),
        }
    }
    known.insert(
        "Status",
        line("Status", &format!("install ok {}", state.state)),
    );
    if let Some(version) = state.config_version {
        known.insert("Config-Version", line("Config-Version", version));
    }
    if !state.conffiles.is_empty() {
        let mut text = String::from("Conffiles:\n");
        for (path, hash) in state.conffiles {
            text.push_str(&format!(" {path} {hash}\n"));
        }
        known.insert("Conffiles", text);
    }
    let mut out = String::new();
    for name in DPKG_ORDER {
        if let Some(text) = known.get(name) {
            out.push_str(text);
        }
    }
    for text in others {
        out.push_str(&text);
    }
    out
}

/// `Name: value\n`, continuation lines as they were.
fn line(name: &str, value: &str) -> String {
    if value.is_empty() {
        format!("{name}:\n")
    } else if value.starts_with('\n') {
        format!("{name}:{value}\n")
    } else {
        format!("{name}: {value}\n")
    }
}

/// The base's status stanzas by package, kept as written (read by the one reader of
/// dpkg's database, [`crate::base::dpkg`]).
pub fn parse_base(text: &str) -> BTreeMap<PackageKey, String> {
    let mut stanzas = BTreeMap::new();
    for entry in crate::base::dpkg::entries(text) {
        let paragraph = entry.paragraph;
        let (Some(name), arch) = (paragraph.get("Package"), paragraph.get("Architecture")) else {
            continue;
        };
        let key = PackageKey {
            name: name.to_string(),
            arch: arch.unwrap_or("").to_string(),
        };
        let mut raw = paragraph.text.to_string();
        if !raw.ends_with('\n') {
            raw.push('\n');
        }
        stanzas.insert(key, raw);
    }
    stanzas
}

/// The conffile hashes a base stanza records (path → md5), for an upgrade's
/// unpacked state: dpkg keeps the old hashes until the package is configured.
pub fn conffile_hashes(stanza: &str) -> BTreeMap<String, String> {
    let Some(paragraph) = deb822::paragraphs(stanza).next() else {
        return BTreeMap::new();
    };
    paragraph
        .get("Conffiles")
        .unwrap_or("")
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

/// The whole status file: every stanza, sorted as dpkg writes them.
pub fn write(stanzas: &BTreeMap<PackageKey, String>) -> String {
    // BTreeMap order is byte order of (name, arch): dpkg's order too.
    let mut out = String::new();
    for text in stanzas.values() {
        out.push_str(text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_dpkg_order_and_unknown_fields_come_last() {
        let control = "Package: x\nVersion: 1\nArchitecture: amd64\nHomepage: h\nMaintainer: m\n\
                       Depends: a,\n b\nDescription: d\n more\nPriority: optional\n";
        let conffiles = [("/etc/x".to_string(), "newconffile".to_string())];
        let text = stanza(
            control,
            &StanzaState {
                state: "unpacked",
                config_version: Some("0.9"),
                conffiles: &conffiles,
            },
        );
        assert_eq!(
            text,
            "Package: x\nStatus: install ok unpacked\nPriority: optional\nMaintainer: m\n\
             Architecture: amd64\nVersion: 1\nConfig-Version: 0.9\nDepends: a,\n b\n\
             Conffiles:\n /etc/x newconffile\nDescription: d\n more\nHomepage: h\n"
        );
    }

    #[test]
    fn base_stanzas_round_trip_and_sort_by_name_then_arch() {
        let base = "Package: b\nArchitecture: all\n\nPackage: a\nArchitecture: i386\n\nPackage: a\nArchitecture: amd64\n";
        let parsed = parse_base(base);
        assert_eq!(
            write(&parsed),
            "Package: a\nArchitecture: amd64\n\nPackage: a\nArchitecture: i386\n\n\
             Package: b\nArchitecture: all\n\n"
        );
        let hashes = conffile_hashes("Package: a\nConffiles:\n /etc/a 123\n /etc/b newconffile\n");
        assert_eq!(hashes.get("/etc/a").map(String::as_str), Some("123"));
        assert_eq!(hashes.len(), 2);
    }
}
