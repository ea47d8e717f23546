//! Compatible wheel tags of a CPython interpreter on Linux, in the exact order
//! `packaging.tags.sys_tags()` yields them (pip and uv prefer the earliest tag a wheel
//! matches, so the order decides which wheel is installed).

use std::fmt;

/// One `python-abi-platform` triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    pub python: String,
    pub abi: String,
    pub platform: String,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.python, self.abi, self.platform)
    }
}

/// The C library of the image, which decides the `manylinux`/`musllinux` platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libc {
    Glibc { major: u32, minor: u32 },
    Musl { major: u32, minor: u32 },
}

/// The platform tags, best first: `manylinux_2_{minor}` down to the oldest glibc the
/// architecture has wheels for, each legacy alias right after the version it stands for
/// (PEP 600), or `musllinux_1_{minor}` down to 0 (PEP 656); then plain `linux_<arch>`.
pub fn platform_tags(libc: Libc, arch: &str) -> Vec<String> {
    let mut tags = Vec::new();
    match libc {
        Libc::Glibc { major, minor } => {
            // manylinux wheels exist from glibc 2.5 on x86, 2.17 elsewhere (packaging's
            // `too_old_glibc2`); glibc keeps compatibility across major versions.
            let oldest = if matches!(arch, "x86_64" | "i686") {
                5
            } else {
                17
            };
            for glibc_major in (2..=major).rev() {
                let top = if glibc_major == major {
                    minor
                } else {
                    last_minor(glibc_major)
                };
                let bottom = if glibc_major == 2 { oldest } else { 0 };
                for m in (bottom..=top).rev() {
                    tags.push(format!("manylinux_{glibc_major}_{m}_{arch}"));
                    if let Some(legacy) = legacy_manylinux(glibc_major, m) {
                        tags.push(format!("{legacy}_{arch}"));
                    }
                }
            }
        }
        Libc::Musl { major, minor } => {
            tags.extend(
                (0..=minor)
                    .rev()
                    .map(|m| format!("musllinux_{major}_{m}_{arch}")),
            );
        }
    }
    tags.push(format!("linux_{arch}"));
    tags
}

/// packaging's `_LAST_GLIBC_MINOR`: only glibc 1 has a known last minor; a future
/// glibc 3 would list 2.x from this value down.
fn last_minor(major: u32) -> u32 {
    if major == 1 { 0 } else { 50 }
}

fn legacy_manylinux(major: u32, minor: u32) -> Option<&'static str> {
    match (major, minor) {
        (2, 17) => Some("manylinux2014"),
        (2, 12) => Some("manylinux2010"),
        (2, 5) => Some("manylinux1"),
        _ => None,
    }
}

/// All tags of CPython `major.minor` (non-debug build) on `platforms`: packaging's
/// `cpython_tags()` then `compatible_tags()`.
pub fn cpython_tags(major: u64, minor: u64, platforms: &[String]) -> Vec<Tag> {
    let nodot = format!("{major}{minor}");
    let cp = format!("cp{nodot}");
    // Before 3.8 the default ABI carries pymalloc's `m`.
    let abi = if (major, minor) < (3, 8) {
        format!("cp{nodot}m")
    } else {
        cp.clone()
    };
    let abi3 = (major, minor) >= (3, 2);
    let mut tags = Vec::new();
    let push_all = |tags: &mut Vec<Tag>, python: &str, abi: &str| {
        tags.extend(platforms.iter().map(|p| tag(python, abi, p)));
    };
    push_all(&mut tags, &cp, &abi);
    if abi3 {
        push_all(&mut tags, &cp, "abi3");
    }
    push_all(&mut tags, &cp, "none");
    if abi3 {
        for older in (2..minor).rev() {
            push_all(&mut tags, &format!("cp{major}{older}"), "abi3");
        }
    }
    let py_range = py_interpreter_range(major, minor);
    for py in &py_range {
        push_all(&mut tags, py, "none");
    }
    tags.push(tag(&cp, "none", "any"));
    tags.extend(py_range.iter().map(|py| tag(py, "none", "any")));
    tags
}

/// `py311`, `py3`, `py310` … `py30`.
fn py_interpreter_range(major: u64, minor: u64) -> Vec<String> {
    let mut range = vec![format!("py{major}{minor}"), format!("py{major}")];
    range.extend((0..minor).rev().map(|m| format!("py{major}{m}")));
    range
}

fn tag(python: &str, abi: &str, platform: &str) -> Tag {
    Tag {
        python: python.into(),
        abi: abi.into(),
        platform: platform.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_platforms_with_legacy_aliases() {
        let p = platform_tags(
            Libc::Glibc {
                major: 2,
                minor: 36,
            },
            "x86_64",
        );
        assert_eq!(p.first().unwrap(), "manylinux_2_36_x86_64");
        let at = |s: &str| p.iter().position(|t| t == s).unwrap();
        assert_eq!(at("manylinux2014_x86_64"), at("manylinux_2_17_x86_64") + 1);
        assert_eq!(at("manylinux1_x86_64"), at("manylinux_2_5_x86_64") + 1);
        assert_eq!(p.last().unwrap(), "linux_x86_64");
        // 32 manylinux_2_x + 3 aliases + linux
        assert_eq!(p.len(), 36);
    }

    #[test]
    fn aarch64_starts_at_2_17() {
        let p = platform_tags(
            Libc::Glibc {
                major: 2,
                minor: 28,
            },
            "aarch64",
        );
        assert_eq!(
            &p[p.len() - 3..],
            [
                "manylinux_2_17_aarch64",
                "manylinux2014_aarch64",
                "linux_aarch64"
            ]
        );
    }

    #[test]
    fn musl_platforms() {
        let p = platform_tags(Libc::Musl { major: 1, minor: 2 }, "x86_64");
        assert_eq!(
            p,
            [
                "musllinux_1_2_x86_64",
                "musllinux_1_1_x86_64",
                "musllinux_1_0_x86_64",
                "linux_x86_64"
            ]
        );
    }

    #[test]
    fn cpython_order() {
        let plats = vec!["linux_x86_64".to_string()];
        let t: Vec<String> = cpython_tags(3, 11, &plats)
            .iter()
            .map(Tag::to_string)
            .collect();
        assert_eq!(
            &t[..4],
            [
                "cp311-cp311-linux_x86_64",
                "cp311-abi3-linux_x86_64",
                "cp311-none-linux_x86_64",
                "cp310-abi3-linux_x86_64"
            ]
        );
        assert_eq!(t[11], "cp32-abi3-linux_x86_64");
        assert_eq!(t[12], "py311-none-linux_x86_64");
        assert_eq!(t[13], "py3-none-linux_x86_64");
        let any = t.iter().position(|t| t == "cp311-none-any").unwrap();
        assert_eq!(
            &t[any..any + 3],
            ["cp311-none-any", "py311-none-any", "py3-none-any"]
        );
        assert_eq!(t.last().unwrap(), "py30-none-any");
    }
}
