//! Distribution file names: a wheel's name, version, build tag and compressed tag sets
//! (PEP 427, PEP 425), and which other files are source distributions.

use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;

/// A parsed `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    pub name: PackageName,
    pub version: Version,
    pub build: Option<BuildTag>,
    /// Each compressed set split on `.`: `py2.py3` → `["py2", "py3"]`.
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

/// PEP 427 build tag: digits, then an optional string; compared as that tuple, so a
/// re-upload with a higher build number wins a tie.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BuildTag {
    pub number: u64,
    pub suffix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WheelNameError {
    #[error("{0:?} is not a wheel file name: it does not end in .whl")]
    NotAWheel(String),
    #[error(
        "wheel {0:?} has {1} dash-separated parts; a wheel name has 5 or 6 \
         (name-version[-build]-python-abi-platform.whl)"
    )]
    Parts(String, usize),
    #[error("wheel {0:?}: {1:?} is not a valid package name")]
    Name(String, String),
    #[error("wheel {0:?}: {1:?} is not a PEP 440 version")]
    Version(String, String),
    #[error("wheel {0:?}: build tag {1:?} must start with a digit")]
    Build(String, String),
    #[error("wheel {0:?} has an empty tag")]
    EmptyTag(String),
}

impl FromStr for WheelName {
    type Err = WheelNameError;

    fn from_str(filename: &str) -> Result<Self, Self::Err> {
        let stem = filename
            .strip_suffix(".whl")
            .ok_or_else(|| WheelNameError::NotAWheel(filename.to_string()))?;
        let parts: Vec<&str> = stem.split('-').collect();
        let (name, version, build, tags) = match parts.as_slice() {
            [n, v, py, abi, plat] => (*n, *v, None, [*py, *abi, *plat]),
            [n, v, b, py, abi, plat] => (*n, *v, Some(*b), [*py, *abi, *plat]),
            _ => return Err(WheelNameError::Parts(filename.to_string(), parts.len())),
        };
        let bad =
            |e: fn(String, String) -> WheelNameError, part: &str| e(filename.into(), part.into());
        Ok(WheelName {
            name: PackageName::from_str(name).map_err(|_| bad(WheelNameError::Name, name))?,
            version: Version::from_str(version)
                .map_err(|_| bad(WheelNameError::Version, version))?,
            build: build
                .map(|b| parse_build(b).ok_or_else(|| bad(WheelNameError::Build, b)))
                .transpose()?,
            python: split_tag(filename, tags[0])?,
            abi: split_tag(filename, tags[1])?,
            platform: split_tag(filename, tags[2])?,
        })
    }
}

fn parse_build(tag: &str) -> Option<BuildTag> {
    let digits = tag.bytes().take_while(u8::is_ascii_digit).count();
    let number = tag[..digits].parse().ok()?;
    Some(BuildTag {
        number,
        suffix: tag[digits..].to_string(),
    })
}

fn split_tag(filename: &str, set: &str) -> Result<Vec<String>, WheelNameError> {
    let tags: Vec<String> = set.split('.').map(str::to_string).collect();
    if tags.iter().any(String::is_empty) {
        return Err(WheelNameError::EmptyTag(filename.to_string()));
    }
    Ok(tags)
}

/// Archive suffixes of source distributions, as pip and uv accept them (`.tar.gz` and
/// `.zip` per PEP 625; the others still appear on indexes for old releases).
const SDIST_SUFFIXES: [&str; 8] = [
    ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tbz", ".txz", ".tar",
];

/// Whether an index file name is a source distribution (rtlock does not build them; the
/// resolver only skips them, and the no-wheel message says they exist).
pub fn is_sdist(filename: &str) -> bool {
    let lower = filename.to_ascii_lowercase();
    SDIST_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_tag_sets() {
        let w: WheelName =
            "pandas-2.2.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
                .parse()
                .unwrap();
        assert_eq!(w.name.as_ref(), "pandas");
        assert_eq!(w.version.to_string(), "2.2.3");
        assert_eq!(w.build, None);
        assert_eq!(
            w.platform,
            ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
        );
        let w: WheelName = "six-1.16.0-py2.py3-none-any.whl".parse().unwrap();
        assert_eq!(w.python, ["py2", "py3"]);
        assert_eq!(w.abi, ["none"]);
    }

    #[test]
    fn build_tag_and_escaped_name() {
        let w: WheelName = "typing_extensions-4.12.2-1b-py3-none-any.whl"
            .parse()
            .unwrap();
        assert_eq!(w.name.as_ref(), "typing-extensions");
        assert_eq!(
            w.build,
            Some(BuildTag {
                number: 1,
                suffix: "b".into()
            })
        );
        assert!(
            BuildTag {
                number: 2,
                suffix: String::new()
            } > w.build.unwrap()
        );
    }

    #[test]
    fn clear_errors() {
        let err = "numpy-1.0-cp311.whl".parse::<WheelName>().unwrap_err();
        assert!(err.to_string().contains("3 dash-separated parts"), "{err}");
        let err = "numpy-1.0-x1-cp311-cp311-any.whl"
            .parse::<WheelName>()
            .unwrap_err();
        assert!(err.to_string().contains("build tag \"x1\""), "{err}");
        let err = "numpy-one-cp311-cp311-any.whl"
            .parse::<WheelName>()
            .unwrap_err();
        assert!(err.to_string().contains("not a PEP 440 version"), "{err}");
        assert!(matches!(
            "numpy-1.0.tar.gz".parse::<WheelName>(),
            Err(WheelNameError::NotAWheel(_))
        ));
    }

    #[test]
    fn sdists() {
        assert!(is_sdist("numpy-1.26.4.tar.gz"));
        assert!(is_sdist("PyYAML-3.10.zip"));
        assert!(!is_sdist("numpy-1.26.4-cp311-cp311-linux_x86_64.whl"));
    }
}
