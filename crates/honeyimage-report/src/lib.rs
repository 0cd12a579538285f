//! What an evaluation run of HoneyImage measured, and the report a person
//! reads about it, in a crate of their own: the results are plain data and
//! the report is HTML, CSV and SVG, none of which needs the deep-learning
//! framework. Keeping them apart from the method crate lets the report be
//! built, tested and looked at in seconds, and lets tools read
//! `results.json` without linking libtorch.
//!
//! - [`results`]: the types written to `results.json` (with the typed
//!   [`Method`] and [`Role`] of every suspect).
//! - [`report`]: [`render_html`], [`write_report`] and [`suspects_csv`].
//! - [`sweep`]: power curves over a swept parameter, drawn by [`render_sweep`].
#![deny(missing_docs)]

mod domain;
mod error;
pub mod report;
pub mod results;
pub mod sweep;
#[cfg(test)]
mod testutil;

pub use domain::{Method, Role};
pub use error::{Error, Result};
pub use report::leaks::{render_leak_page, write_leak_page, LeakPage, LeakRow, TraceExample};
pub use report::sweep::{render_sweep, write_sweep};
pub use report::{render_html, suspects_csv, write_report};
