//! What packages state of their license, read from an image's files, and how that
//! reads as an SPDX license expression.
//!
//! - Debian: the machine-readable `/usr/share/doc/PKG/copyright` (its first paragraph
//!   has `Format:`): the distinct short names of every `License:` field, joined with
//!   `and`. A copyright file in free form states nothing a machine can read.
//! - Python: core metadata's `License-Expression` (PEP 639), else a one-line `License`,
//!   else the `License ::` classifiers' last words.
//! - R: `DESCRIPTION`'s `License`.
//!
//! [`spdx_expression`] maps the common spellings of these (`GPL-2+`, `Expat`,
//! `GPL (>= 2)`, `MIT + file LICENSE`, `LGPLv3+`) to SPDX identifiers; text it cannot
//! map whole is kept as written, and each format says so in its own way.

use std::collections::{BTreeMap, BTreeSet};

use crate::deb822::owned::paragraphs;
use crate::image::ImageError;
use crate::image::rootfs::{Keep, RootFs};
use crate::inspect::inventory::Inventory;
use crate::pip::inventory::Distribution;

/// Declared licenses of an image's packages, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Licenses {
    /// By dpkg package name.
    pub apt: BTreeMap<String, String>,
    /// By the distribution's metadata path.
    pub pip: BTreeMap<String, String>,
    /// By `LIBRARY/NAME`.
    pub r: BTreeMap<String, String>,
}

/// The files [`of_image`] reads beyond the inventory's: Debian's copyright files.
pub fn wanted(path: &str, size: u64) -> Option<Keep> {
    let copyright = path
        .strip_prefix("usr/share/doc/")
        .and_then(|rest| rest.strip_suffix("/copyright"))
        .is_some_and(|package| !package.contains('/'));
    (copyright && size <= 4 << 20).then_some(Keep::Whole)
}

pub fn of_image(
    rootfs: &RootFs,
    inventory: &Inventory,
    user_distributions: &[Distribution],
) -> Result<Licenses, ImageError> {
    let mut out = Licenses::default();
    for p in &inventory.apt.packages {
        if let Some(bytes) = rootfs.read_file(&format!("usr/share/doc/{}/copyright", p.name))?
            && let Some(license) = debian_copyright(&String::from_utf8_lossy(&bytes))
        {
            out.apt.insert(p.name.clone(), license);
        }
    }
    for d in inventory
        .python
        .distributions
        .iter()
        .chain(user_distributions)
    {
        let metadata = if d.metadata_path.ends_with(".dist-info") {
            format!("{}/METADATA", d.metadata_path)
        } else if rootfs.is_dir(&d.metadata_path) {
            format!("{}/PKG-INFO", d.metadata_path)
        } else {
            d.metadata_path.clone()
        };
        if let Some(bytes) = rootfs.read_head(&metadata)?
            && let Some(license) = core_metadata(&String::from_utf8_lossy(&bytes))
        {
            out.pip.insert(d.metadata_path.clone(), license);
        }
    }
    for r in &inventory.r {
        for p in &r.packages {
            let dir = format!("{}/{}", p.library, p.name);
            if let Some(bytes) = rootfs.read_file(&format!("{dir}/DESCRIPTION"))?
                && let Some(license) = paragraphs(&String::from_utf8_lossy(&bytes))
                    .first()
                    .and_then(|f| f.get("License"))
                    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                    .filter(|l| !l.is_empty())
            {
                out.r.insert(dir, license);
            }
        }
    }
    Ok(out)
}

/// The licenses of a machine-readable Debian copyright file: each `License:` field's
/// first line, distinct, in order of appearance, joined with ` and `.
fn debian_copyright(text: &str) -> Option<String> {
    let paragraphs = paragraphs(text);
    paragraphs.first()?.get("Format")?;
    let mut seen = BTreeSet::new();
    let mut names = Vec::new();
    for p in &paragraphs {
        if p.get("Files").is_none() {
            continue;
        }
        let Some(license) = p.get("License") else {
            continue;
        };
        let name = license.lines().next().unwrap_or("").trim().to_string();
        if !name.is_empty() && seen.insert(name.clone()) {
            names.push(name);
        }
    }
    (!names.is_empty()).then(|| names.join(" and "))
}

