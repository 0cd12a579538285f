//! The image arithmetic of trace: bringing a found image and a key's
//! original onto one pixel grid, comparing them, and scoring how much of
//! the key's perturbation the found image carries.
//!
//! Images here are `f32` in 8-bit units (0..255), HWC, at the key's height
//! and width. Geometry follows the image crate's resampling convention
//! (pixel centres at `i + 0.5`), so a crop that a leaker resized back to
//! the original size is undone by [`warp`] with the same box.

/// A crop box in the key image's pixels: rows `top..height-bottom`,
/// columns `left..width-right`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct CropBox {
    /// Rows removed at the top.
    pub top: usize,
    /// Columns removed at the left.
    pub left: usize,
    /// Rows removed at the bottom.
    pub bottom: usize,
    /// Columns removed at the right.
    pub right: usize,
}

impl CropBox {
    /// Every box removing at most `max` pixels on each side (the identity first).
    pub fn all(max: usize) -> Vec<CropBox> {
        let r = 0..=max;
        let mut v: Vec<CropBox> = r
            .clone()
            .flat_map(|t| r.clone().flat_map(move |l| (0..=max).flat_map(move |b| (0..=max).map(move |rt| CropBox { top: t, left: l, bottom: b, right: rt }))))
            .collect();
        v.sort_by_key(|b| b.top + b.left + b.bottom + b.right);
        v
    }
}

/// Resamples the `bx` region of `img` (h x w x c) to h x w, bilinearly.
pub fn warp(img: &[f32], h: usize, w: usize, c: usize, bx: CropBox) -> Vec<f32> {
    if bx == CropBox::default() {
        return img.to_vec();
    }
    let (bh, bw) = ((h - bx.top - bx.bottom) as f32, (w - bx.left - bx.right) as f32);
    let (sy, sx) = (bh / h as f32, bw / w as f32);
    let coord = |d: usize, scale: f32, off: usize, len: usize| {
        let s = ((d as f32 + 0.5) * scale - 0.5).max(0.0) + off as f32;
        let s = s.min((len - 1) as f32);
        let i0 = s.floor() as usize;
        (i0, (i0 + 1).min(len - 1), s - i0 as f32)
    };
    let mut out = vec![0f32; h * w * c];
    for y in 0..h {
        let (y0, y1, fy) = coord(y, sy, bx.top, h - bx.bottom);
        for x in 0..w {
            let (x0, x1, fx) = coord(x, sx, bx.left, w - bx.right);
            for k in 0..c {
                let p = |yy: usize, xx: usize| img[(yy * w + xx) * c + k];
                let top = p(y0, x0) * (1.0 - fx) + p(y0, x1) * fx;
                let bot = p(y1, x0) * (1.0 - fx) + p(y1, x1) * fx;
                out[(y * w + x) * c + k] = top * (1.0 - fy) + bot * fy;
            }
        }
    }
    out
}

/// Luma (ITU-R BT.601) of an HWC image with `c` channels (1: itself).
pub fn luma(img: &[f32], c: usize) -> Vec<f32> {
    if c == 1 {
        return img.to_vec();
    }
    img.chunks_exact(c).map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]).collect()
}

/// Side of the [`descriptor`] grid.
pub const GRID: usize = 8;

/// A coarse, contrast-normalised thumbnail for finding candidate matches:
/// the luma image averaged over a GRID x GRID grid of cells, minus its
/// mean, scaled to unit length (all zeros for a flat image). Survives
/// re-encoding, resizing and small crops.
pub fn descriptor(lum: &[f32], h: usize, w: usize) -> Vec<f32> {
    let (gh, gw) = (GRID.min(h), GRID.min(w));
    let mut sum = vec![0f32; gh * gw];
    let mut n = vec![0f32; gh * gw];
    for y in 0..h {
        let cy = y * gh / h;
        for x in 0..w {
            let cell = cy * gw + x * gw / w;
            sum[cell] += lum[y * w + x];
            n[cell] += 1.0;
        }
    }
    let mut d: Vec<f32> = sum.iter().zip(&n).map(|(s, k)| s / k.max(1.0)).collect();
    d.resize(GRID * GRID, 0.0);
    normalise(&mut d);
    d
}

