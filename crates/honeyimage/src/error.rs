//! One error type for the library, so that callers can match on what went
//! wrong and every message names the file or value at fault.
use std::path::PathBuf;

/// Everything the library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset could not be read or written.
    #[error(transparent)]
    Data(#[from] honeyimage_data::Error),
    /// A statistic could not be computed (empty or non-finite input).
    #[error(transparent)]
    Stats(#[from] honeyimage_stats::Error),
    /// The evaluation report could not be written.
    #[error(transparent)]
    Report(#[from] honeyimage_report::Error),
    /// libtorch refused an operation.
    #[cfg(feature = "torch")]
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A JSON document was malformed or of the wrong shape.
    #[error("{path}: {message}")]
    Json {
        /// The file (or endpoint) the document came from.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A setting or argument is out of its valid range.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The setting.
        what: String,
        /// Why it is invalid.
        message: String,
    },
    /// A model (file, folder or endpoint) misbehaved or did not match.
    #[error("model {source_name}: {message}")]
    Model {
        /// Path or URL of the model.
        source_name: String,
        /// What was wrong.
        message: String,
    },
    /// A file of recorded answers (`verify --answers`) is malformed or lacks an image.
    #[error("answers {path}: {message}")]
    Answers {
        /// The answers file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The key file is corrupt, tampered with or for another release.
    #[error("key {path}: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A key file does not parse or fails its integrity or consistency checks.
    #[error("key {path}: {source}")]
    KeyFormat {
        /// The key file.
        path: PathBuf,
        /// What the format check found.
        source: honeyimage_format::key::KeyError,
    },
    /// A model's (or endpoint's) output rows are not usable scores.
    #[error("model {source_name}: {source}")]
    Reply {
        /// Path or URL of the model.
        source_name: String,
        /// What was wrong with the rows.
        source: honeyimage_format::protocol::ReplyError,
    },
    /// A training checkpoint could not be used.
    #[error("{path}: checkpoint: {message}")]
    Checkpoint {
        /// The checkpoint file or folder.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The run was stopped by [`crate::interrupt::request`] (Ctrl-C in the
    /// Python package); a resumable run continues from its work folder.
    #[error("interrupted")]
    Interrupted,
    /// A non-finite value appeared where a number was required.
    #[error("non-finite value in {0}")]
    NonFinite(String),
}

/// Library result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { what: what.into(), message: message.into() }
    }
    /// Shorthand for [`Error::Model`].
    pub fn model(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model { source_name: source_name.into(), message: message.into() }
    }
    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}
