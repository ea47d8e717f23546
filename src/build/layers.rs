//! The layers rtlock adds on top of the base: one per ecosystem (apt, pip, r), each a
//! list of entries for [`crate::oci::layer`]. The installers plug in here; a lock without
//! packages adds no layer at all (the image is the base with the lock's config).

use crate::lockfile::Lockfile;
#[cfg(doc)]
use crate::oci::layer::LayerInputs;
use crate::oci::layer::{Entry, LayerKey};

use super::BuildError;

/// A layer to write: what it holds (for the history) and its entries.
#[derive(Debug, Clone)]
pub struct PlannedLayer {
    /// `apt`, `pip` or `r`.
    pub name: &'static str,
    /// The history's `created_by`, e.g. `rtlock: apt (12 packages)`.
    pub created_by: String,
    pub entries: Vec<Entry>,
    /// The hash of everything the entries are made from ([`LayerInputs`]): the layer
    /// cache finds the layer by it without making the entries again.
    pub key: Option<LayerKey>,
}

/// The layers for the lock's packages, bottom first, except apt's and pip's: they need
/// the base's files and are made in [`super::build_with_options`] (see [`super::apt`],
/// [`super::pip`]).
pub fn plan(lock: &Lockfile) -> Result<Vec<PlannedLayer>, BuildError> {
    if !lock.r.is_empty() {
        return Err(BuildError::NotYet {
            ecosystem: "R",
            count: lock.r.len(),
        });
    }
    Ok(Vec::new())
}

/// `rtlock: apt (12 packages)`.
pub fn created_by(name: &str, packages: usize) -> String {
    let noun = if packages == 1 { "package" } else { "packages" };
    format!("rtlock: {name} ({packages} {noun})")
}
