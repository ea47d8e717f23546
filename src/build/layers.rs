//! Layers given to [`super::build_with`] as lists of entries for [`crate::oci::layer`],
//! on top of the base: how tests and benches add layers of their own making. The
//! ecosystems' layers come from their `layer.rs` (see [`super::build_with_options`]).

#[cfg(doc)]
use crate::oci::layer::LayerInputs;
use crate::oci::layer::{Entry, LayerKey};

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
