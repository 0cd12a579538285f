//! Pure `f64` statistics for HoneyImage dataset-ownership verification.
//!
//! The verifier compares a suspect model's per-sample losses on released
//! honey samples (R) against withheld controls (W). Everything needed to turn
//! those numbers into a decision — hypothesis tests ([`tests`]), ROC analysis
//! for evaluating the detector ([`roc`]) and image-similarity metrics for
//! checking that perturbations stay imperceptible ([`image`]) — lives here,
//! without any deep-learning dependency, so it can be unit-tested exactly.
//!
//! Conventions: caller data is validated (empty, NaN/inf and mismatched
//! lengths give an [`Error`], never a panic) and randomised procedures take an
//! explicit seed (ChaCha8) so results are reproducible.
#![deny(missing_docs)]

pub mod image;
pub mod roc;
mod special;
pub mod tests;

pub use image::{linf, psnr, ssim};
pub use roc::{
    auroc, auroc_bootstrap_ci, calibrate_threshold, confusion, roc_curve, tpr_at_fpr, Confusion,
    RocPoint,
};
pub use special::{normal_cdf, student_t_cdf};
pub use tests::{
    cohens_d, fisher_exact, mann_whitney_u, mean, mean_t_interval, median, paired_t_test,
    permutation_test, permutation_test_with, std_dev, student_t_quantile, welch_t_test,
    Alternative, TestResult,
};

/// Errors raised when caller data cannot be analysed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An input that must hold data is empty (or too short for the statistic).
    #[error("{what}: need at least {need} value(s), got {got}")]
    TooFew {
        /// Which input.
        what: &'static str,
        /// Minimum length required.
        need: usize,
        /// Length supplied.
        got: usize,
    },
    /// An input contains NaN or an infinity.
    #[error("{what}: value at index {index} is not finite")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position of the first offending value.
        index: usize,
    },
    /// Two inputs that must have equal lengths do not.
    #[error("length mismatch: {left} vs {right}")]
    LengthMismatch {
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// A parameter is outside its valid range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The data make the statistic undefined (e.g. zero variance).
    #[error("degenerate data: {0}")]
    Degenerate(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that `x` has at least `need` values, all finite.
pub(crate) fn check(x: &[f64], what: &'static str, need: usize) -> Result<()> {
    if x.len() < need {
        return Err(Error::TooFew {
            what,
            need,
            got: x.len(),
        });
    }
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite { what, index }),
        None => Ok(()),
    }
}

/// Mid-ranks (1-based) of `v`, plus the tie-group sizes (only groups > 1).
pub(crate) fn mid_ranks(v: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut ties = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && v[idx[j]] == v[idx[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share ranks i+1..=j; mid-rank is their mean.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            ranks[k] = r;
        }
        if j - i > 1 {
            ties.push(j - i);
        }
        i = j;
    }
    (ranks, ties)
}
