//! Library errors as the Python exceptions of `honeyimage.errors`, with the
//! CLI's one-line messages: one class per kind of fault, all under
//! `HoneyImageError`, so a notebook can catch what it can handle.
use honeyimage::Error;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;

/// The `honeyimage.errors` class for an error.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::Data(_) => "DataError",
        Error::Key { .. } | Error::KeyFormat { .. } => "KeyFileError",
        Error::Model { .. } | Error::Reply { .. } | Error::Answers { .. } => "SuspectError",
        Error::Invalid { .. } | Error::NonFinite(_) | Error::Json { .. } => "InvalidArgument",
        Error::Io { .. } | Error::Checkpoint { .. } => "FileError",
        _ => "HoneyImageError",
    }
}

/// An error of `honeyimage.errors` of class `name` with `message`.
pub fn raise(py: Python<'_>, name: &str, message: String) -> PyErr {
    match py.import("honeyimage.errors").and_then(|m| m.getattr(name)) {
        Ok(class) => PyErr::from_value(class.call1((message,)).unwrap_or_else(|e| e.into_value(py).into_bound(py).into_any())),
        Err(e) => e,
    }
}

/// The Python exception for a library error; an interruption is Python's
/// own `KeyboardInterrupt`.
pub fn to_py(py: Python<'_>, e: Error) -> PyErr {
    if matches!(e, Error::Interrupted) {
        return PyKeyboardInterrupt::new_err("interrupted");
    }
    raise(py, class_name(&e), e.to_string())
}