/// Centres `v` and scales it to unit length (leaves a constant vector at 0).
fn normalise(v: &mut [f32]) {
    let mean = v.iter().sum::<f32>() / v.len().max(1) as f32;
    v.iter_mut().for_each(|x| *x -= mean);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-6 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        v.iter_mut().for_each(|x| *x = 0.0);
    }
}

/// Pearson correlation of two equally long vectors (0 when either is constant).
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&x| x as f64).sum::<f64>() / n, b.iter().map(|&x| x as f64).sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa < 1e-12 || sbb < 1e-12 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// The blurs tried by [`mark`]: Gaussian standard deviations in pixels.
pub const BLURS: [f64; 10] = [0.0, 0.3, 0.45, 0.6, 0.75, 0.9, 1.1, 1.4, 1.8, 2.4];

/// `img` (HWC) blurred by a Gaussian of standard deviation `sigma` pixels
/// (separable, edges repeated; 0 leaves it unchanged), in f64.
pub fn gaussian_blur(img: &[f32], (h, w, c): (usize, usize, usize), sigma: f64) -> Vec<f64> {
    let src: Vec<f64> = img.iter().map(|&x| x as f64).collect();
    if sigma <= 0.0 {
        return src;
    }
    let r = (3.0 * sigma).ceil() as isize;
    let mut k: Vec<f64> = (-r..=r).map(|d| (-(d * d) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= total);
    let pass = |src: &[f64], along_rows: bool| -> Vec<f64> {
        let mut out = vec![0.0; src.len()];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    let mut s = 0.0;
                    for (d, kv) in (-r..=r).zip(&k) {
                        let (yy, xx) = if along_rows { (y as isize, x as isize + d) } else { (y as isize + d, x as isize) };
                        let (yy, xx) = (yy.clamp(0, h as isize - 1) as usize, xx.clamp(0, w as isize - 1) as usize);
                        s += kv * src[(yy * w + xx) * c + ch];
                    }
                    out[(y * w + x) * c + ch] = s;
                }
            }
        }
        out
    };
    pass(&pass(&src, true), false)
}

/// Channel `k` of `v` minus its least-squares fit on `a * base + b`.
fn residual(v: &[f64], base: &[f64], c: usize, k: usize) -> Vec<f64> {
    let vs: Vec<f64> = v.iter().skip(k).step_by(c).copied().collect();
    let bs: Vec<f64> = base.iter().skip(k).step_by(c).copied().collect();
    let n = vs.len() as f64;
    let (mv, mb) = (vs.iter().sum::<f64>() / n, bs.iter().sum::<f64>() / n);
    let (mut sbv, mut sbb) = (0.0, 0.0);
    for (&b, &y) in bs.iter().zip(&vs) {
        sbv += (b - mb) * (y - mv);
        sbb += (b - mb) * (b - mb);
    }
    let slope = if sbb > 1e-12 { sbv / sbb } else { 0.0 };
    vs.iter().zip(&bs).map(|(&y, &b)| (y - mv) - slope * (b - mb)).collect()
}

/// Energy below which a residual counts as zero (in squared 8-bit units
/// per pixel): rounding alone leaves more.
const FLAT: f64 = 1e-6;

/// What the found image says about the key's perturbation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Partial correlation in [-1, 1] (see [`mark`]).
    pub score: f64,
    /// The blur that best explains the found image (pixels).
    pub sigma: f64,
    /// Correlation of the found image with the fitted, blurred original
    /// (pooled over channels): how well the original explains it.
    pub similarity: f64,
    /// The found image minus the fitted, blurred original (HWC).
    pub residual: Vec<f64>,
    /// The perturbation through the same blur, minus what the blurred
    /// original explains (HWC): what the residual should look like.
    pub template: Vec<f64>,
}

