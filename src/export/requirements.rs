//! `rtlock export requirements`: pip's hash-checking requirements format, as pip-compile
//! writes it (`name==version \` + `--hash=sha256:…`, then `# via` comments), so the file
//! reviews the same way and `pip install --require-hashes` accepts it.

use std::fmt::Write as _;
use std::path::Path;

use super::{ExportError, PipSet, provenance};
use crate::lockfile::Lockfile;

/// What a requested package is "via" in the comments: the file that asked for it.
const MANIFEST: &str = "runtime.toml";

/// The requirements file for the pip packages of `lock`, read from `path` (named in the
/// header). Fails when the lock has no pip packages.
pub fn requirements(lock: &Lockfile, path: &Path) -> Result<String, ExportError> {
    let set = PipSet::new(lock, path)?;
    let mut out = String::new();
    for line in provenance(lock, path) {
        let _ = writeln!(out, "# {line}");
    }
    // The lock holds every package the base lacks, so dependencies must not be
    // re-resolved (pip would upgrade what the base holds); one wheel per package, so only
    // binaries.
    out.push_str(
        "#\n\
         # Install into that base image with:\n\
         #   pip install --require-hashes --no-deps -r requirements.txt\n\
         # (add --break-system-packages where the base's Python is externally managed,\n\
         # PEP 668, as Debian's and Ubuntu's are)\n\
         --only-binary :all:\n\n",
    );
    for (name, p) in &set.packages {
        let _ = writeln!(out, "{name}=={} \\", p.version);
        let _ = writeln!(out, "    --hash=sha256:{}", p.sha256);
        // The manifest first, then the requiring packages by name, as pip-compile does.
        let manifest = p.requested.then_some(MANIFEST);
        let via: Vec<&str> = manifest
            .into_iter()
            .chain(
                set.required_by
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(String::as_str),
            )
            .collect();
        match via.as_slice() {
            [] => {}
            [one] => {
                let _ = writeln!(out, "    # via {one}");
            }
            many => {
                out.push_str("    # via\n");
                for v in many {
                    let _ = writeln!(out, "    #   {v}");
                }
            }
        }
    }
    Ok(out)
}
