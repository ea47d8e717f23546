//! A package's DESCRIPTION (the first DCF paragraph of `NAME/DESCRIPTION`, in a
//! tarball or an installed library): the same fields as a PACKAGES entry, and the
//! `Built:` field `R CMD INSTALL` adds, which marks a binary package.

use url::Url;

use super::packages::Record;
use super::{Available, PackageFields};
use crate::deb822;
use crate::r::requirement::RVersion;

/// A DESCRIPTION: the fields a PACKAGES entry has too (read through `Deref`), and
/// `Built:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub fields: PackageFields,
    /// Present in installed (binary) packages only.
    pub built: Option<Built>,
}

impl std::ops::Deref for Description {
    type Target = PackageFields;
    fn deref(&self) -> &PackageFields {
        &self.fields
    }
}

/// `Built: R 4.2.2; x86_64-pc-linux-gnu; 2023-01-10 12:00:00 UTC; unix`, as
/// `tools:::.install_package_description` writes it (src/library/tools/R/admin.R) and
/// `.split_description` reads it back: four parts joined by `"; "`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// `R.version$major.minor` of the R that installed it: `4.2.2`.
    pub r_version: String,
    /// `R.version$platform`, empty for a package without a `src/` folder (no compiled
    /// code: R marks such packages as from no platform).
    pub platform: String,
    /// When it was built: `2023-01-10 12:00:00 UTC`.
    pub date: String,
    /// `.Platform$OS.type`: `unix`.
    pub os_type: String,
}

impl Built {
    /// `R 4.2.2; x86_64-pc-linux-gnu; 2023-01-10 12:00:00 UTC; unix`.
    pub fn parse(value: &str) -> Result<Built, String> {
        let value = value.trim();
        let parts: Vec<&str> = value.split("; ").collect();
        let bad = || {
            format!(
                "Built `{value}` is not `R VERSION; PLATFORM; DATE; OSTYPE` (as R CMD INSTALL writes it)"
            )
        };
        let [r, platform, date, os_type] = parts[..] else {
            return Err(bad());
        };
        let r_version = r.strip_prefix("R ").map(str::trim).ok_or_else(bad)?;
        if r_version.parse::<RVersion>().is_err() {
            return Err(bad());
        }
        Ok(Built {
            r_version: r_version.to_string(),
            platform: platform.trim().to_string(),
            date: date.trim().to_string(),
            os_type: os_type.trim().to_string(),
        })
    }
}

/// Why a DESCRIPTION cannot be read: the line, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DESCRIPTION line {line}: {message}")]
pub struct DescriptionError {
    pub line: usize,
    pub message: String,
}

/// The first paragraph of a DESCRIPTION file.
pub fn parse_description(text: &str) -> Result<Description, DescriptionError> {
    let Some(paragraph) = deb822::paragraphs(text).next() else {
        return Err(DescriptionError {
            line: 1,
            message: "the file is empty (no Package and Version fields)".to_string(),
        });
    };
    let record = Record::of(&paragraph);
    let fields = record
        .read(text, paragraph.offset)
        .map_err(|e| DescriptionError {
            line: e.line,
            message: e.message,
        })?;
    let built = record
        .built
        .map(|value| {
            Built::parse(value).map_err(|message| DescriptionError {
                line: line_of_field(text, value),
                message: format!("{}: {message}", fields.name),
            })
        })
        .transpose()?;
    Ok(Description { fields, built })
}

fn line_of_field(text: &str, value: &str) -> usize {
    let offset = (value.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    deb822::line_of(text, offset)
}

impl Description {
    /// As a candidate for the resolver: a version no index lists (an archived one, a
    /// kept pin whose repository moved on), found at `url` in `repository`. `md5` is
    /// the index's `MD5sum`, when one lists it.
    pub fn into_available(self, url: Url, repository: Url, md5: Option<String>) -> Available {
        Available {
            fields: self.fields,
            md5: md5.map(|m| m.to_ascii_lowercase()),
            url,
            repository,
        }
    }
}
