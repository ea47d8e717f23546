//! Where a wheel's files go in the base image: the scheme `pip install` run as root
//! uses with the image's `python3` (never a user site). See
//! [`crate::pip::inventory`] for which site-packages that is.

use crate::image::RootFs;
use crate::oci::types::ImageConfig;
use crate::pip::inventory::Interpreter;

use super::InstallError;

/// The install scheme, as image paths without a leading `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The interpreter scripts name in their shebang (`/usr/bin/python3`): the
    /// `python3` that pip itself runs as.
    pub interpreter: String,
    /// `usr/local/lib/python3.11/dist-packages` (Debian) or `…/site-packages`.
    pub purelib: String,
    /// The same directory as `purelib` on the layouts rtlock knows.
    pub platlib: String,
    /// `<prefix of the scheme>/bin`: `usr/local/bin` on both layouts.
    pub scripts: String,
    /// `<prefix>/include/python3.X`; a distribution's headers go in a directory of its
    /// name below it.
    pub headers: String,
    /// `<prefix>`: a wheel's `.data/data` files are relative to it.
    pub data: String,
    /// Every site directory of the interpreter, where base distributions are found.
    pub site_packages: Vec<String>,
}

/// The wheel directories a `.data/<key>/` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemeKey {
    Purelib,
    Platlib,
    Scripts,
    Headers,
    Data,
}

impl SchemeKey {
    pub fn parse(key: &str) -> Option<SchemeKey> {
        Some(match key {
            "purelib" => SchemeKey::Purelib,
            "platlib" => SchemeKey::Platlib,
            "scripts" => SchemeKey::Scripts,
            "headers" => SchemeKey::Headers,
            "data" => SchemeKey::Data,
            _ => return None,
        })
    }
}

impl Target {
    /// The scheme of the image's `python3` (the first on a default PATH, as inventory
    /// orders them), in a filesystem read with [`super::base_keep`]. `after_apt` only
    /// changes the message when there is none.
    pub fn of_image(
        rootfs: &RootFs,
        config: &ImageConfig,
        after_apt: bool,
    ) -> Result<Target, InstallError> {
        let dpkg = crate::base::dpkg::packages(rootfs)?;
        let python = crate::pip::inventory::inventory(rootfs, config, &dpkg)?;
        let named_python3 = |i: &&Interpreter| {
            std::iter::once(&i.path)
                .chain(&i.aliases)
                .any(|p| p.rsplit('/').next() == Some("python3"))
        };
        let interpreter =
            python
                .interpreters
                .iter()
                .find(named_python3)
                .ok_or(InstallError::NoInterpreter {
                    after_apt: if after_apt {
                        ", after the apt layer"
                    } else {
                        ""
                    },
                })?;
        Target::of_interpreter(interpreter)
    }

    /// The scheme of one interpreter.
    pub(crate) fn of_interpreter(interpreter: &Interpreter) -> Result<Target, InstallError> {
        let purelib = interpreter.purelib.trim_start_matches('/').to_string();
        let lib = format!("/lib/python{}/", interpreter.version_short);
        let Some(prefix) = purelib
            .find(&lib)
            .map(|at| purelib[..at].to_string())
            .filter(|p| !p.is_empty())
        else {
            return Err(InstallError::Scheme {
                interpreter: interpreter.path.clone(),
                purelib: interpreter.purelib.clone(),
            });
        };
        // The shebang names `python3` as pip runs it (`python3 -m pip`): the alias in
        // the interpreter's own bin directory when there is one.
        let own_bin = format!("{}/bin/python3", interpreter.prefix.trim_end_matches('/'));
        let shebang = std::iter::once(&interpreter.path)
            .chain(&interpreter.aliases)
            .find(|p| **p == own_bin)
            .or_else(|| {
                std::iter::once(&interpreter.path)
                    .chain(&interpreter.aliases)
                    .find(|p| p.ends_with("/python3"))
            })
            .unwrap_or(&interpreter.path);
        Ok(Target {
            interpreter: shebang.clone(),
            platlib: purelib.clone(),
            scripts: format!("{prefix}/bin"),
            headers: format!("{prefix}/include/python{}", interpreter.version_short),
            data: prefix,
            purelib,
            site_packages: interpreter
                .site_packages
                .iter()
                .map(|s| s.trim_start_matches('/').to_string())
                .collect(),
        })
    }

    /// The directory of `key`, for a distribution named `name` (headers only).
    pub fn dir(&self, key: SchemeKey, name: &str) -> String {
        match key {
            SchemeKey::Purelib => self.purelib.clone(),
            SchemeKey::Platlib => self.platlib.clone(),
            SchemeKey::Scripts => self.scripts.clone(),
            SchemeKey::Headers => format!("{}/{name}", self.headers),
            SchemeKey::Data => self.data.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter(path: &str, aliases: &[&str], prefix: &str, purelib: &str) -> Interpreter {
        Interpreter {
            path: path.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            version: "3.11.2".into(),
            version_short: "3.11".into(),
            prefix: prefix.into(),
            purelib: purelib.into(),
            dist_packages: None,
            site_packages: vec![purelib.into()],
        }
    }

    #[test]
    fn debian_and_python_image_layouts() {
        let debian = Target::of_interpreter(&interpreter(
            "/usr/bin/python3.11",
            &["/usr/bin/python3"],
            "/usr",
            "/usr/local/lib/python3.11/dist-packages",
        ))
        .unwrap();
        assert_eq!(debian.interpreter, "/usr/bin/python3");
        assert_eq!(debian.scripts, "usr/local/bin");
        assert_eq!(debian.data, "usr/local");
        assert_eq!(
            debian.dir(SchemeKey::Headers, "x"),
            "usr/local/include/python3.11/x"
        );
        let official = Target::of_interpreter(&interpreter(
            "/usr/local/bin/python3.11",
            &["/usr/local/bin/python3", "/usr/local/bin/python"],
            "/usr/local",
            "/usr/local/lib/python3.11/site-packages",
        ))
        .unwrap();
        assert_eq!(official.interpreter, "/usr/local/bin/python3");
        assert_eq!(official.platlib, "usr/local/lib/python3.11/site-packages");
        assert_eq!(official.scripts, "usr/local/bin");
    }
}
