//! The SBOM validators of the SPDX and CycloneDX projects, as oracles: `pyspdxtools`
//! (spdx-tools) and the official CycloneDX JSON schema as cyclonedx-python-lib ships
//! and applies it, installed at test time from the machine's configured Python index
//! into a venv cached on this machine.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::testbed::ok;

pub const VENV: &str = "/var/cache/rtlock-testbed/sbom-tools";
/// Pinned, so that a release of either changes nothing between two runs.
const PACKAGES: [&str; 2] = [
    "spdx-tools==0.8.5",
    "cyclonedx-python-lib[json-validation]==11.12.0",
];

fn venv() -> &'static Path {
    static VENV_DIR: OnceLock<PathBuf> = OnceLock::new();
    VENV_DIR.get_or_init(|| {
        let venv = Path::new(VENV);
        std::fs::create_dir_all(venv.parent().unwrap()).expect("create the test bed cache");
        let lock_path = venv.with_extension("lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|e| panic!("lock {}: {e}", lock_path.display()));
        let works = |venv: &Path| {
            Command::new(venv.join("bin/python"))
                .args(["-c", "import spdx_tools, cyclonedx.validation.json"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !works(venv) {
            if venv.exists() {
                std::fs::remove_dir_all(venv).expect("remove the broken venv");
            }
            ok(
                "python3 -m venv",
                Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(venv)
                    .output()
                    .unwrap(),
            );
            ok(
                "pip install the SBOM validators",
                Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet"])
                    .args(PACKAGES)
                    .output()
                    .unwrap(),
            );
            assert!(
                works(venv),
                "pip install left no working validators in {VENV}"
            );
        }
        drop(lock);
        venv.to_path_buf()
    })
}

/// Panics with the validator's words unless `document` is valid SPDX 2.3.
pub fn assert_valid_spdx(document: &Path) {
    let out = Command::new(venv().join("bin/pyspdxtools"))
        .arg("-i")
        .arg(document)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && !said.contains("invalid"),
        "pyspdxtools: {} is not valid SPDX:\n{said}",
        document.display()
    );
}

/// Panics with the schema's words unless `document` is valid CycloneDX 1.5.
pub fn assert_valid_cyclonedx(document: &Path) {
    let script = "import sys\n\
        from cyclonedx.validation.json import JsonStrictValidator\n\
        from cyclonedx.schema import SchemaVersion\n\
        error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\n\
        print(repr(error) if error else 'valid')\n\
        sys.exit(1 if error else 0)\n";
    let out = Command::new(venv().join("bin/python"))
        .args(["-c", script])
        .arg(document)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the CycloneDX 1.5 schema refuses {}:\n{}{}",
        document.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
