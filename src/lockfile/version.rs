//! The versions of lock entries: parsed by their ecosystem's grammar when the lock is
//! read, and kept as the lock wrote them.
//!
//! The parsed types do not give their text back: PEP 440 normalizes (`1.0-rc1` is
//! `1.0rc1`), a Debian version writes its epoch as a number (`00:1.0` is `0:1.0`). A
//! lock read and written again must have the same bytes, so a [`Verbatim`] keeps both,
//! and it compares, sorts and prints by the text, as the lock did when its versions
//! were strings. Ask [`Verbatim::parsed`] for the ecosystem's own comparisons.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::apt::relation::{check_version_syntax, parse_debian_version};

/// A version of an `[[apt]]` entry: dpkg's syntax (deb-version(7)).
pub type AptVersion = Verbatim<debversion::Version>;
/// A version of a `[[pip]]` entry: PEP 440.
pub type PipVersion = Verbatim<crate::pip::Version>;
/// A version of an `[[r]]` entry: R's `package_version`.
pub type RVersion = Verbatim<crate::r::requirement::RVersion>;

/// A locked version its ecosystem's grammar refuses (the message names the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("`{text}` is not a valid Debian version: {why}")]
    Debian { text: String, why: String },
    #[error("`{text}` is not a PEP 440 version")]
    Pep440 { text: String },
    /// R's grammar words its own refusal, naming the text.
    #[error("{why}")]
    R { why: String },
}

/// An ecosystem's version grammar, as the lock checks it.
pub trait Grammar: Sized {
    /// `text` parsed, or why it is not a version.
    fn parse_locked(text: &str) -> Result<Self, VersionError>;
}

impl Grammar for debversion::Version {
    fn parse_locked(text: &str) -> Result<Self, VersionError> {
        // dpkg's own syntax first: the parser accepts an empty upstream part.
        check_version_syntax(text)
            .and_then(|()| parse_debian_version(text))
            .map_err(|why| VersionError::Debian {
                text: text.to_string(),
                why: why.to_string(),
            })
    }
}

impl Grammar for crate::pip::Version {
    fn parse_locked(text: &str) -> Result<Self, VersionError> {
        crate::pip::Version::from_str(text).map_err(|_| VersionError::Pep440 {
            text: text.to_string(),
        })
    }
}

impl Grammar for crate::r::requirement::RVersion {
    fn parse_locked(text: &str) -> Result<Self, VersionError> {
        crate::r::requirement::RVersion::from_str(text).map_err(|why| VersionError::R {
            why: why.to_string(),
        })
    }
}

/// A value and the text it was parsed from (or, made in code, its `Display`).
#[derive(Clone)]
pub struct Verbatim<V> {
    text: String,
    parsed: V,
}

impl<V> Verbatim<V> {
    /// The text, as the lock writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The ecosystem's version, for its comparisons.
    pub fn parsed(&self) -> &V {
        &self.parsed
    }
}

impl<V: fmt::Display> Verbatim<V> {
    /// A version made in code (a resolver's choice): its text is its `Display`.
    pub fn new(parsed: V) -> Verbatim<V> {
        Verbatim {
            text: parsed.to_string(),
            parsed,
        }
    }
}

impl<V: Grammar> FromStr for Verbatim<V> {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = V::parse_locked(text)?;
        Ok(Verbatim {
            text: text.to_string(),
            parsed,
        })
    }
}

impl<V> fmt::Display for Verbatim<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<V> fmt::Debug for Verbatim<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl<V> PartialEq for Verbatim<V> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<V> Eq for Verbatim<V> {}

impl<V> PartialEq<str> for Verbatim<V> {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl<V> PartialEq<&str> for Verbatim<V> {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl<V> PartialEq<String> for Verbatim<V> {
    fn eq(&self, other: &String) -> bool {
        self.text == *other
    }
}

impl<V> Ord for Verbatim<V> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl<V> PartialOrd for Verbatim<V> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<V> Hash for Verbatim<V> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl<V> Serialize for Verbatim<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de, V: Grammar> Deserialize<'de> for Verbatim<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_kept_where_the_parser_would_change_it() {
        let pip: PipVersion = "1.0-RC1".parse().unwrap();
        assert_eq!(pip.as_str(), "1.0-RC1");
        assert_eq!(pip.parsed().to_string(), "1.0rc1");
        let apt: AptVersion = "00:1.0-1".parse().unwrap();
        assert_eq!(apt.to_string(), "00:1.0-1");
        assert_eq!(apt.parsed().to_string(), "0:1.0-1");
        let r: RVersion = "1.0-1".parse().unwrap();
        assert_eq!(r.as_str(), "1.0-1");
    }

    #[test]
    fn equality_is_the_text_s() {
        // Equal versions by PEP 440 and by R, but two locks that differ in bytes.
        assert_ne!(
            "1.0".parse::<PipVersion>().unwrap(),
            "1.0.0".parse::<PipVersion>().unwrap()
        );
        assert_ne!(
            "1.0-1".parse::<RVersion>().unwrap(),
            "1.0.1".parse::<RVersion>().unwrap()
        );
        assert_eq!("2.0".parse::<PipVersion>().unwrap(), "2.0");
    }

    #[test]
    fn each_grammar_refuses_what_the_lock_refuses() {
        let apt = "a1.0".parse::<AptVersion>().unwrap_err().to_string();
        assert_eq!(
            apt,
            "`a1.0` is not a valid Debian version: the upstream version must start with a digit"
        );
        let pip = "not a version"
            .parse::<PipVersion>()
            .unwrap_err()
            .to_string();
        assert_eq!(pip, "`not a version` is not a PEP 440 version");
        assert!("1".parse::<RVersion>().is_err());
    }

    #[test]
    fn made_in_code_its_text_is_its_display() {
        let v = PipVersion::new("1.0.post1".parse().unwrap());
        assert_eq!(v.as_str(), "1.0.post1");
        assert_eq!(v.as_str().parse::<PipVersion>().unwrap(), v);
    }
}
