//! Cooperative interruption of long runs. A host that cannot kill the
//! computation (the Python package, where Ctrl-C must leave the interpreter
//! usable) calls [`request`]; training and the optimisation check it after
//! every step and return [`Error::Interrupted`](crate::Error::Interrupted),
//! so the run stops within one step, cached stages kept for a resume.
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the running computation to stop at its next step.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Forgets a request (before starting a new run).
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Fails with [`Error::Interrupted`] when a stop was requested.
pub fn check() -> Result<()> {
    if REQUESTED.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_fails_the_next_check_until_cleared() {
        super::clear();
        assert!(super::check().is_ok());
        super::request();
        assert!(matches!(super::check(), Err(crate::Error::Interrupted)));
        super::clear();
        assert!(super::check().is_ok());
    }
}
