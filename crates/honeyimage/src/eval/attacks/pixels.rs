//! Pixel-level attacks on training images and queries: JPEG re-encoding,
//! bit-depth reduction, Gaussian blur, median filtering and grayscale. The
//! "shortcut squeezing" of Liu et al. (ICML 2023) removes many small L-inf
//! perturbations this way; DATABench (2025) adds the filters. Each works on
//! one u8 HWC image, so the same code transforms a release and a query.
use honeyimage_data::Dataset;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, GrayImage, ImageFormat, RgbImage};

use crate::config::Attack;
use crate::{Error, Result};

/// Whether `attack` is a per-image pixel transform.
pub fn is_pixel_attack(attack: &Attack) -> bool {
    matches!(attack, Attack::Jpeg { .. } | Attack::BitDepth { .. } | Attack::Blur { .. } | Attack::Median { .. } | Attack::Grayscale | Attack::QueryJpeg { .. })
}

/// One image `h`x`w`x`c` (c = 1 or 3) through a pixel attack.
pub fn transform_image(attack: &Attack, px: &[u8], h: usize, w: usize, c: usize) -> Result<Vec<u8>> {
    if c != 1 && c != 3 {
        return Err(Error::invalid("image channels", format!("{c} (pixel attacks take gray or RGB images)")));
    }
    match attack {
        Attack::Jpeg { quality } | Attack::QueryJpeg { quality } => jpeg(px, h, w, c, *quality),
        Attack::BitDepth { bits } => Ok(bit_depth(px, *bits)),
        Attack::Blur { sigma } => {
            let s = *sigma as f32;
            Ok(filtered(px, h, w, c, |g| imageproc::filter::gaussian_blur_f32(g, s), |g| imageproc::filter::gaussian_blur_f32(g, s)))
        }
        Attack::Median { radius } => Ok(filtered(px, h, w, c, |g| imageproc::filter::median_filter(g, *radius, *radius), |g| imageproc::filter::median_filter(g, *radius, *radius))),
        Attack::Grayscale if c == 3 => Ok(grayscale(px)),
        Attack::Grayscale => Err(Error::invalid("attack", "grayscale needs colour images; this dataset is gray")),
        other => Err(Error::invalid("attack", format!("{} is not a pixel attack", other.label()))),
    }
}

/// Every image of `ds` through `attack` (labels and ids kept).
pub fn transform_dataset(attack: &Attack, ds: &Dataset) -> Result<Dataset> {
    let (h, w, c) = (ds.height, ds.width, ds.channels);
    let mut images = Vec::with_capacity(ds.images.len());
    for i in 0..ds.len() {
        images.extend(transform_image(attack, ds.image(i), h, w, c)?);
    }
    Ok(Dataset { images, ..ds.clone() })
}

/// JPEG encode and decode at `quality`.
fn jpeg(px: &[u8], h: usize, w: usize, c: usize, quality: u8) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let colour = if c == 1 { ExtendedColorType::L8 } else { ExtendedColorType::Rgb8 };
    let fail = |e: image::ImageError| Error::invalid("JPEG attack", e.to_string());
    JpegEncoder::new_with_quality(&mut buf, quality).encode(px, w as u32, h as u32, colour).map_err(fail)?;
    let img = image::load_from_memory_with_format(&buf, ImageFormat::Jpeg).map_err(fail)?;
    Ok(if c == 1 { img.to_luma8().into_raw() } else { img.to_rgb8().into_raw() })
}

/// Keeps the top `bits` bits, rounding to the nearest representable level
/// (levels spread over 0..=255, as in feature squeezing).
fn bit_depth(px: &[u8], bits: u8) -> Vec<u8> {
    let levels = ((1u32 << bits) - 1) as f64;
    px.iter().map(|&v| ((v as f64 / 255.0 * levels).round() / levels * 255.0).round() as u8).collect()
}

/// ITU-R BT.601 luma, replicated over the three channels.
fn grayscale(px: &[u8]) -> Vec<u8> {
    px.chunks_exact(3)
        .flat_map(|p| {
            let y = (0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64).round().clamp(0.0, 255.0) as u8;
            [y, y, y]
        })
        .collect()
}

/// Applies a gray or an RGB filter from imageproc.
fn filtered(px: &[u8], h: usize, w: usize, c: usize, gray: impl Fn(&GrayImage) -> GrayImage, rgb: impl Fn(&RgbImage) -> RgbImage) -> Vec<u8> {
    let (w, h) = (w as u32, h as u32);
    if c == 1 {
        let img = GrayImage::from_raw(w, h, px.to_vec()).expect("length checked by the caller");
        gray(&img).into_raw()
    } else {
        let img = RgbImage::from_raw(w, h, px.to_vec()).expect("length checked by the caller");
        rgb(&img).into_raw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize, c: usize) -> Vec<u8> {
        (0..h * w * c).map(|i| ((i * 37) % 256) as u8).collect()
    }

    #[test]
    fn bit_depth_keeps_only_its_levels() {
        let out = bit_depth(&(0..=255).collect::<Vec<u8>>(), 2);
        let mut levels = out.clone();
        levels.sort_unstable();
        levels.dedup();
        assert_eq!(levels, [0, 85, 170, 255]);
        assert_eq!(out[0], 0);
        assert_eq!(out[255], 255);
        assert_eq!(out[42], 0);
        assert_eq!(out[43], 85);
    }

    #[test]
    fn median_removes_an_isolated_spike_and_blur_spreads_it() {
        let mut px = vec![100u8; 7 * 7];
        px[3 * 7 + 3] = 255;
        let med = transform_image(&Attack::Median { radius: 1 }, &px, 7, 7, 1).unwrap();
        assert!(med.iter().all(|&v| v == 100));
        let blur = transform_image(&Attack::Blur { sigma: 1.0 }, &px, 7, 7, 1).unwrap();
        assert!(blur[3 * 7 + 3] < 200 && blur[3 * 7 + 4] > 100, "{:?}", &blur[21..28]);
    }

    #[test]
    fn jpeg_changes_pixels_a_little_and_keeps_shape() {
        for c in [1, 3] {
            let px = ramp(28, 28, c);
            let out = transform_image(&Attack::Jpeg { quality: 75 }, &px, 28, 28, c).unwrap();
            assert_eq!(out.len(), px.len());
            assert_ne!(out, px);
            let hi = transform_image(&Attack::Jpeg { quality: 100 }, &px, 28, 28, c).unwrap();
            let err = |o: &[u8]| o.iter().zip(&px).map(|(a, b)| (*a as f64 - *b as f64).abs()).sum::<f64>();
            assert!(err(&hi) < err(&out), "quality 100 should be closer than 75");
        }
    }

    #[test]
    fn grayscale_needs_colour_and_equalises_channels() {
        assert!(transform_image(&Attack::Grayscale, &[1, 2, 3], 1, 3, 1).is_err());
        let out = transform_image(&Attack::Grayscale, &[255, 0, 0, 0, 0, 255], 1, 2, 3).unwrap();
        assert_eq!(out, [76, 76, 76, 29, 29, 29]);
    }

    #[test]
    fn non_pixel_attacks_are_refused_by_name() {
        let e = transform_image(&Attack::LabelsOnly, &[0], 1, 1, 1).unwrap_err().to_string();
        assert!(e.contains("labels-only"), "{e}");
    }
}
