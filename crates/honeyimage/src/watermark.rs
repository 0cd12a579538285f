//! The backdoor-watermark baseline the paper argues against (BadNets-style,
//! as in DVBW): stamp a small patch on a fraction of the release and relabel
//! those samples to a target class; a model trained on it raises the target
//! class's probability whenever the patch is present, which a paired t-test
//! on clean test images detects. It also teaches the model a wrong rule,
//! which is the harm the report shows.
use honeyimage_data::Dataset;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use crate::config::BadNets;
use crate::query::Oracle;
use crate::Result;
use honeyimage_stats::Alternative;

impl BadNets {
    /// Stamps the checkerboard patch onto one HWC image.
    pub fn stamp(&self, img: &mut [u8], h: usize, w: usize, c: usize) {
        let p = self.patch.min(h).min(w);
        for y in h - p..h {
            for x in w - p..w {
                let v = if (x + y) % 2 == 0 { 255 } else { 0 };
                for ch in 0..c {
                    img[(y * w + x) * c + ch] = v;
                }
            }
        }
    }

    /// Poisons a dataset: returns the indices changed and their new pixels
    /// (the caller relabels them to `target` when writing).
    pub fn poison(&self, ds: &Dataset) -> Vec<(usize, Vec<u8>)> {
        let mut idx: Vec<usize> = (0..ds.len()).filter(|&i| ds.labels[i] != self.target).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(self.seed));
        let n = ((self.rate * ds.len() as f64).round() as usize).min(idx.len());
        let mut out: Vec<(usize, Vec<u8>)> = idx[..n]
            .iter()
            .map(|&i| {
                let mut px = ds.image(i).to_vec();
                self.stamp(&mut px, ds.height, ds.width, ds.channels);
                (i, px)
            })
            .collect();
        out.sort_by_key(|(i, _)| *i);
        out
    }

    /// Verifies a suspect on test images not of the target class: paired
    /// one-sided t-test of p(target | x + patch) against p(target | x).
    /// Returns (p-value, mean lift).
    pub fn verify(&self, oracle: &mut dyn Oracle, test: &Dataset, max_images: usize) -> Result<(f64, f64)> {
        let idx: Vec<usize> = (0..test.len()).filter(|&i| test.labels[i] != self.target).take(max_images).collect();
        let (h, w, c) = (test.height, test.width, test.channels);
        let clean: Vec<u8> = idx.iter().flat_map(|&i| test.image(i).iter().copied()).collect();
        let mut patched = clean.clone();
        for img in patched.chunks_mut(h * w * c) {
            self.stamp(img, h, w, c);
        }
        let t = self.target as usize;
        let pc: Vec<f64> = oracle.predict(&clean, idx.len(), h, w, c)?.iter().map(|r| r[t]).collect();
        let pp: Vec<f64> = oracle.predict(&patched, idx.len(), h, w, c)?.iter().map(|r| r[t]).collect();
        let lift = pp.iter().zip(&pc).map(|(a, b)| a - b).sum::<f64>() / pc.len().max(1) as f64;
        let p = match honeyimage_stats::paired_t_test(&pp, &pc, Alternative::Greater) {
            Ok(r) => r.p_value,
            // All differences identical (e.g. zero): no evidence.
            Err(_) => 1.0,
        };
        Ok((p, lift))
    }
}
