//! `Packages` indexes: one record per binary package version, borrowed from the index
//! text.
//!
//! A full Debian main index is about 60,000 stanzas and 45 MB and is read on every
//! `lock`, so records hold `&str` slices into the one buffer and relation fields stay
//! raw until the resolver asks for them ([`PackageRecord::relations`]); only `Size` is
//! converted while parsing.

use crate::apt::relation::{Relation, RelationError, parse_dependency_field};
use crate::deb822;

/// One stanza of a `Packages` file. Missing optional fields are `None` / empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PackageRecord<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub architecture: &'a str,
    pub multi_arch: Option<&'a str>,
    pub essential: bool,
    pub priority: Option<&'a str>,
    pub section: Option<&'a str>,
    /// `src` or `src (version)`, when the source package differs from the name.
    pub source: Option<&'a str>,
    pub provides: Option<&'a str>,
    pub depends: Option<&'a str>,
    pub pre_depends: Option<&'a str>,
    pub recommends: Option<&'a str>,
    pub suggests: Option<&'a str>,
    pub breaks: Option<&'a str>,
    pub conflicts: Option<&'a str>,
    pub replaces: Option<&'a str>,
    /// Relative to the archive root (`pool/main/h/hello/hello_2.10-3_amd64.deb`).
    pub filename: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    /// The whole stanza, for what the fields above leave out (the installer writes it
    /// into dpkg's status).
    pub stanza: &'a str,
}

/// Which relation field to read with [`PackageRecord::relations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationField {
    Provides,
    Depends,
    PreDepends,
    Recommends,
    Suggests,
    Breaks,
    Conflicts,
    Replaces,
}

impl<'a> PackageRecord<'a> {
    /// The raw text of a relation field.
    pub fn raw(&self, field: RelationField) -> Option<&'a str> {
        match field {
            RelationField::Provides => self.provides,
            RelationField::Depends => self.depends,
            RelationField::PreDepends => self.pre_depends,
            RelationField::Recommends => self.recommends,
            RelationField::Suggests => self.suggests,
            RelationField::Breaks => self.breaks,
            RelationField::Conflicts => self.conflicts,
            RelationField::Replaces => self.replaces,
        }
    }

    /// A relation field parsed into groups of alternatives (empty when absent).
    pub fn relations(&self, field: RelationField) -> Result<Vec<Vec<Relation>>, RelationError> {
        self.raw(field)
            .map(parse_dependency_field)
            .unwrap_or(Ok(Vec::new()))
    }

    /// The source package name (the name itself when there is no `Source:`).
    pub fn source_name(&self) -> &'a str {
        self.source
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or(self.package)
    }
}

/// Why a `Packages` file could not be read: the line of the stanza and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PackagesError {
    pub line: usize,
    pub message: String,
}