/// What core metadata says of the license (see the module docs).
fn core_metadata(text: &str) -> Option<String> {
    let head = text.split("\n\n").next().unwrap_or(text);
    let field = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    if let Some(expression) = field("License-Expression").filter(|v| !v.is_empty()) {
        return Some(expression);
    }
    // A `License` that continues on further lines is the license text itself.
    let one_line = head.lines().enumerate().find_map(|(i, line)| {
        let value = line.strip_prefix("License:")?.trim();
        let continued = head
            .lines()
            .nth(i + 1)
            .is_some_and(|next| next.starts_with([' ', '\t']));
        (!continued && !value.is_empty() && value.len() <= 100 && value != "UNKNOWN")
            .then(|| value.to_string())
    });
    if one_line.is_some() {
        return one_line;
    }
    let classifiers: Vec<&str> = head
        .lines()
        .filter_map(|l| l.strip_prefix("Classifier:"))
        .filter_map(|c| c.trim().strip_prefix("License ::"))
        .filter_map(|c| c.rsplit("::").next().map(str::trim))
        .collect();
    (!classifiers.is_empty()).then(|| classifiers.join(" or "))
}

/// `text` as a valid SPDX license expression of listed identifiers, when every term of
/// it maps to one (`GPL-2+ or Artistic` → `GPL-2.0-or-later OR Artistic-1.0-Perl`);
/// `None` otherwise.
pub fn spdx_expression(text: &str) -> Option<String> {
    // R: `+ file LICENSE` adds terms in a file; `file LICENSE` alone is that file.
    let text = text
        .replace("+ file LICENCE", "")
        .replace("+ file LICENSE", "");
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    let mut expect_term = true;
    for token in tokens(text) {
        let word = token.to_ascii_lowercase();
        if !expect_term {
            out.push(match word.as_str() {
                "or" | "|" => "OR".to_string(),
                "and" | "," => "AND".to_string(),
                _ => return None,
            });
        } else {
            out.push(spdx_id(&token)?.to_string());
        }
        expect_term = !expect_term;
    }
    if expect_term {
        return None; // ends with an operator
    }
    // `Expat and MIT` are one license twice: said once when every operator is AND.
    if out.iter().all(|t| t != "OR") {
        let mut seen = BTreeSet::new();
        let terms: Vec<&String> = out.iter().step_by(2).filter(|t| seen.insert(*t)).collect();
        return Some(
            terms
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(" AND "),
        );
    }
    Some(out.join(" "))
}

