//! Integration tests: the real `honeyimage` binary on real files in temp dirs.
mod bad_inputs;
mod cluster;
mod common;
mod deploy;
mod eval;
mod foundation;
mod leaks;
mod protect;
mod resume;
mod serve;
mod verify;
