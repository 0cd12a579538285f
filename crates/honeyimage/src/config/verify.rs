//! Settings of one verification: significance level, test options, batching.

/// Settings of a verification.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// Significance level.
    pub alpha: f64,
    /// Use only the top-1 class.
    pub label_only: bool,
    /// Monte Carlo permutations of the mean-difference test.
    pub permutations: usize,
    /// Seed of those permutations.
    pub seed: u64,
    /// Threshold of the paper's rule, when calibrated.
    pub tau: Option<f64>,
    /// Images per query batch.
    pub batch: usize,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig { alpha: 0.001, label_only: false, permutations: 200_000, seed: 0, tau: None, batch: 64 }
    }
}

