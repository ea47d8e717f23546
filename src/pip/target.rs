//! The environment wheels are chosen for: the base image's own Python (implementation,
//! exact version), architecture and C library, never the machine running rtlock. From it
//! come the compatible tags in preference order and the PEP 508 marker environment.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use pep440_rs::Version;
use pep508_rs::{MarkerEnvironment, MarkerEnvironmentBuilder};

pub use super::tags::{Libc, Tag};
use super::tags::{cpython_tags, platform_tags};
use super::wheel_name::WheelName;
use crate::base::os::Glibc;
use crate::pip::inventory::Interpreter;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error(
        "the base image's Python version {0:?} is not a version rtlock can read (want 3.X or 3.X.Y)"
    )]
    PythonVersion(String),
    #[error("the base image's glibc version {0:?} is not MAJOR.MINOR")]
    Glibc(String),
    #[error(
        "the base image's architecture {0:?} has no Python wheel platform rtlock knows \
         (amd64, arm64, 386, arm, ppc64le, s390x)"
    )]
    Architecture(String),
}

/// CPython on Linux at one exact version. Cheap to clone (the tag table is shared).
#[derive(Debug, Clone)]
pub struct Target {
    python: Version,
    machine: &'static str,
    libc: Libc,
    tags: Arc<TagTable>,
    markers: MarkerEnvironment,
}

/// The ordered tags and a lookup from a tag to its rank that needs no allocation: each
/// part is interned to a small number first.
#[derive(Debug)]
struct TagTable {
    tags: Vec<Tag>,
    python: HashMap<String, u16>,
    abi: HashMap<String, u16>,
    platform: HashMap<String, u16>,
    rank: HashMap<(u16, u16, u16), usize>,
}

impl TagTable {
    fn new(tags: Vec<Tag>) -> TagTable {
        fn intern(map: &mut HashMap<String, u16>, s: &str) -> u16 {
            let next = map.len() as u16;
            *map.entry(s.to_string()).or_insert(next)
        }
        let (mut python, mut abi, mut platform) = Default::default();
        let mut rank = HashMap::with_capacity(tags.len());
        for (i, t) in tags.iter().enumerate() {
            let key = (
                intern(&mut python, &t.python),
                intern(&mut abi, &t.abi),
                intern(&mut platform, &t.platform),
            );
            rank.entry(key).or_insert(i);
        }
        TagTable {
            tags,
            python,
            abi,
            platform,
            rank,
        }
    }
}

impl Target {
    /// `python` is the exact version (`3.11.2`); `arch` the OCI platform architecture
    /// (`amd64`, `arm64`, …).
    pub fn new(python: &str, arch: &str, libc: Libc) -> Result<Target, TargetError> {
        let bad_version = || TargetError::PythonVersion(python.to_string());
        let version = Version::from_str(python).map_err(|_| bad_version())?;
        let [major, minor, ..] = *version.release() else {
            return Err(bad_version());
        };
        let machine = machine(arch).ok_or_else(|| TargetError::Architecture(arch.to_string()))?;
        let tags = cpython_tags(major, minor, &platform_tags(libc, machine));
        let markers =
            marker_environment(&version, major, minor, machine).map_err(|_| bad_version())?;
        Ok(Target {
            python: version,
            machine,
            libc,
            tags: Arc::new(TagTable::new(tags)),
            markers,
        })
    }

    /// From what rtlock reads of the base image. The C library: glibc when inventory found
    /// one (its version banner or dpkg's libc6); otherwise the image is musl when it has
    /// musl's dynamic loader `/lib/ld-musl-<arch>.so.1`, whose version the caller passes
    /// as `musl` (Alpine's `musl` apk package version, `1.2.4` → `(1, 2)`). An image with
    /// neither gets only `linux_<arch>` and pure-Python wheels beside glibc 2.5's.
    pub fn from_image(
        interpreter: &Interpreter,
        glibc: Option<&Glibc>,
        musl: Option<(u32, u32)>,
        arch: &str,
    ) -> Result<Target, TargetError> {
        let libc = match (glibc, musl) {
            (Some(g), _) => parse_glibc(&g.version)?,
            (None, Some((major, minor))) => Libc::Musl { major, minor },
            // No libc found: only tags every glibc accepts.
            (None, None) => Libc::Glibc { major: 2, minor: 5 },
        };
        Target::new(&interpreter.version, arch, libc)
    }

    pub fn python_version(&self) -> &Version {
        &self.python
    }

    /// `x86_64`, `aarch64`: the machine name in tags and markers.
    pub fn machine(&self) -> &str {
        self.machine
    }

    pub fn libc(&self) -> Libc {
        self.libc
    }

    /// Every compatible tag, most preferred first.
    pub fn tags(&self) -> &[Tag] {
        &self.tags.tags
    }

