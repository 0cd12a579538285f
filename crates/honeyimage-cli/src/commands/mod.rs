//! One module per subcommand.
pub mod eval_model;
pub mod inspect;
pub mod protect;
pub mod train;
