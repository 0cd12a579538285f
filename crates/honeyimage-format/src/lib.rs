//! The byte formats HoneyImage reads from outside and must never trust:
//! the owner's key file ([`key`]), the HTTP query protocol ([`protocol`]),
//! the standard model servers' protocols ([`oip`]: the Open Inference
//! Protocol; [`serving`]: TF Serving and TorchServe) with the class-name
//! maps their replies may need ([`classes`]),
//! plus the public commitment to a key ([`commitment`]), whose text users
//! pass back in. They live here, away from libtorch, so that they can be
//! fuzzed on their own (see `fuzz/` and FUZZING.md). Errors are typed
//! ([`key::KeyError`], [`commitment::CommitmentError`],
//! [`protocol::ReplyError`], [`protocol::BadRequest`],
//! [`protocol::OutputKindError`]); their messages do not name the file or URL
//! the bytes came from, which callers add.
#![deny(missing_docs)]

pub mod classes;
pub mod commitment;
pub mod key;
pub mod oip;
pub mod protocol;
pub mod serving;
