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
    /// Test-time augmentation of the loss test (None: each image once).
    pub tta: Option<Tta>,
    /// Rank each image's suspect loss minus its proxy loss stored in the
    /// key (the out-model's loss on that image), instead of the raw loss:
    /// part of the per-image difficulty, which the R/W split otherwise
    /// leaves to chance, cancels out. The proxy losses do not depend on the
    /// split, so the test stays exact.
    pub calibrate: bool,
}

/// Test-time augmentation: every R and W image is queried as each of its
/// views (shifted by up to `pad` pixels in each direction, zero-filled, as
/// random-crop training pads, and with and without a horizontal flip when
/// `flip`), and its loss is the mean over the views. A suspect trained with
/// crop + flip fitted those views, not only the image itself. R and W get
/// the same views, so the test stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tta {
    /// Largest shift, in pixels.
    pub pad: usize,
    /// Also the mirrored image.
    pub flip: bool,
}

impl Tta {
    /// The views as (dy, dx, mirrored), the identity first.
    pub fn views(&self) -> Vec<(i64, i64, bool)> {
        let p = self.pad as i64;
        let mut v = vec![(0, 0, false)];
        for flip in [false, true].into_iter().filter(|&f| !f || self.flip) {
            for dy in -p..=p {
                for dx in -p..=p {
                    if (dy, dx, flip) != (0, 0, false) {
                        v.push((dy, dx, flip));
                    }
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_list_every_shift_and_mirror() {
        assert_eq!(Tta { pad: 1, flip: true }.views().len(), 18);
        assert_eq!(Tta { pad: 0, flip: true }.views(), vec![(0, 0, false), (0, 0, true)]);
        assert_eq!(Tta { pad: 2, flip: false }.views()[0], (0, 0, false));
    }
}