/// Parses a whole `Packages` file. A stanza without `Package`, `Version`,
/// `Architecture`, `Filename`, `Size` or `SHA256` is an error: it could not be pinned.
///
/// A large index (Debian's main is 45 MB, 63,000 stanzas) is cut at blank lines, which
/// end a stanza whatever else the file holds, and its parts are parsed on every core:
/// the parse is a third of a warm lock's time. The records come back in the file's
/// order, and an error is the first one in the file, as from a single pass.
pub fn parse_packages(text: &str) -> Result<Vec<PackageRecord<'_>>, PackagesError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = split_at_stanzas(text, cores.min(text.len() / PART_MIN + 1));
    if parts.len() == 1 {
        return parse_part(text, 0..text.len());
    }
    let parsed: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = parts
            .into_iter()
            .map(|range| scope.spawn(move || parse_part(text, range)))
            .collect();
        running
            .into_iter()
            .map(|part| {
                part.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(text.len() / 700 + 1);
    for part in parsed {
        out.extend(part?);
    }
    Ok(out)
}

/// The smallest part worth a thread of its own.
const PART_MIN: usize = 4 << 20;

/// `text` cut into at most `n` ranges of about equal size, each ending after a blank
/// line (or at the end).
fn split_at_stanzas(text: &str, n: usize) -> Vec<std::ops::Range<usize>> {
    let mut parts = Vec::with_capacity(n.max(1));
    let mut start = 0;
    for i in 1..n.max(1) {
        let goal = (text.len() * i / n).max(start);
        match memchr::memmem::find(&text.as_bytes()[goal..], b"\n\n") {
            Some(at) => {
                let end = goal + at + 2;
                parts.push(start..end);
                start = end;
            }
            None => break,
        }
    }
    parts.push(start..text.len());
    parts
}

/// The records of the stanzas in `text[range]`, with offsets (and error lines) in the
/// whole of `text`.
fn parse_part(
    text: &str,
    range: std::ops::Range<usize>,
) -> Result<Vec<PackageRecord<'_>>, PackagesError> {
    let start = range.start;
    let part = &text[range];
    // About 750 bytes per stanza in Debian's indexes: one allocation up front.
    let mut out = Vec::with_capacity(part.len() / 700 + 1);
    for paragraph in deb822::paragraphs(part) {
        let paragraph = deb822::Paragraph {
            offset: paragraph.offset + start,
            ..paragraph
        };
        out.push(parse_stanza(text, paragraph)?);
    }
    Ok(out)
}

fn parse_stanza<'a>(
    text: &'a str,
    paragraph: deb822::Paragraph<'a>,
) -> Result<PackageRecord<'a>, PackagesError> {
    let mut r = PackageRecord {
        stanza: paragraph.text,
        ..PackageRecord::default()
    };
    let mut size = None;
    for field in paragraph.fields() {
        let v = field.value;
        // Field names in Debian's indexes are written in one canonical case; match
        // that first and fall back to a case-insensitive match for other archives.
        match field.name {
            "Package" => r.package = v,
            "Version" => r.version = v,
            "Architecture" => r.architecture = v,
            "Multi-Arch" => r.multi_arch = Some(v),
            "Essential" => r.essential = v.eq_ignore_ascii_case("yes"),
            "Priority" => r.priority = Some(v),
            "Section" => r.section = Some(v),
            "Source" => r.source = Some(v),
            "Provides" => r.provides = Some(v),
            "Depends" => r.depends = Some(v),
            "Pre-Depends" => r.pre_depends = Some(v),
            "Recommends" => r.recommends = Some(v),
            "Suggests" => r.suggests = Some(v),
            "Breaks" => r.breaks = Some(v),
            "Conflicts" => r.conflicts = Some(v),
            "Replaces" => r.replaces = Some(v),
            "Filename" => r.filename = v,
            "Size" => size = Some(v),
            "SHA256" => r.sha256 = v,
            "Description" | "Description-md5" | "MD5sum" | "Installed-Size" | "Maintainer"
            | "Homepage" | "Tag" => {}
            other => set_folded(&mut r, &mut size, other, v),
        }
    }
    let fail = |message: String| PackagesError {
        line: deb822::line_of(text, paragraph.offset),
        message,
    };
    let name = if r.package.is_empty() {
        "a stanza"
    } else {
        r.package
    };
    for (field, value) in [
        ("Package", r.package),
        ("Version", r.version),
        ("Architecture", r.architecture),
        ("Filename", r.filename),
        ("SHA256", r.sha256),
    ] {
        if value.is_empty() {
            return Err(fail(format!("{name} has no {field} field")));
        }
    }
    let size = size.ok_or_else(|| fail(format!("{name} has no Size field")))?;
    r.size = size
        .parse()
        .map_err(|_| fail(format!("{name}: Size `{size}` is not a number")))?;
    Ok(r)
}

