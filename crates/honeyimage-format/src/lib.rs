//! The two byte formats HoneyImage reads from outside and must never trust:
//! the owner's key file ([`key`]) and the HTTP query protocol ([`protocol`]).
//! Both live here, away from libtorch, so that they can be fuzzed on their own
//! (see `fuzz/` and FUZZING.md). Errors are plain messages: callers add the
//! file name or URL they came from.
#![deny(missing_docs)]

pub mod key;
pub mod protocol;