/// Terms and operators: ` or `, ` and `, `|`, `,` separate terms; R's `GPL (>= 2)`
/// stays one term.
fn tokens(text: &str) -> Vec<String> {
    let spaced = text.replace('|', " | ").replace(',', " , ");
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    for word in spaced.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        if depth == 0 && matches!(lower.as_str(), "or" | "and" | "|" | ",") {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            out.push(word.to_string());
            continue;
        }
        depth += word.matches('(').count();
        depth = depth.saturating_sub(word.matches(')').count());
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One license name as an SPDX identifier.
fn spdx_id(term: &str) -> Option<&'static str> {
    let t = term.trim().trim_end_matches(" License").trim();
    // Names with a version and an "or later" mark, in Debian's, R's and PyPI's ways.
    let lower = t.to_ascii_lowercase().replace("licence", "license");
    let (family, rest) = ["agpl", "lgpl", "gpl", "gfdl"]
        .iter()
        .find_map(|f| lower.strip_prefix(f).map(|rest| (*f, rest)))
        .unwrap_or(("", ""));
    if !family.is_empty() {
        return gnu(family, rest);
    }
    let known: &[(&str, &str)] = &[
        ("mit", "MIT"),
        ("expat", "MIT"),
        ("x11", "X11"),
        ("apache-2.0", "Apache-2.0"),
        ("apache-2", "Apache-2.0"),
        ("apache 2.0", "Apache-2.0"),
        ("apache license 2.0", "Apache-2.0"),
        ("apache license (== 2.0)", "Apache-2.0"),
        ("apache license version 2.0", "Apache-2.0"),
        ("apache software", "Apache-2.0"),
        ("bsd-2-clause", "BSD-2-Clause"),
        ("bsd_2_clause", "BSD-2-Clause"),
        ("bsd-3-clause", "BSD-3-Clause"),
        ("bsd_3_clause", "BSD-3-Clause"),
        ("bsd-4-clause", "BSD-4-Clause"),
        ("isc", "ISC"),
        ("zlib", "Zlib"),
        ("bsl-1.0", "BSL-1.0"),
        ("boost", "BSL-1.0"),
        ("cc0-1.0", "CC0-1.0"),
        ("cc0", "CC0-1.0"),
        ("mpl-2.0", "MPL-2.0"),
        ("mpl-1.1", "MPL-1.1"),
        ("mozilla public license 2.0 (mpl 2.0)", "MPL-2.0"),
        ("artistic", "Artistic-1.0-Perl"),
        ("artistic-2.0", "Artistic-2.0"),
        ("artistic-2", "Artistic-2.0"),
        ("curl", "curl"),
        ("ftl", "FTL"),
        ("fsfullr", "FSFULLR"),
        ("fsfap", "FSFAP"),
        ("openldap-2.8", "OLDAP-2.8"),
        ("psf-2.0", "PSF-2.0"),
        ("psf", "PSF-2.0"),
        ("python software foundation", "PSF-2.0"),
        ("python-2.0", "Python-2.0"),
        ("unlicense", "Unlicense"),
        ("the unlicense (unlicense)", "Unlicense"),
        ("0bsd", "0BSD"),
        ("epl-1.0", "EPL-1.0"),
        ("epl-2.0", "EPL-2.0"),
        ("cddl-1.0", "CDDL-1.0"),
        ("ofl-1.1", "OFL-1.1"),
        ("hpnd", "HPND"),
        ("openssl", "OpenSSL"),
        ("sleepycat", "Sleepycat"),
        ("unicode-dfs-2016", "Unicode-DFS-2016"),
        ("wtfpl", "WTFPL"),
        ("ncsa", "NCSA"),
        ("libpng", "Libpng"),
        ("ijg", "IJG"),
        ("vim", "Vim"),
        ("tcl", "TCL"),
        ("bzip2-1.0.6", "bzip2-1.0.6"),
        ("cc-by-4.0", "CC-BY-4.0"),
        ("cc-by-sa-4.0", "CC-BY-SA-4.0"),
        ("cc-by-3.0", "CC-BY-3.0"),
        ("cc-by-sa-3.0", "CC-BY-SA-3.0"),
    ];
    known
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, id)| *id)
}

