//! The image config's environment.

use std::collections::BTreeMap;

use crate::oci::types::ImageConfig;

/// The image config's `Env` as a map (later entries win, as in a container).
pub fn image_env(config: &ImageConfig) -> BTreeMap<String, String> {
    config
        .config
        .as_ref()
        .and_then(|c| c.env.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
