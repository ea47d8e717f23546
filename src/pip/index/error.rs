//! What can go wrong reading a Python index, each naming the project or file, the index
//! (credentials redacted) and what to do.

use crate::fetch::FetchError;
use crate::task::TaskFailed;

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
        #[source]
        why: PageError,
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
        #[source]
        why: WheelMetadataError,
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

    /// Parsing a page or reading a wheel off the async threads panicked.
    #[error(transparent)]
    Task(#[from] TaskFailed),
}

/// Why an index page (PEP 691 JSON or PEP 503 HTML) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("bad href {href:?}")]
    Href {
        href: String,
        #[source]
        source: url::ParseError,
    },
    #[error("{filename}: bad url {url:?}")]
    Url {
        filename: String,
        url: String,
        #[source]
        source: url::ParseError,
    },
}

/// Why a wheel's METADATA cannot be read out of it, whole or by range requests.
#[derive(Debug, thiserror::Error)]
pub enum WheelMetadataError {
    /// The wheel on disk cannot be opened.
    #[error(transparent)]
    Open(std::io::Error),
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    #[error("it has no *.dist-info/METADATA")]
    NoMetadata,
    /// The METADATA entry (named) does not read.
    #[error("{name}")]
    Entry {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Fetch(Box<FetchError>),
    #[error("the server did not say how large the wheel is")]
    NoSize,
    #[error("the server sent more than the wheel holds")]
    TooMuch,
    #[error("no end of central directory: not a zip")]
    NoEndOfDirectory,
    #[error("a zip64 wheel without its zip64 locator")]
    NoZip64Locator,
    #[error("a broken zip64 end of central directory")]
    BrokenZip64,
    #[error("a truncated central directory")]
    TruncatedDirectory,
    #[error("no *.dist-info/METADATA in its central directory")]
    NotInDirectory,
    #[error("no local file header where the directory points")]
    NoLocalHeader,
    #[error("METADATA does not inflate")]
    Inflate(#[source] std::io::Error),
    #[error("METADATA is stored with zip method {0}")]
    Method(u16),
    #[error("METADATA fails its zip CRC check")]
    Crc,
}
