//! What can go wrong reading a Python index, each naming the project or file, the index
//! (credentials redacted) and what to do.

use crate::fetch::FetchError;

/// Fetch errors are boxed: they are large, and the error path should not make every
/// `Result` of the index carry their size.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("could not read the index page of {project} from {index}: {source}")]
    Page {
        project: String,
        index: String,
        #[source]
        source: Box<FetchError>,
    },

    #[error(
        "the index page of {project} at {index} cannot be parsed ({why}); check that the \
         URL is a PEP 503/691 simple index (it usually ends in /simple/)"
    )]
    BadPage {
        project: String,
        index: String,
        why: String,
    },

    #[error(
        "offline, and no index page of {project} is in the cache (indexes: {indexes}); run \
         once online (e.g. rtlock lock without --offline) to fill the cache"
    )]
    Offline { project: String, indexes: String },

    #[error("could not read the core metadata of {file} from {url}: {source}")]
    Metadata {
        file: String,
        url: String,
        #[source]
        source: Box<FetchError>,
    },

    #[error(
        "the wheel {file} ({url}) is not a readable zip: {why}; the file on the index may be \
         corrupt, or the index may serve something else under its name"
    )]
    BadWheel {
        file: String,
        url: String,
        why: String,
    },

    #[error(
        "the core metadata of {file} is invalid at line {line} ({text:?}): {why}; the \
         package's METADATA is malformed, pin another version of it"
    )]
    BadMetadata {
        file: String,
        line: usize,
        text: String,
        why: String,
    },

    #[error(
        "the core metadata of {file} names {found}, not the {expected} its file name says; \
         the index serves a mislabeled file"
    )]
    MetadataMismatch {
        file: String,
        expected: String,
        found: String,
    },

    #[error(
        "cannot get the core metadata of {file}: the index offers no .metadata file, and \
         without a sha256 for the wheel it cannot be downloaded safely; use an index that \
         publishes hashes"
    )]
    NoWayToMetadata { file: String },

    #[error("could not write to the cache: {0}")]
    Cache(#[source] Box<FetchError>),
}