/// How much of the perturbation `t` the found image `f` carries beyond the
/// original `o` (all HWC at `geo` = (height, width, channels), aligned).
///
/// Resampling round trips, re-encoding and filtering blur an image: the
/// Gaussian blur among `blurs` whose blurred original, fitted per channel
/// with a gain and an offset (brightness and contrast), best explains `f`
/// is chosen from `f` and `o` alone (its correlation with `f` is the
/// mark's `similarity`); the score is then the partial
/// correlation of `f` and the blurred `t` given the blurred `o` (and a
/// constant), pooled over channels. It is about 1 for the HoneyImage
/// itself, about 0 for the original re-encoded, and exactly 0 when `f` is
/// an affine copy of a blurred `o` or `t` is zero.
pub fn mark(f: &[f32], o: &[f32], t: &[f32], geo: (usize, usize, usize), blurs: &[f64]) -> Mark {
    let c = geo.2;
    let fd: Vec<f64> = f.iter().map(|&x| x as f64).collect();
    let fit = |sigma: f64| {
        let bo = gaussian_blur(o, geo, sigma);
        let rf: Vec<Vec<f64>> = (0..c).map(|k| residual(&fd, &bo, c, k)).collect();
        let energy: f64 = rf.iter().flatten().map(|x| x * x).sum();
        (energy, sigma, bo, rf)
    };
    let (energy, sigma, bo, rf) = blurs.iter().chain(std::iter::once(&0.0)).map(|&s| fit(s)).fold(None, |best: Option<(f64, f64, Vec<f64>, Vec<Vec<f64>>)>, x| match best {
        Some(b) if b.0 <= x.0 => Some(b),
        _ => Some(x),
    }).expect("at least one blur");
    let bt = gaussian_blur(t, geo, sigma);
    let rt: Vec<Vec<f64>> = (0..c).map(|k| residual(&bt, &bo, c, k)).collect();
    let (mut fr, mut ff, mut tt) = (0.0, 0.0, 0.0);
    let mut residual_img = vec![0.0; f.len()];
    let mut template = vec![0.0; f.len()];
    for k in 0..c {
        for (i, (a, b)) in rf[k].iter().zip(&rt[k]).enumerate() {
            fr += a * b;
            ff += a * a;
            tt += b * b;
            residual_img[i * c + k] = *a;
            template[i * c + k] = *b;
        }
    }
    let n = f.len().max(1) as f64;
    let score = if ff / n < FLAT || tt / n < FLAT { 0.0 } else { fr / (ff * tt).sqrt() };
    let total: f64 = (0..c).map(|k| residual(&fd, &vec![0.0; fd.len()], c, k).iter().map(|x| x * x).sum::<f64>()).sum();
    let similarity = if total > 0.0 { (1.0 - energy / total).max(0.0).sqrt() } else { 0.0 };
    Mark { score, sigma, similarity, residual: residual_img, template }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Vec<f32> {
        (0..h * w).map(|i| ((i / w) * 7 + (i % w) * 3) as f32 % 200.0 + 20.0).collect()
    }

    #[test]
    fn identity_box_is_a_copy_and_boxes_are_ordered() {
        let img = ramp(6, 5);
        assert_eq!(warp(&img, 6, 5, 1, CropBox::default()), img);
        let boxes = CropBox::all(2);
        assert_eq!(boxes.len(), 81);
        assert_eq!(boxes[0], CropBox::default());
    }

    #[test]
    fn warp_undoes_a_crop_resized_back_by_the_image_crate() {
        // A 1-pixel crop on every side, resized back to 28 x 28 with the
        // image crate, is what warp with that box computes.
        let (h, w) = (28usize, 28usize);
        let img: Vec<f32> = (0..h * w).map(|i| ((i / w) as f32 * 0.4).sin() * 60.0 + ((i % w) as f32 * 0.3).cos() * 50.0 + 128.0).collect();
        // The image crate clamps f32 pixels to [0, 1].
        let unit: Vec<f32> = img.iter().map(|x| x / 255.0).collect();
        let buf = image::ImageBuffer::<image::Luma<f32>, _>::from_raw(w as u32, h as u32, unit).unwrap();
        let crop = image::imageops::crop_imm(&buf, 1, 1, 26, 26).to_image();
        let back: Vec<f32> = image::imageops::resize(&crop, 28, 28, image::imageops::FilterType::Triangle).into_raw().iter().map(|x| x * 255.0).collect();
        let mine = warp(&img, h, w, 1, CropBox { top: 1, left: 1, bottom: 1, right: 1 });
        let err = back.iter().zip(&mine).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(err < 0.5, "max difference {err}");
    }

    #[test]
    fn descriptors_match_the_same_image_under_noise() {
        let a = ramp(28, 28);
        let noisy: Vec<f32> = a.iter().enumerate().map(|(i, x)| x + ((i * 37) % 9) as f32 - 4.0).collect();
        let other: Vec<f32> = a.iter().rev().copied().collect();
        let (da, dn, dother) = (descriptor(&a, 28, 28), descriptor(&noisy, 28, 28), descriptor(&other, 28, 28));
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!(dot(&da, &dn) > 0.99);
        assert!(dot(&da, &dother) < dot(&da, &dn));
        assert!(descriptor(&[5.0; 64], 8, 8).iter().all(|&x| x == 0.0));
    }

    /// A textured 28 x 28 original and a +-4 perturbation.
    fn pair() -> (Vec<f32>, Vec<f32>) {
        let o: Vec<f32> = (0..784).map(|i| ((i / 28) as f32 * 0.7).sin() * 60.0 + ((i % 28) as f32 * 0.45).cos() * 50.0 + 128.0).collect();
        let t: Vec<f32> = (0..784).map(|i| if (i * 7919 + i / 5) % 3 == 0 { 4.0 } else { -4.0 }).collect();
        (o, t)
    }

    /// The image crate's Gaussian blur (not ours), in 8-bit units.
    fn blur(img: &[f32], sigma: f32) -> Vec<f32> {
        let unit: Vec<f32> = img.iter().map(|x| x / 255.0).collect();
        let buf = image::ImageBuffer::<image::Luma<f32>, _>::from_raw(28, 28, unit).unwrap();
        image::imageops::blur(&buf, sigma).into_raw().iter().map(|x| x * 255.0).collect()
    }

    #[test]
    fn mark_separates_the_honeyimage_from_the_original() {
        let (o, t) = pair();
        let h: Vec<f32> = o.iter().zip(&t).map(|(a, b)| a + b).collect();
        let geo = (28, 28, 1);
        for blurs in [&[][..], &BLURS[..]] {
            assert!(mark(&h, &o, &t, geo, blurs).score > 0.95, "{blurs:?}");
            assert_eq!(mark(&o, &o, &t, geo, blurs).score, 0.0);
            assert_eq!(mark(&h, &o, &[0.0; 784], geo, blurs).score, 0.0);
            // Brightness and contrast changes do not matter.
            let dimmer: Vec<f32> = h.iter().map(|x| 0.8 * x + 10.0).collect();
            assert!(mark(&dimmer, &o, &t, geo, blurs).score > 0.95);
            let dim_orig: Vec<f32> = o.iter().map(|x| 0.8 * x + 10.0).collect();
            assert_eq!(mark(&dim_orig, &o, &t, geo, blurs).score, 0.0);
        }
        assert!(correlation(&o, &h) > 0.99);
    }

    #[test]
    fn the_blur_search_follows_a_blurred_copy() {
        let (o, t) = pair();
        let h: Vec<f32> = o.iter().zip(&t).map(|(a, b)| a + b).collect();
        let (bh, bo) = (blur(&h, 0.8), blur(&o, 0.8));
        let geo = (28, 28, 1);
        let unblurred = mark(&bh, &o, &t, geo, &[]);
        let plain = unblurred.score;
        let m = mark(&bh, &o, &t, geo, &BLURS);
        assert!(m.score > 0.8 && m.score > plain + 0.3, "blur search {} (sigma {}) vs affine {plain}", m.score, m.sigma);
        assert!(mark(&bo, &o, &t, geo, &BLURS).score.abs() < 0.2, "a blurred original carries no mark");
        assert!(m.similarity > 0.999 && m.similarity > unblurred.similarity, "the fitted blur explains the copy: {} vs {}", m.similarity, unblurred.similarity);
        assert!((unblurred.similarity - correlation(&bh, &o)).abs() < 1e-9, "without blur, similarity is the plain correlation");
    }
}
