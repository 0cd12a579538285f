//! The crate's one error type. Rendering itself never fails (odd numbers are
//! shown as "–"), so what is left is writing the page and reading a method or
//! role name; each variant carries the path or the name at fault.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report could not be written to `path`.
    #[error("cannot write the report to {}: {source}", path.display())]
    Write {
        /// The file that was to be written.
        path: PathBuf,
        /// What the atomic write reported.
        source: honeyimage_data::Error,
    },
    /// A method name that is none of [`crate::Method::ALL`].
    #[error("unknown method {0:?} (expected honeyimage, random-pgd, hard-unperturbed or badnets)")]
    UnknownMethod(String),
    /// A role name that is none of [`crate::Role::ALL`].
    #[error(
        "unknown role {0:?} (expected infringing, clean-disjoint, clean-minus-honey or original)"
    )]
    UnknownRole(String),
}