/// Sets the field `name` (any case) of a record: the slow path of the Packages parser,
/// for fields written in another case than Debian's, and the whole of the dpkg status
/// reader, whose paragraphs are few. `Size` goes to `size`, for the caller to check.
pub(crate) fn set_folded<'a>(
    r: &mut PackageRecord<'a>,
    size: &mut Option<&'a str>,
    name: &str,
    v: &'a str,
) {
    match name.to_ascii_lowercase().as_str() {
        "package" => r.package = v,
        "version" => r.version = v,
        "architecture" => r.architecture = v,
        "multi-arch" => r.multi_arch = Some(v),
        "essential" => r.essential = v.eq_ignore_ascii_case("yes"),
        "priority" => r.priority = Some(v),
        "section" => r.section = Some(v),
        "source" => r.source = Some(v),
        "provides" => r.provides = Some(v),
        "depends" => r.depends = Some(v),
        "pre-depends" => r.pre_depends = Some(v),
        "recommends" => r.recommends = Some(v),
        "suggests" => r.suggests = Some(v),
        "breaks" => r.breaks = Some(v),
        "conflicts" => r.conflicts = Some(v),
        "replaces" => r.replaces = Some(v),
        "filename" => r.filename = v,
        "size" => *size = Some(v),
        "sha256" => r.sha256 = v,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANZA: &str = "Package: hello\nVersion: 2.10-3\nArchitecture: amd64\n\
        Depends: libc6 (>= 2.34),\n libfoo | libbar\nFilename: pool/main/h/hello.deb\n\
        Size: 53\nSHA256: ab\nDescription: hi\n more\n\npackage: x\nversion: 1\n\
        architecture: all\nfilename: f\nsize: 1\nsha256: cd\nEssential: yes\n";

    #[test]
    fn reads_records_and_relations() {
        let records = parse_packages(STANZA).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].package, "hello");
        assert_eq!(records[0].size, 53);
        let deps = records[0].relations(RelationField::Depends).unwrap();
        assert_eq!(deps.len(), 2);
        assert_eq!(deps[1].len(), 2);
        assert_eq!(records[1].architecture, "all");
        assert!(records[1].essential);
        assert_eq!(records[1].source_name(), "x");
    }

    #[test]
    fn a_stanza_without_sha256_is_an_error_with_its_line() {
        let e = parse_packages("Package: a\n\nPackage: b\nVersion: 1\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("a has no Version"), "{e}");
    }

    /// `n` parts parsed apart give what one pass gives, errors included.
    fn parsed_in(text: &str, n: usize) -> Result<Vec<PackageRecord<'_>>, PackagesError> {
        let parts = split_at_stanzas(text, n);
        assert!(parts.len() <= n.max(1));
        assert_eq!(parts.first().unwrap().start, 0);
        assert_eq!(parts.last().unwrap().end, text.len());
        let mut out = Vec::new();
        for range in parts {
            out.extend(parse_part(text, range)?);
        }
        Ok(out)
    }

    #[test]
    fn an_index_parsed_in_parts_is_the_index_parsed_whole() {
        let mut text = String::new();
        for i in 0..200 {
            text.push_str(&format!(
                "Package: p{i}\nVersion: 1.{i}\nArchitecture: amd64\nDepends: a,\n b\n\
                 Filename: pool/p{i}.deb\nSize: {i}\nSHA256: {i:064}\n\n"
            ));
            if i % 7 == 0 {
                text.push('\n');
            }
        }
        let whole = parse_part(&text, 0..text.len()).unwrap();
        assert_eq!(whole.len(), 200);
        for n in 1..=9 {
            assert_eq!(parsed_in(&text, n).unwrap(), whole, "{n} parts");
        }
        // A broken stanza late in the file: the same line, however it is cut.
        let broken = text.replacen("Size: 150\n", "", 1);
        let line = parse_part(&broken, 0..broken.len()).unwrap_err().line;
        assert!(line > 1000, "{line}");
        for n in 1..=9 {
            assert_eq!(parsed_in(&broken, n).unwrap_err().line, line, "{n} parts");
        }
        let empty = split_at_stanzas("", 4);
        assert_eq!((empty.len(), empty[0].clone()), (1, 0..0));
    }
}
