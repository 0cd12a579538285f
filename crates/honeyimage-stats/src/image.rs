//! Image-similarity metrics (SSIM, PSNR, L∞) on interleaved `u8` images, used
//! to check that honey perturbations stay imperceptible relative to the
//! original samples.
//!
//! SSIM follows Wang et al. (2004): an 11x11 Gaussian window with σ = 1.5,
//! K1 = 0.01, K2 = 0.03, L = 255, evaluated per channel on the *valid*
//! region (no padding: an HxW image yields (H-10)x(W-10) window positions,
//! e.g. 18x18 for 28x28 MNIST), averaged over positions and channels. If a
//! side is shorter than 11 px the window shrinks to that side (still a σ = 1.5
//! Gaussian, centred and renormalised), giving a single position along it.

use crate::{Error, Result};

/// Normalised 1-D Gaussian window of `n` taps, σ = 1.5, centred.
fn gaussian(n: usize) -> Vec<f64> {
    let c = (n as f64 - 1.0) / 2.0;
    let w: Vec<f64> = (0..n)
        .map(|i| (-(i as f64 - c).powi(2) / (2.0 * 1.5 * 1.5)).exp())
        .collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

/// Separable valid-region filtering of an `h x w` plane.
fn filter_valid(plane: &[f64], h: usize, w: usize, gh: &[f64], gw: &[f64]) -> Vec<f64> {
    let (oh, ow) = (h - gh.len() + 1, w - gw.len() + 1);
    let mut tmp = vec![0.0; h * ow];
    for y in 0..h {
        for x in 0..ow {
            tmp[y * ow + x] = gw
                .iter()
                .enumerate()
                .map(|(k, g)| g * plane[y * w + x + k])
                .sum();
        }
    }
    let mut out = vec![0.0; oh * ow];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = gh
                .iter()
                .enumerate()
                .map(|(k, g)| g * tmp[(y + k) * ow + x])
                .sum();
        }
    }
    out
}

fn check_pair(a: &[u8], b: &[u8]) -> Result<()> {
    if a.len() != b.len() {
        return Err(Error::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    if a.is_empty() {
        return Err(Error::TooFew {
            what: "image",
            need: 1,
            got: 0,
        });
    }
    Ok(())
}

/// Mean SSIM of two `height x width x channels` interleaved images (see the
/// module docs for the exact definition). Identical images give exactly 1.0.
pub fn ssim(a: &[u8], b: &[u8], height: usize, width: usize, channels: usize) -> Result<f64> {
    if height == 0 || width == 0 || channels == 0 {
        return Err(Error::InvalidArgument(format!(
            "image dimensions must be positive, got {height}x{width}x{channels}"
        )));
    }
    let expected = height
        .checked_mul(width)
        .and_then(|v| v.checked_mul(channels))
        .ok_or_else(|| Error::InvalidArgument("image dimensions overflow".into()))?;
    for img in [a, b] {
        if img.len() != expected {
            return Err(Error::LengthMismatch {
                left: img.len(),
                right: expected,
            });
        }
    }
    let (gh, gw) = (gaussian(height.min(11)), gaussian(width.min(11)));
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let mut total = 0.0;
    let mut count = 0usize;
    for ch in 0..channels {
        let plane = |img: &[u8]| -> Vec<f64> {
            img.iter()
                .skip(ch)
                .step_by(channels)
                .map(|&v| f64::from(v))
                .collect()
        };
        let (pa, pb) = (plane(a), plane(b));
        let prod =
            |p: &[f64], q: &[f64]| -> Vec<f64> { p.iter().zip(q).map(|(u, v)| u * v).collect() };
        let f = |p: &[f64]| filter_valid(p, height, width, &gh, &gw);
        let (mu_a, mu_b) = (f(&pa), f(&pb));
        let (e_aa, e_bb, e_ab) = (f(&prod(&pa, &pa)), f(&prod(&pb, &pb)), f(&prod(&pa, &pb)));
        for i in 0..mu_a.len() {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let (saa, sbb, sab) = (e_aa[i] - ma * ma, e_bb[i] - mb * mb, e_ab[i] - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * sab + c2))
                / ((ma * ma + mb * mb + c1) * (saa + sbb + c2));
            count += 1;
        }
    }
    Ok(total / count as f64)
}

/// Peak signal-to-noise ratio in dB, `10 log10(255² / MSE)` over all bytes;
/// `f64::INFINITY` when the images are identical (MSE = 0).
pub fn psnr(a: &[u8], b: &[u8]) -> Result<f64> {
    check_pair(a, b)?;
    let sse: f64 = a
        .iter()
        .zip(b)
        .map(|(&u, &v)| (f64::from(u) - f64::from(v)).powi(2))
        .sum();
    let mse = sse / a.len() as f64;
    Ok(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    })
}

