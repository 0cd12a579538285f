//! What protect reports: class balance of R and W, how close the
//! HoneyImages are to their originals (L-inf, PSNR, SSIM), how good the
//! proxies were, and the in-vs-out loss gap before and after optimisation.
use serde::{Deserialize, Serialize};

use honeyimage_data::Dataset;

use super::candidates::Candidates;
use super::hardness::Hardness;
use super::optimise::Optimised;

/// Timing and memory of one stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageStat {
    /// Stage name.
    pub name: String,
    /// Seconds (0 when cached).
    pub seconds: f64,
    /// Peak resident memory so far, MiB.
    pub peak_mib: f64,
    /// Whether it came from the work directory.
    pub cached: bool,
}

/// What `protect` reports at the end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProtectSummary {
    /// N.
    pub count: usize,
    /// Class counts of R.
    pub released_class_counts: Vec<usize>,
    /// Class counts of W.
    pub withheld_class_counts: Vec<usize>,
    /// Largest pixel change, 8-bit units.
    pub linf_max: u8,
    /// Mean PSNR (dB) over candidates with a change.
    pub psnr_mean: f64,
    /// Mean SSIM over all candidates.
    pub ssim_mean: f64,
    /// Minimum SSIM.
    pub ssim_min: f64,
    /// Test accuracy of each proxy (on the held-out fold).
    pub proxy_fold_accuracy: Vec<f64>,
    /// Mean in-vs-out loss gap on the hard candidates, fine-tuned without perturbation.
    pub gap_before: f64,
    /// The same after the bi-level optimisation (quantised HoneyImages).
    pub gap_after: f64,
    /// Random (not hard) samples, unperturbed.
    pub random_gap_before: Option<f64>,
    /// Random samples, same optimisation.
    pub random_gap_after: Option<f64>,
    /// Per-stage time and memory.
    pub stages: Vec<StageStat>,
}

/// Per-class counts of `idx`.
fn class_counts(ds: &Dataset, idx: &[usize]) -> Vec<usize> {
    let mut c = vec![0; ds.num_classes()];
    idx.iter().for_each(|&i| c[ds.labels[i] as usize] += 1);
    c
}

/// The summary of a finished protection (without stage timings).
pub fn summarise(ds: &Dataset, cands: &Candidates, hardness: &Hardness, opt: &Optimised) -> ProtectSummary {
    let h = &opt.honey;
    let pairs = h.indices.iter().zip(&h.images).map(|(&i, img)| (ds.image(i), &img[..]));
    let sim = similarity(pairs, ds.height, ds.width, ds.channels);
    ProtectSummary {
        count: cands.released.len(),
        released_class_counts: class_counts(ds, &cands.released),
        withheld_class_counts: class_counts(ds, &cands.withheld),
        linf_max: sim.linf_max,
        psnr_mean: sim.psnr_mean,
        ssim_mean: sim.ssim_mean,
        ssim_min: sim.ssim_min,
        proxy_fold_accuracy: hardness.proxy_fold_accuracy.clone(),
        gap_before: opt.unperturbed.mean_gap(),
        gap_after: h.mean_gap(),
        random_gap_before: opt.random.as_ref().map(|r| r.1.mean_gap()),
        random_gap_after: opt.random.as_ref().map(|r| r.0.mean_gap()),
        stages: Vec::new(),
    }
}

/// How close HoneyImages are to their originals.
#[derive(Debug, Clone, Copy)]
pub struct Similarity {
    /// Largest pixel change, 8-bit units.
    pub linf_max: u8,
    /// Mean PSNR (dB) over pairs that differ (infinite when none do).
    pub psnr_mean: f64,
    /// Mean SSIM.
    pub ssim_mean: f64,
    /// Minimum SSIM.
    pub ssim_min: f64,
}

/// L-inf, PSNR and SSIM over (original, HoneyImage) pairs of HWC u8 images.
pub fn similarity<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>, h: usize, w: usize, c: usize) -> Similarity {
    let (mut linf, mut psnr, mut npsnr, mut ssim_sum, mut ssim_min, mut n) = (0u8, 0.0, 0usize, 0.0, f64::INFINITY, 0usize);
    for (a, b) in pairs {
        linf = linf.max(honeyimage_stats::linf(a, b).unwrap_or(0));
        if let Ok(p) = honeyimage_stats::psnr(a, b) {
            if p.is_finite() {
                psnr += p;
                npsnr += 1;
            }
        }
        let s = honeyimage_stats::ssim(a, b, h, w, c).unwrap_or(f64::NAN);
        ssim_sum += s;
        ssim_min = ssim_min.min(s);
        n += 1;
    }
    Similarity {
        linf_max: linf,
        psnr_mean: if npsnr > 0 { psnr / npsnr as f64 } else { f64::INFINITY },
        ssim_mean: ssim_sum / n.max(1) as f64,
        ssim_min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_of_identical_and_changed_pairs() {
        let a = vec![100u8; 64];
        let mut b = a.clone();
        b[5] = 104;
        let s = similarity([(&a[..], &a[..]), (&a[..], &b[..])].into_iter(), 8, 8, 1);
        assert_eq!(s.linf_max, 4);
        assert!(s.psnr_mean.is_finite() && s.psnr_mean > 40.0);
        assert!(s.ssim_min < 1.0 && s.ssim_mean > s.ssim_min);
    }
}
