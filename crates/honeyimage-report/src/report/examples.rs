//! "What the HoneyImages look like": for each example, the original, the
//! released HoneyImage and their difference as an amplified heat map, as PNG
//! `data:` URIs so that the page needs no image files beside it.

use base64::Engine as _;
use maud::{html, Markup};

use crate::results::{EvalResults, Example};

use super::format::DASH;
use super::plots::hex_rgb;

/// The difference is amplified this many times before colouring.
const GAIN: u32 = 32;

/// The section.
pub(super) fn section(r: &EvalResults) -> Markup {
    let stops: Vec<String> = (0..=8)
        .map(|k| hex_rgb(heat((k * 255 / 8) as u8)))
        .collect();
    let gradient = format!("background:linear-gradient(to right,{})", stops.join(","));
    html! {
        section {
            h2 { "What the HoneyImages look like" }
            p.note {
                "Original, released HoneyImage, and the difference |HoneyImage − original| amplified "
                (GAIN) "× (largest change over the colour channels)."
            }
            // Colour bar of the difference heat map, from the same colour map.
            p.legend {
                span { "difference" } " "
                span.colorbar style=(gradient) {} " "
                span.muted { "0 (unchanged) → 4 → ≥ 8 grey levels" }
            }
            div #examples {
                @if r.examples.is_empty() {
                    p.note { "No examples were recorded in this run." }
                }
                @for ex in &r.examples { (example(ex)) }
            }
        }
    }
}

fn example(ex: &Example) -> Markup {
    html! {
        figure.example {
            figcaption { (ex.class_name) }
            div.triple {
                div { (image(png_data_uri(ex, &ex.original), "original")) span { "original" } }
                div { (image(png_data_uri(ex, &ex.honey), "HoneyImage")) span { "HoneyImage" } }
                div { (image(diff_data_uri(ex), "difference")) span { "|Δ| × " (GAIN) } }
            }
        }
    }
}

/// The image, or a dash where its pixels do not fit its geometry.
fn image(uri: Option<String>, alt: &str) -> Markup {
    html! {
        @match uri {
            Some(uri) => img src=(uri) alt=(alt);,
            None => div.missing title=(alt) { (DASH) },
        }
    }
}

/// Checks an example's geometry against a pixel buffer.
fn valid_pixels(ex: &Example, pixels: &[u8]) -> bool {
    ex.width > 0
        && ex.height > 0
        && ex.width <= 4096
        && ex.height <= 4096
        && (1..=4).contains(&ex.channels)
        && ex
            .width
            .checked_mul(ex.height)
            .and_then(|n| n.checked_mul(ex.channels))
            == Some(pixels.len())
}

fn png_data_uri(ex: &Example, pixels: &[u8]) -> Option<String> {
    png_uri(pixels, ex.width, ex.height, ex.channels)
}

/// A PNG `data:` URI of an HWC u8 image with 1 to 4 channels (None when the
/// pixels do not fit the geometry).
pub(super) fn png_uri(pixels: &[u8], width: usize, height: usize, channels: usize) -> Option<String> {
    let fits = (1..=4096).contains(&width)
        && (1..=4096).contains(&height)
        && (1..=4).contains(&channels)
        && width.checked_mul(height).and_then(|n| n.checked_mul(channels)) == Some(pixels.len());
    if !fits {
        return None;
    }
    let color = [image::ExtendedColorType::L8, image::ExtendedColorType::La8, image::ExtendedColorType::Rgb8, image::ExtendedColorType::Rgba8][channels - 1];
    encode_png(pixels, width as u32, height as u32, color)
}

fn encode_png(pixels: &[u8], w: u32, h: u32, color: image::ExtendedColorType) -> Option<String> {
    use image::ImageEncoder as _;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(pixels, w, h, color)
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    ))
}

/// The amplified difference as an "inferno"-like heat map (RGB PNG); alpha
/// channels are ignored.
fn diff_data_uri(ex: &Example) -> Option<String> {
    if !valid_pixels(ex, &ex.original) || !valid_pixels(ex, &ex.honey) {
        return None;
    }
    let c = ex.channels;
    let colour_channels = if c == 2 || c == 4 { c - 1 } else { c };
    let mut rgb = Vec::with_capacity(ex.width * ex.height * 3);
    for (o, hp) in ex.original.chunks_exact(c).zip(ex.honey.chunks_exact(c)) {
        let d = o[..colour_channels]
            .iter()
            .zip(&hp[..colour_channels])
            .map(|(a, b)| a.abs_diff(*b) as u32)
            .max();
        rgb.extend_from_slice(&heat((d.unwrap_or(0) * GAIN).min(255) as u8));
    }
    encode_png(
        &rgb,
        ex.width as u32,
        ex.height as u32,
        image::ExtendedColorType::Rgb8,
    )
}

/// An "inferno"-like colour map: black, purple, red, orange, pale yellow.
fn heat(v: u8) -> [u8; 3] {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (0.0, [0.0, 0.0, 4.0]),
        (0.25, [87.0, 16.0, 110.0]),
        (0.5, [188.0, 55.0, 84.0]),
        (0.75, [249.0, 142.0, 9.0]),
        (1.0, [252.0, 255.0, 164.0]),
    ];
    let t = v as f64 / 255.0;
    let i = STOPS
        .iter()
        .rposition(|(s, _)| *s <= t)
        .unwrap_or(0)
        .min(STOPS.len() - 2);
    let (t0, c0) = STOPS[i];
    let (t1, c1) = STOPS[i + 1];
    let f = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
    let mix = |k: usize| (c0[k] + (c1[k] - c0[k]) * f).round() as u8;
    [mix(0), mix(1), mix(2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(channels: usize, original: Vec<u8>, honey: Vec<u8>) -> Example {
        Example {
            class_name: "c".into(),
            height: 1,
            width: 2,
            channels,
            original,
            honey,
        }
    }

    #[test]
    fn heat_map_ends() {
        assert_eq!(heat(0), [0, 0, 4]);
        assert_eq!(heat(255), [252, 255, 164]);
    }

    #[test]
    fn images_need_matching_geometry() {
        assert!(png_data_uri(&ex(1, vec![1, 2], vec![1, 2]), &[1, 2])
            .unwrap()
            .starts_with("data:image/png;base64,"));
        assert!(png_data_uri(&ex(1, vec![1], vec![1]), &[1]).is_none());
        assert!(png_data_uri(&ex(5, vec![0; 10], vec![0; 10]), &[0; 10]).is_none());
        assert!(diff_data_uri(&ex(1, vec![1, 2], vec![1])).is_none());
    }

    #[test]
    fn difference_ignores_alpha() {
        // Two LA pixels: grey unchanged, alpha changed a lot -> an all-black heat map,
        // the same as two unchanged pixels.
        let alpha_only = diff_data_uri(&ex(2, vec![10, 0, 10, 0], vec![10, 255, 10, 255]));
        let unchanged = diff_data_uri(&ex(2, vec![10, 0, 10, 0], vec![10, 0, 10, 0]));
        assert_eq!(alpha_only, unchanged);
        assert_ne!(
            diff_data_uri(&ex(2, vec![10, 0, 10, 0], vec![14, 0, 10, 0])),
            unchanged
        );
    }
}
