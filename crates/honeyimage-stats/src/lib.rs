//! Pure `f64` statistics for HoneyImage dataset-ownership verification.
//!
//! The verifier compares a suspect model's per-sample losses on released
//! honey samples (R) against withheld controls (W). Everything needed to turn
//! those numbers into a decision — exact permutation tests ([`exact`]), other
//! hypothesis tests ([`tests`]), goodness-of-fit and binomial helpers for the
//! evaluation ([`gof`]), ROC analysis and threshold calibration for
//! evaluating the detector ([`roc`]) and image-similarity metrics for
//! checking that perturbations stay imperceptible ([`image`]) — lives here,
//! without any deep-learning dependency, so it can be unit-tested exactly.
//!
//! # Which p-value each function gives
//!
//! | function | p-value | when |
//! |---|---|---|
//! | [`rank_sum_exact`] | exact Wilcoxon-Mann-Whitney: enumerated ([`PValueMethod::ExactNoTies`]) or exact conditional on ties ([`PValueMethod::ExactConditional`]) | any sizes within [`EXACT_MAX_WORK`] (e.g. 200 vs 200); error beyond |
//! | [`rank_sum_test`], [`mann_whitney_u`] | as [`rank_sum_exact`]; beyond [`EXACT_MAX_WORK`] Monte-Carlo `(1+b)/(1+B)` with its standard error | always |
//! | [`stratified_rank_sum_exact`] | exact stratified distribution (labels permuted within strata, conditional on ties; [`PValueMethod::ExactStratified`]) | within [`EXACT_MAX_WORK`] (e.g. 10 strata of 20 vs 20); error beyond |
//! | [`stratified_rank_sum_test`] | as above, else Monte-Carlo within strata | always |
//! | [`monte_carlo_permutation`] | Monte-Carlo within-strata permutation, `(1+b)/(1+B)`, seeded, with standard error; rank sum or mean difference | always |
//! | [`permutation_test`] | difference of means: exact enumeration up to [`tests::DEFAULT_MAX_EXACT`] splits, else Monte-Carlo `(1+b)/(1+B)` | unstratified |
//! | [`fisher_exact`] | exact hypergeometric | label-only mode |
//! | [`welch_t_test`], [`paired_t_test`] | Student-t reference distribution (parametric) | baselines and ablations |
//! | [`ks_uniform`] | exact Kolmogorov-Smirnov (Marsaglia-Tsang-Wang; Birnbaum-Tingey tails); asymptotic only for very large `n` | checking p-value calibration |
//! | [`binomial_tail`], [`binomial_ci`] | exact binomial tail; Clopper-Pearson interval | error rates in evaluations |
//! | [`paired_rate_difference`], [`paired_mean_difference`] | no p-value: Newcombe's paired score interval, paired t interval | comparing two methods on the same suspects |
//! | [`order_statistic_threshold`] | threshold with `P(clean score > tau) <= (k+1)/(n+1)` | calibrating the paper's `tau` |
//!
//! No p-value in this crate comes from a normal approximation. The exact rank
//! tests need `C(m + n, m) < 1e300` per sample pair (about 500 vs 500) and
//! their work estimate within [`EXACT_MAX_WORK`]; with ties the work grows
//! like `(mn)²`, so 200 vs 200 takes tens of milliseconds (release build).
//!
//! Conventions: caller data is validated (empty, NaN/inf and mismatched
//! lengths give an [`Error`], never a panic) and randomised procedures take an
//! explicit seed (ChaCha8) so results are reproducible.
#![deny(missing_docs)]

pub mod exact;
pub mod gof;
pub mod image;
pub mod multiple;
pub mod paired;
mod rank_null;
pub mod roc;
mod special;
pub mod tests;

pub use exact::{
    monte_carlo_permutation, rank_sum_exact, rank_sum_test, smallest_rank_sum_p, stratified_rank_sum_exact,
    stratified_rank_sum_test, PValueMethod, PermutationStatistic, PermutationTestResult,
    EXACT_MAX_WORK,
};
pub use gof::{binomial_ci, binomial_tail, ks_uniform};
pub use image::{linf, psnr, ssim};
pub use multiple::holm;
pub use paired::{paired_mean_difference, paired_proportion_difference, paired_rate_difference, wilson_ci, PairedDifference};
pub use roc::{
    auroc, auroc_bootstrap_ci, calibrate_threshold, confusion, order_statistic_threshold,
    roc_curve, tpr_at_fpr, Confusion, OrderStatisticThreshold, RocPoint,
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
