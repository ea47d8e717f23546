//! `[runtime]`: Cloudera ML Runtime metadata. Each value is written twice, as the
//! environment variable `ML_RUNTIME_<KEY>` and as the label
//! `com.cloudera.ml.runtime.<key>`; rtlock writes both from one place so they always agree.

/// Manifest keys of `[runtime]` that a custom runtime may set.
pub const RUNTIME_KEYS: [&str; 6] = [
    "edition",
    "editor",
    "description",
    "short-version",
    "maintenance-version",
    "full-version",
];

/// Keys the base runtime sets and Cloudera does not allow a custom runtime to change.
pub const FORBIDDEN_RUNTIME_KEYS: [&str; 5] = [
    "metadata-version",
    "kernel",
    "git-hash",
    "gbn",
    "cuda-version",
];

pub const ENV_PREFIX: &str = "ML_RUNTIME_";
pub const LABEL_PREFIX: &str = "com.cloudera.ml.runtime.";

/// The metadata of a custom Cloudera ML Runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeMetadata {
    /// Required: Cloudera refuses a custom runtime without an edition.
    pub edition: String,
    pub editor: Option<String>,
    pub description: Option<String>,
    pub short_version: Option<String>,
    /// An integer; a new iteration of the same image needs a higher one.
    pub maintenance_version: Option<u64>,
    pub full_version: Option<String>,
}

impl RuntimeMetadata {
    /// `(env name, label name, value)` for every key that is set, in a fixed order.
    pub fn entries(&self) -> Vec<(String, String, String)> {
        let values = [
            ("edition", Some(self.edition.clone())),
            ("editor", self.editor.clone()),
            ("description", self.description.clone()),
            ("short-version", self.short_version.clone()),
            (
                "maintenance-version",
                self.maintenance_version.map(|v| v.to_string()),
            ),
            ("full-version", self.full_version.clone()),
        ];
        values
            .into_iter()
            .filter_map(|(key, value)| value.map(|v| (env_name(key), label_name(key), v)))
            .collect()
    }
}

/// `short-version` → `ML_RUNTIME_SHORT_VERSION`
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// `short-version` → `com.cloudera.ml.runtime.short-version`
pub(crate) fn label_name(key: &str) -> String {
    format!("{LABEL_PREFIX}{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_labels_agree() {
        let metadata = RuntimeMetadata {
            edition: "Data Science".into(),
            editor: Some("JupyterLab".into()),
            description: None,
            short_version: Some("2024.02".into()),
            maintenance_version: Some(3),
            full_version: None,
        };
        let entries = metadata.entries();
        assert_eq!(
            entries,
            vec![
                (
                    "ML_RUNTIME_EDITION".to_string(),
                    "com.cloudera.ml.runtime.edition".to_string(),
                    "Data Science".to_string()
                ),
                (
                    "ML_RUNTIME_EDITOR".into(),
                    "com.cloudera.ml.runtime.editor".into(),
                    "JupyterLab".into()
                ),
                (
                    "ML_RUNTIME_SHORT_VERSION".into(),
                    "com.cloudera.ml.runtime.short-version".into(),
                    "2024.02".into()
                ),
                (
                    "ML_RUNTIME_MAINTENANCE_VERSION".into(),
                    "com.cloudera.ml.runtime.maintenance-version".into(),
                    "3".into()
                ),
            ]
        );
    }
}