/// Largest absolute per-byte difference (L∞ distance).
pub fn linf(a: &[u8], b: &[u8]) -> Result<u8> {
    check_pair(a, b)?;
    Ok(a.iter()
        .zip(b)
        .map(|(&u, &v)| u.abs_diff(v))
        .max()
        .unwrap_or(0))
}

#[cfg(test)]
mod unit {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn pattern(h: usize, w: usize, c: usize) -> Vec<u8> {
        (0..h * w * c)
            .map(|i| ((i * 37 + (i / 5) * 11) % 200 + 28) as u8)
            .collect()
    }

    #[test]
    fn ssim_identical_is_exactly_one() {
        let a = pattern(28, 28, 3);
        assert_eq!(ssim(&a, &a, 28, 28, 3).unwrap(), 1.0);
        let small = pattern(5, 7, 1); // window shrinks to 5x7
        assert_eq!(ssim(&small, &small, 5, 7, 1).unwrap(), 1.0);
    }

    #[test]
    fn ssim_constant_shift_matches_luminance_term() {
        // Constant images: σ terms are 0 so the contrast-structure term is
        // C2/C2 = 1 and SSIM = (2·100·120 + C1) / (100² + 120² + C1), C1 = 2.55².
        let (a, b) = (vec![100u8; 28 * 28], vec![120u8; 28 * 28]);
        let c1 = 2.55f64 * 2.55;
        let expected = (2.0 * 100.0 * 120.0 + c1) / (100.0f64.powi(2) + 120.0f64.powi(2) + c1);
        let s = ssim(&a, &b, 28, 28, 1).unwrap();
        assert!((s - expected).abs() < 1e-9, "{s} vs {expected}");
        assert!((expected - 0.983_611_313).abs() < 1e-6);
    }

    #[test]
    fn ssim_decreases_with_noise() {
        let (h, w, c) = (32, 32, 3);
        let base = pattern(h, w, c);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let unit_noise: Vec<f64> = (0..base.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut last = 1.0;
        for amp in [4.0, 16.0, 48.0] {
            let noisy: Vec<u8> = base
                .iter()
                .zip(&unit_noise)
                .map(|(&v, n)| (f64::from(v) + amp * n).round().clamp(0.0, 255.0) as u8)
                .collect();
            let s = ssim(&base, &noisy, h, w, c).unwrap();
            assert!(s < last && s > 0.0, "amp {amp}: {s} !< {last}");
            last = s;
        }
    }

    #[test]
    fn ssim_rejects_bad_shapes() {
        let a = pattern(4, 4, 1);
        assert!(matches!(
            ssim(&a, &a, 0, 4, 1),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            ssim(&a, &a, 4, 5, 1),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(ssim(&a, &a[..15], 4, 4, 1).is_err());
        assert!(ssim(&a, &a, usize::MAX, 2, 1).is_err());
    }

    #[test]
    fn psnr_and_linf() {
        let a = pattern(10, 10, 3);
        let b: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 2 == 0 { v + 1 } else { v - 1 })
            .collect();
        // MSE = 1 -> 20 log10(255) = 48.1308 dB.
        let p = psnr(&a, &b).unwrap();
        assert!((p - 20.0 * 255f64.log10()).abs() < 1e-12 && (p - 48.1308).abs() < 1e-4);
        assert_eq!(psnr(&a, &a).unwrap(), f64::INFINITY);
        assert_eq!(linf(&a, &b).unwrap(), 1);
        assert_eq!(linf(&[0, 200], &[255, 190]).unwrap(), 255);
        assert!(psnr(&[], &[]).is_err() && linf(&[1], &[1, 2]).is_err());
    }
}
