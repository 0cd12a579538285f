//! One module per subcommand.
pub mod eval_model;
pub mod inspect;
pub mod key;
pub mod bench_serve;
pub mod calibrate;
pub mod eval;
pub mod eval_jobs;
pub mod protect;
pub mod serve;
pub mod trace;
pub mod verify;
pub mod train;