    /// The rank of the best tag a wheel matches (0 = the most preferred tag), or `None`
    /// when the wheel cannot be installed on this target.
    pub fn compatibility(&self, wheel: &WheelName) -> Option<usize> {
        let t = &self.tags;
        let mut best = None;
        for py in wheel.python.iter().filter_map(|p| t.python.get(p)) {
            for abi in wheel.abi.iter().filter_map(|a| t.abi.get(a)) {
                for plat in wheel.platform.iter().filter_map(|p| t.platform.get(p)) {
                    if let Some(&r) = t.rank.get(&(*py, *abi, *plat)) {
                        best = Some(best.map_or(r, |b: usize| b.min(r)));
                    }
                }
            }
        }
        best
    }

    /// The PEP 508 environment markers are evaluated in.
    pub fn markers(&self) -> &MarkerEnvironment {
        &self.markers
    }
}

/// `2.36` (or `2.36.1`) → glibc 2.36.
pub fn parse_glibc(version: &str) -> Result<Libc, TargetError> {
    let bad = || TargetError::Glibc(version.to_string());
    let (major, minor) = version.split_once('.').ok_or_else(bad)?;
    let minor = minor.split('.').next().unwrap_or(minor);
    Ok(Libc::Glibc {
        major: major.parse().map_err(|_| bad())?,
        minor: minor.parse().map_err(|_| bad())?,
    })
}

/// OCI architecture → the `platform.machine()` a Linux kernel reports for it.
fn machine(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "amd64" | "x86_64" => "x86_64",
        "arm64" | "aarch64" => "aarch64",
        "386" | "i686" => "i686",
        "arm" | "armv7l" => "armv7l",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        _ => return None,
    })
}

/// `platform_release` and `platform_version` describe the kernel of whatever machine
/// eventually runs the image (`platform.release()` is `uname -r`), which a lock cannot
/// know; they are empty, as uv leaves them for `--python-platform`, so a marker on them
/// compares against "" the same way on every machine.
fn marker_environment(
    version: &Version,
    major: u64,
    minor: u64,
    machine: &str,
) -> Result<MarkerEnvironment, pep440_rs::VersionParseError> {
    let full = version.to_string();
    let short = format!("{major}.{minor}");
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name: "posix",
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: &full,
        python_version: &short,
        sys_platform: "linux",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bookworm() -> Target {
        Target::new(
            "3.11.2",
            "amd64",
            Libc::Glibc {
                major: 2,
                minor: 36,
            },
        )
        .unwrap()
    }

    #[test]
    fn compatibility_takes_the_best_tag_of_a_compressed_set() {
        let t = bookworm();
        let rank = |f: &str| t.compatibility(&f.parse().unwrap());
        let m2014 = rank("x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
        assert_eq!(
            t.tags()[m2014].to_string(),
            "cp311-cp311-manylinux_2_17_x86_64"
        );
        assert!(rank("x-1-cp311-cp311-manylinux_2_28_x86_64.whl").unwrap() < m2014);
        assert!(rank("x-1-cp38-abi3-manylinux_2_17_x86_64.whl").unwrap() > m2014);
        assert!(rank("x-1-py2.py3-none-any.whl").is_some());
        assert_eq!(rank("x-1-cp312-cp312-manylinux_2_17_x86_64.whl"), None);
        assert_eq!(rank("x-1-cp311-cp311-manylinux_2_38_x86_64.whl"), None);
        assert_eq!(rank("x-1-cp311-cp311-musllinux_1_1_x86_64.whl"), None);
        assert_eq!(rank("x-1-cp311-cp311-manylinux_2_17_aarch64.whl"), None);
    }

    #[test]
    fn markers_of_the_target() {
        let t = Target::new(
            "3.11.2",
            "arm64",
            Libc::Glibc {
                major: 2,
                minor: 36,
            },
        )
        .unwrap();
        let m = t.markers();
        assert_eq!(m.python_full_version().to_string(), "3.11.2");
        assert_eq!(m.python_version().to_string(), "3.11");
        assert_eq!(m.platform_machine(), "aarch64");
        assert_eq!(m.platform_release(), "");
        let req: pep508_rs::Requirement =
            "x; python_version >= '3.9' and platform_machine == 'aarch64' and sys_platform == 'linux'"
                .parse()
                .unwrap();
        assert!(req.marker.evaluate(m, &[]));
    }

    #[test]
    fn bad_inputs_say_what() {
        let err = Target::new(
            "three",
            "amd64",
            Libc::Glibc {
                major: 2,
                minor: 36,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"three\""));
        let err = Target::new(
            "3.11.2",
            "mips",
            Libc::Glibc {
                major: 2,
                minor: 36,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("mips"));
        assert_eq!(
            parse_glibc("2.36").unwrap(),
            Libc::Glibc {
                major: 2,
                minor: 36
            }
        );
        assert!(parse_glibc("236").is_err());
    }
}