/// A GNU license of `family` (`gpl`, `lgpl`, `agpl`, `gfdl`) from what follows its
/// name: `-2`, `-2+`, `v2+`, `-2.0+`, ` (>= 2)`, ` (>= 2.0)`, `-2.1-only`, `2`.
fn gnu(family: &str, rest: &str) -> Option<&'static str> {
    let rest = rest.trim();
    let (rest, or_later) =
        if let Some(r) = rest.strip_prefix("(>=").and_then(|r| r.strip_suffix(')')) {
            (r.trim(), true)
        } else if let Some(r) = rest.strip_suffix('+') {
            (r, true)
        } else if let Some(r) = rest.strip_suffix("-or-later") {
            (r, true)
        } else {
            (rest.strip_suffix("-only").unwrap_or(rest), false)
        };
    let version = rest.trim_start_matches(['-', 'v', ' ']).trim();
    let version = version.strip_suffix(".0").unwrap_or(version);
    let id = match (family, version, or_later) {
        ("gpl", "1", false) => "GPL-1.0-only",
        ("gpl", "1", true) => "GPL-1.0-or-later",
        ("gpl", "2", false) => "GPL-2.0-only",
        ("gpl", "2", true) => "GPL-2.0-or-later",
        ("gpl", "3", false) => "GPL-3.0-only",
        ("gpl", "3", true) => "GPL-3.0-or-later",
        ("lgpl", "2", false) => "LGPL-2.0-only",
        ("lgpl", "2", true) => "LGPL-2.0-or-later",
        ("lgpl", "2.1", false) => "LGPL-2.1-only",
        ("lgpl", "2.1", true) => "LGPL-2.1-or-later",
        ("lgpl", "3", false) => "LGPL-3.0-only",
        ("lgpl", "3", true) => "LGPL-3.0-or-later",
        ("agpl", "3", false) => "AGPL-3.0-only",
        ("agpl", "3", true) => "AGPL-3.0-or-later",
        ("gfdl", "1.2", false) => "GFDL-1.2-only",
        ("gfdl", "1.2", true) => "GFDL-1.2-or-later",
        ("gfdl", "1.3", false) => "GFDL-1.3-only",
        ("gfdl", "1.3", true) => "GFDL-1.3-or-later",
        _ => return None,
    };
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_spellings_map_to_spdx() {
        for (text, want) in [
            ("GPL-2+", Some("GPL-2.0-or-later")),
            (
                "GPL-1+ or Artistic",
                Some("GPL-1.0-or-later OR Artistic-1.0-Perl"),
            ),
            (
                "LGPL-3+ or GPL-2+",
                Some("LGPL-3.0-or-later OR GPL-2.0-or-later"),
            ),
            ("GPL (>= 2)", Some("GPL-2.0-or-later")),
            ("GPL-2 | GPL-3", Some("GPL-2.0-only OR GPL-3.0-only")),
            ("MIT + file LICENSE", Some("MIT")),
            ("Expat", Some("MIT")),
            ("BSD-3-clause", Some("BSD-3-Clause")),
            ("BSL-1.0 and MIT", Some("BSL-1.0 AND MIT")),
            ("Expat and MIT and GPL-2+", Some("MIT AND GPL-2.0-or-later")),
            ("GPLv3+", Some("GPL-3.0-or-later")),
            ("LGPL (>= 2.1)", Some("LGPL-2.1-or-later")),
            ("Apache-2.0", Some("Apache-2.0")),
            ("MIT License", Some("MIT")),
            ("public-domain", None),
            ("BSD", None),
            ("GPL-2+ or", None),
            ("file LICENSE", None),
        ] {
            assert_eq!(spdx_expression(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn declared_licenses_are_read_where_packages_state_them() {
        let copyright = "Format: https://example.org/copyright-format/1.0/\nUpstream-Name: x\n\nFiles: *\nCopyright: 1 a\nLicense: GPL-2+\n text\n\nFiles: lib/*\nLicense: Expat\n\nFiles: doc/*\nLicense: GPL-2+\n\nLicense: GPL-2+\n full text\n";
        assert_eq!(
            debian_copyright(copyright).as_deref(),
            Some("GPL-2+ and Expat")
        );
        assert_eq!(debian_copyright("This is free software.\n"), None);
        assert_eq!(
            core_metadata(
                "Metadata-Version: 2.4\nName: x\nLicense-Expression: MIT OR Apache-2.0\n\nbody"
            )
            .as_deref(),
            Some("MIT OR Apache-2.0")
        );
        assert_eq!(
            core_metadata("Name: x\nLicense: Copyright (c) x\n        Permission is hereby granted\nClassifier: License :: OSI Approved :: BSD License\n").as_deref(),
            Some("BSD License")
        );
        assert_eq!(
            core_metadata("Name: x\nLicense: BSD-3-Clause\n").as_deref(),
            Some("BSD-3-Clause")
        );
    }
}
