//! `src/contrib/PACKAGES`: one DCF paragraph per package version, as
//! `tools::write_PACKAGES` writes it (Package, Version, Depends, Imports, LinkingTo,
//! Suggests, License, MD5sum, NeedsCompilation, and optionally Path, File, OS_type,
//! SystemRequirements, Priority...). Read by the one DCF parser; the fields a resolver
//! needs are shared with DESCRIPTION ([`Record`]).

use url::Url;

use super::repository::contrib_url;
use super::{Available, PackageFields};
use crate::deb822::{self, Paragraph};
use crate::r::requirement::{
    DependencyList, RVersion, is_valid_package_name, parse_dependency_list,
};

/// Why a PACKAGES index cannot be read: the line of the input, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PackagesError {
    pub line: usize,
    pub message: String,
}

/// Every paragraph of a PACKAGES index, as candidates of repository `repo` (its root,
/// the folder holding `src/contrib/`), in file order.
pub fn parse_packages(text: &str, repo: &Url) -> Result<Vec<Available>, PackagesError> {
    let contrib = contrib_url(repo);
    let mut out = Vec::new();
    for paragraph in deb822::paragraphs(text) {
        let record = Record::of(&paragraph);
        let fields = record
            .read(text, paragraph.offset)
            .map_err(|e| PackagesError {
                line: e.line,
                message: e.message,
            })?;
        let url = tarball_url(&contrib, &record, &fields.name, &fields.version).map_err(
            |(value, message)| PackagesError {
                line: deb822::line_of(text, offset_in(text, value)),
                message,
            },
        )?;
        out.push(Available {
            fields,
            md5: record.md5.map(str::to_ascii_lowercase),
            url,
            repository: repo.clone(),
        });
    }
    Ok(out)
}

/// `CONTRIB/[Path/]File`, as `download.packages` builds it (src/library/utils/R/
/// packages.R): `Path` is a folder under `src/contrib` (`available.packages` appends it
/// to the repository), `File` defaults to `NAME_VERSION.tar.gz`.
fn tarball_url<'a>(
    contrib: &Url,
    record: &Record<'a>,
    name: &str,
    version: &RVersion,
) -> Result<Url, (&'a str, String)> {
    let base = match record.path {
        Some(path) => {
            let folder = format!("{}/", path.trim_matches('/'));
            contrib.join(&folder).map_err(|e| {
                (
                    path,
                    format!("{name}: Path `{path}` is not a relative path ({e})"),
                )
            })?
        }
        None => contrib.clone(),
    };
    let Some(file) = record.file else {
        let file = format!("{name}_{version}.tar.gz");
        let at = record.package.unwrap_or_default();
        return base.join(&file).map_err(|e| {
            (
                at,
                format!("{name}: `{file}` cannot be part of a URL ({e})"),
            )
        });
    };
    if file.contains('/') || file.starts_with('.') {
        return Err((
            file,
            format!(
                "{name}: File `{file}` is not a file name (it may not hold `/` or start with `.`)"
            ),
        ));
    }
    base.join(file).map_err(|e| {
        (
            file,
            format!("{name}: File `{file}` cannot be part of a URL ({e})"),
        )
    })
}

/// The raw fields of a PACKAGES or DESCRIPTION paragraph that rtlock reads. R's DCF
/// field names are case-sensitive (`read.dcf`), so they are matched exactly.
#[derive(Debug, Default)]
pub(super) struct Record<'a> {
    pub package: Option<&'a str>,
    pub version: Option<&'a str>,
    pub depends: Option<&'a str>,
    pub imports: Option<&'a str>,
    pub linking_to: Option<&'a str>,
    pub suggests: Option<&'a str>,
    pub md5: Option<&'a str>,
    pub needs_compilation: Option<&'a str>,
    pub system_requirements: Option<&'a str>,
    pub os_type: Option<&'a str>,
    pub path: Option<&'a str>,
    pub file: Option<&'a str>,
    pub built: Option<&'a str>,
}

