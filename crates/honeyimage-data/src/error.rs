//! The crate's single error type. Every variant that concerns a file carries
//! its path (for archive members: `archive.npz:member.npy`) so that a user can
//! find the bad input without a debugger.

use std::path::{Path, PathBuf};

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while reading or writing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while touching `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file ends before the data its header announces.
    #[error("{}: truncated: {what}", path.display())]
    Truncated {
        /// The truncated file.
        path: PathBuf,
        /// What was expected.
        what: String,
    },
    /// A binary header starts with the wrong magic number.
    #[error("{}: bad magic number {found:#010x}, expected {expected:#010x}", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number required.
        expected: u32,
    },
    /// A header claims sizes that are absurd (overflow, or over the 2 GiB limit).
    #[error("{}: header claims an absurd size: {what}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Which size.
        what: String,
    },
    /// Two counts that must agree do not (images vs labels, rows vs files, ...).
    #[error("{}: count mismatch: {what}", path.display())]
    CountMismatch {
        /// The file.
        path: PathBuf,
        /// Which counts.
        what: String,
    },
    /// A label is not a valid class index.
    #[error("{}: record {index}: label {label} out of range (number of classes {num_classes})", path.display())]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// Record index within the file.
        index: usize,
        /// The bad label (as read).
        label: i128,
        /// Number of classes.
        num_classes: usize,
    },
    /// An image's size or channel count differs from the dataset's.
    #[error("{}: image is {found}, but the dataset's images are {expected}", path.display())]
    ShapeMismatch {
        /// The first image that differs.
        path: PathBuf,
        /// Shape of the earlier images (HxWxC).
        expected: String,
        /// Shape of this one.
        found: String,
    },
    /// A file in a class folder is not an image this crate reads.
    #[error("{}: not an image file (expected .png, .jpg, .jpeg, .tif or .tiff)", path.display())]
    NotAnImage {
        /// The offending file.
        path: PathBuf,
    },
    /// An image could not be decoded or encoded, or has an unsupported pixel type.
    #[error("{}: {what}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// A problem in a CSV file, with its 1-based line number.
    #[error("{}:{line}: {what}", path.display())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What went wrong.
        what: String,
    },
    /// An array has the wrong element type (e.g. float images in a `.npz`).
    #[error("{}: {what}", path.display())]
    Dtype {
        /// The array (`archive.npz:member.npy`).
        path: PathBuf,
        /// Expected and found types.
        what: String,
    },
    /// Any other structural problem with a file's contents.
    #[error("{}: {what}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Replacing pixels in a lossy (JPEG) image would destroy the replacement.
    #[error("{}: JPEG is lossy, so replaced pixels cannot be stored exactly; convert the dataset to PNG first", path.display())]
    LossyFormat {
        /// The JPEG file that would have been replaced.
        path: PathBuf,
    },
    /// `open` could not tell what kind of dataset `path` is.
    #[error("{}: cannot detect the dataset format; expected a .npz file, a .csv file, a directory with *-idx3-ubyte[.gz] files, a directory with data_batch_1.bin or train.bin, or a directory of class folders", path.display())]
    UnknownFormat {
        /// The path given to `open`.
        path: PathBuf,
    },
    /// The requested split does not exist in this dataset.
    #[error("{}: dataset has no {split} split", path.display())]
    MissingSplit {
        /// The dataset path.
        path: PathBuf,
        /// The split asked for.
        split: crate::Split,
    },
    /// The release destination already exists.
    #[error("{}: output already exists", path.display())]
    OutputExists {
        /// The destination.
        path: PathBuf,
    },
    /// The release destination lies inside the input dataset.
    #[error("{}: output lies inside the input dataset {}", out.display(), input.display())]
    OutputInsideInput {
        /// The destination.
        out: PathBuf,
        /// The input root.
        input: PathBuf,
    },
    /// The requested edits do not fit the dataset.
    #[error("invalid edit: {0}")]
    Edit(String),
    /// An in-memory dataset is inconsistent.
    #[error("invalid dataset: {0}")]
    Invalid(String),
    /// A string could not be parsed as a `Split` or `Format`.
    #[error("invalid {what} {value:?}: expected one of {expected}")]
    Parse {
        /// What was parsed.
        what: &'static str,
        /// The bad text.
        value: String,
        /// The accepted values.
        expected: &'static str,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), source }
    }
    pub(crate) fn malformed(path: &Path, what: impl Into<String>) -> Self {
        Error::Malformed { path: path.to_path_buf(), what: what.into() }
    }
    pub(crate) fn truncated(path: &Path, what: impl Into<String>) -> Self {
        Error::Truncated { path: path.to_path_buf(), what: what.into() }
    }
    pub(crate) fn too_large(path: &Path, what: impl Into<String>) -> Self {
        Error::TooLarge { path: path.to_path_buf(), what: what.into() }
    }
    pub(crate) fn count(path: &Path, what: impl Into<String>) -> Self {
        Error::CountMismatch { path: path.to_path_buf(), what: what.into() }
    }
    pub(crate) fn image(path: &Path, what: impl std::fmt::Display) -> Self {
        Error::Image { path: path.to_path_buf(), what: what.to_string() }
    }
}
