//! What `rtlock lock` tells the user it did (on stderr): the base it pinned, the
//! source-date-epoch and where it came from, and each ecosystem's package counts.

use std::fmt::Write;
use std::path::Path;

use super::{EpochSource, Locked};

/// The summary of `locked`, written to `lock_path` (or left as it was: `unchanged`).
pub fn text(locked: &Locked, lock_path: &Path, unchanged: bool) -> String {
    let (lock, base) = (&locked.lock, &locked.base);
    let from = match locked.epoch_source {
        EpochSource::Environment => "from SOURCE_DATE_EPOCH",
        EpochSource::AsOf => "from [lock] as-of",
        EpochSource::BaseCreated => "the base image's creation time",
        EpochSource::Zero => "the base image has no creation time",
    };
    let mut out = String::new();
    let _ = writeln!(out, "base {} ({})", base.reference, base.platform);
    let _ = writeln!(out, "  digest   {}", base.digest);
    let _ = writeln!(out, "  manifest {}", base.manifest);
    let _ = writeln!(out, "source-date-epoch {} ({from})", lock.source_date_epoch);
    let counts = [
        (
            "apt",
            lock.apt.len(),
            lock.apt.iter().filter(|p| p.requested).count(),
        ),
        (
            "pip",
            lock.pip.len(),
            lock.pip.iter().filter(|p| p.requested).count(),
        ),
        (
            "r",
            lock.r.len(),
            lock.r.iter().filter(|p| p.requested).count(),
        ),
    ];
    for (ecosystem, all, requested) in counts.into_iter().filter(|(_, all, _)| *all > 0) {
        let _ = writeln!(
            out,
            "{ecosystem} {all} packages ({requested} requested, {} pulled in)",
            all - requested
        );
    }
    if unchanged {
        let _ = writeln!(out, "{} is unchanged", lock_path.display());
    } else {
        let _ = writeln!(out, "wrote {}", lock_path.display());
    }
    out
}