/// A problem at a line of the input.
#[derive(Debug)]
pub(super) struct LineError {
    pub line: usize,
    pub message: String,
}

impl<'a> Record<'a> {
    pub fn of(paragraph: &Paragraph<'a>) -> Record<'a> {
        let mut r = Record::default();
        for field in paragraph.fields() {
            let v = Some(field.value);
            match field.name {
                "Package" => r.package = v,
                "Version" => r.version = v,
                "Depends" => r.depends = v,
                "Imports" => r.imports = v,
                "LinkingTo" => r.linking_to = v,
                "Suggests" => r.suggests = v,
                "MD5sum" => r.md5 = v,
                "NeedsCompilation" => r.needs_compilation = v,
                "SystemRequirements" => r.system_requirements = v,
                "OS_type" => r.os_type = v,
                "Path" => r.path = v,
                "File" => r.file = v,
                "Built" => r.built = v,
                _ => {}
            }
        }
        r
    }

    /// The converted fields; `text` is the whole input the paragraph (at `offset`)
    /// and its values are slices of, so that an error names the line it is on.
    pub fn read(&self, text: &str, offset: usize) -> Result<PackageFields, LineError> {
        let at = |value: &str, within: usize| LineError {
            line: deb822::line_of(text, offset_in(text, value) + within),
            message: String::new(),
        };
        let paragraph_line = || deb822::line_of(text, offset);
        let Some(name) = self.package.filter(|p| !p.is_empty()) else {
            return Err(LineError {
                line: paragraph_line(),
                message: "a paragraph has no Package field".to_string(),
            });
        };
        if !is_valid_package_name(name) {
            return Err(LineError {
                message: format!(
                    "`{name}` is not a valid R package name (letters, digits and `.`, \
                     starting with a letter, at least two characters)"
                ),
                ..at(name, 0)
            });
        }
        let Some(version_text) = self.version.filter(|v| !v.is_empty()) else {
            return Err(LineError {
                line: paragraph_line(),
                message: format!("{name} has no Version field"),
            });
        };
        let version = version_text
            .parse::<RVersion>()
            .map_err(|message| LineError {
                message: format!("{name}: {message}"),
                ..at(version_text, 0)
            })?;
        let list = |field: &str, value: Option<&str>| -> Result<DependencyList, LineError> {
            let Some(value) = value else {
                return Ok(DependencyList::default());
            };
            parse_dependency_list(value).map_err(|e| LineError {
                message: format!("{name} {version}: {field}: {}", e.message),
                ..at(value, e.offset)
            })
        };
        let depends = list("Depends", self.depends)?;
        // `R` belongs in Depends only, and R's `R_version` filter reads it nowhere
        // else; elsewhere it names no package either, so it is dropped, as R does.
        let packages = |field: &str, value| list(field, value).map(|l| l.packages);
        let imports = packages("Imports", self.imports)?;
        let linking_to = packages("LinkingTo", self.linking_to)?;
        let suggests = packages("Suggests", self.suggests)?;
        Ok(PackageFields {
            name: name.to_string(),
            version,
            depends: depends.packages,
            imports,
            linking_to,
            suggests,
            r_constraints: depends.r,
            needs_compilation: self.needs_compilation.and_then(|v| match v {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            }),
            system_requirements: self
                .system_requirements
                .map(collapse_space)
                .filter(|s| !s.is_empty()),
            os_type: self.os_type.map(str::to_string).filter(|s| !s.is_empty()),
        })
    }
}

/// The byte offset of `part`, a slice of `text`, in `text`.
fn offset_in(text: &str, part: &str) -> usize {
    (part.as_ptr() as usize)
        .checked_sub(text.as_ptr() as usize)
        .filter(|o| *o <= text.len())
        .unwrap_or(0)
}

/// A folded value on one line: runs of white space (newlines and the indentation of
/// continuation lines included) as one space.
pub(super) fn collapse_space(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}
