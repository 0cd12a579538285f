//! The two byte formats HoneyImage reads from outside and must never trust:
//! the owner's key file ([`key`]) and the HTTP query protocol ([`protocol`]),
//! plus the public commitment to a key ([`commitment`]), whose text users
//! pass back in. They live here, away from libtorch, so that they can be
//! fuzzed on their own (see `fuzz/` and FUZZING.md). Errors are typed
//! ([`key::KeyError`], [`commitment::CommitmentError`],
//! [`protocol::ReplyError`], [`protocol::BadRequest`],
//! [`protocol::OutputKindError`]); their messages do not name the file or URL
//! the bytes came from, which callers add.
#![deny(missing_docs)]

pub mod commitment;
pub mod key;
pub mod protocol;
