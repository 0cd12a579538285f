//! Image-folder datasets (`root/<class>/<file>`, EuroSAT style) and the image
//! decoding/encoding shared with the CSV format. Pixels are kept exactly:
//! 8-bit gray stays 1 channel, RGB 3; an alpha channel is accepted only when
//! fully opaque and is dropped (and restored as opaque on write). Replaced
//! images are re-encoded in their original lossless format (PNG or TIFF);
//! replacing into a JPEG is refused with [`Error::LossyFormat`].

use crate::fsutil::{self, file_name, list_dir};
use crate::{Dataset, Edits, Error, Result, Split};
use image::{DynamicImage, ImageFormat};
use std::collections::{BTreeSet, HashSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

pub(crate) const IMAGE_EXTS: [&str; 5] = ["png", "jpg", "jpeg", "tif", "tiff"];

pub(crate) fn is_image_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTS.contains(&e.to_ascii_lowercase().as_str()))
}

fn hidden(p: &Path) -> bool {
    file_name(p).starts_with('.')
}

/// A decoded image: HWC pixels plus its shape.
pub(crate) struct Decoded {
    pub pixels: Vec<u8>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
}

fn opaque(px: &[u8], ch: usize) -> bool {
    px.chunks_exact(ch).all(|p| p[ch - 1] == 255)
}

fn strip_alpha(px: Vec<u8>, ch: usize) -> Vec<u8> {
    px.chunks_exact(ch).flat_map(|p| p[..ch - 1].to_vec()).collect()
}

fn decode_bytes(bytes: &[u8], path: &Path) -> Result<(DynamicImage, ImageFormat)> {
    let reader = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(|e| Error::io(path, e))?;
    let format = reader.format().ok_or_else(|| Error::image(path, "unrecognised image format"))?;
    let img = reader.decode().map_err(|e| Error::image(path, format!("cannot decode image: {e}")))?;
    Ok((img, format))
}

/// Decode an image file to 8-bit HWC pixels.
pub(crate) fn decode(path: &Path) -> Result<Decoded> {
    let (img, _) = decode_bytes(&fsutil::read(path)?, path)?;
    let (height, width) = (img.height() as usize, img.width() as usize);
    let (pixels, channels) = match img {
        DynamicImage::ImageLuma8(b) => (b.into_raw(), 1),
        DynamicImage::ImageRgb8(b) => (b.into_raw(), 3),
        DynamicImage::ImageLumaA8(b) if opaque(b.as_raw(), 2) => (strip_alpha(b.into_raw(), 2), 1),
        DynamicImage::ImageRgba8(b) if opaque(b.as_raw(), 4) => (strip_alpha(b.into_raw(), 4), 3),
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageRgba8(_) => {
            return Err(Error::image(path, "has transparent pixels; alpha channels are not supported"))
        }
        other => {
            return Err(Error::image(path, format!("unsupported pixel type {:?}; only 8-bit gray and RGB (opaque alpha allowed) are read", other.color())))
        }
    };
    Ok(Decoded { pixels, height, width, channels })
}

/// Encode `pixels` (HWC) in the same lossless format and colour type as the
/// image at `original`; JPEG originals are refused.
pub(crate) fn encode_like(original: &Path, pixels: &[u8], h: usize, w: usize, c: usize) -> Result<Vec<u8>> {
    let (orig, format) = decode_bytes(&fsutil::read(original)?, original)?;
    if format == ImageFormat::Jpeg {
        return Err(Error::LossyFormat { path: original.into() });
    }
    let alpha = orig.color().has_alpha();
    let px = if alpha {
        pixels.chunks_exact(c).flat_map(|p| p.iter().copied().chain([255])).collect()
    } else {
        pixels.to_vec()
    };
    let (w32, h32) = (w as u32, h as u32);
    let img = match (c, alpha) {
        (1, false) => image::GrayImage::from_raw(w32, h32, px).map(DynamicImage::from),
        (1, true) => image::GrayAlphaImage::from_raw(w32, h32, px).map(DynamicImage::from),
        (3, false) => image::RgbImage::from_raw(w32, h32, px).map(DynamicImage::from),
        (3, true) => image::RgbaImage::from_raw(w32, h32, px).map(DynamicImage::from),
        _ => None,
    };
    let img = img.ok_or_else(|| Error::image(original, format!("cannot build a {h}x{w}x{c} image")))?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).map_err(|e| Error::image(original, format!("cannot encode: {e}")))?;
    Ok(out.into_inner())
}

/// Decode `files` into one dataset body, checking they all share a shape.
pub(crate) fn decode_all(files: &[PathBuf], labels: Vec<u32>, ids: Vec<String>, class_names: Vec<String>) -> Result<Dataset> {
    let mut ds = Dataset { labels, ids, class_names, ..Default::default() };
    for (i, f) in files.iter().enumerate() {
        let d = decode(f)?;
        if i == 0 {
            (ds.height, ds.width, ds.channels) = (d.height, d.width, d.channels);
            ds.images.reserve(files.len() * d.pixels.len());
        } else if (d.height, d.width, d.channels) != (ds.height, ds.width, ds.channels) {
            return Err(Error::ShapeMismatch {
                path: f.clone(),
                expected: format!("{}x{}x{}", ds.height, ds.width, ds.channels),
                found: format!("{}x{}x{}", d.height, d.width, d.channels),
            });
        }
        ds.images.extend_from_slice(&d.pixels);
    }
    Ok(ds)
}

/// An image-folder dataset: `root/<class>/…` or `root/{train,test}/<class>/…`.
#[derive(Debug, Clone)]
pub(crate) struct Folder {
    root: PathBuf,
    split_dirs: bool,
}

fn class_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(list_dir(dir)?.into_iter().filter(|p| p.is_dir() && !hidden(p)).collect())
}

/// A sample: its class name and its path relative to the root.
struct Sample {
    class: String,
    rel: PathBuf,
}

impl Folder {
    pub(crate) fn open(root: &Path) -> Result<Folder> {
        let split_dirs = root.join("train").is_dir()
            && root.join("test").is_dir()
            && !class_dirs(&root.join("train"))?.is_empty();
        let f = Folder { root: root.into(), split_dirs };
        if class_dirs(&f.split_root(Split::Train))?.is_empty() {
            return Err(Error::malformed(root, "no class folders found"));
        }
        Ok(f)
    }

    fn split_rel(&self, split: Split) -> PathBuf {
        if self.split_dirs { PathBuf::from(split.as_str()) } else { PathBuf::new() }
    }

    fn split_root(&self, split: Split) -> PathBuf {
        self.root.join(self.split_rel(split))
    }

    pub(crate) fn has_split(&self, split: Split) -> bool {
        split == Split::Train || self.split_dirs
    }

    fn samples(&self, split: Split) -> Result<Vec<Sample>> {
        let mut out = Vec::new();
        for cdir in class_dirs(&self.split_root(split))? {
            let class = file_name(&cdir);
            for f in list_dir(&cdir)?.into_iter().filter(|p| !hidden(p)) {
                if f.is_dir() || !is_image_name(&f) {
                    return Err(Error::NotAnImage { path: f });
                }
                out.push(Sample { rel: self.split_rel(split).join(&class).join(file_name(&f)), class: class.clone() });
            }
        }
        Ok(out)
    }

    fn class_names(&self) -> Result<Vec<String>> {
        let mut names = BTreeSet::new();
        for s in [Split::Train, Split::Test].into_iter().filter(|&s| self.has_split(s)) {
            names.extend(class_dirs(&self.split_root(s))?.iter().map(|p| file_name(p)));
        }
        Ok(names.into_iter().collect())
    }

    pub(crate) fn load(&self, split: Split) -> Result<Dataset> {
        let class_names = self.class_names()?;
        let samples = self.samples(split)?;
        let labels = samples.iter().map(|s| class_names.iter().position(|c| *c == s.class).unwrap_or(0) as u32).collect();
        let ids = samples.iter().map(|s| format!("{}/{}", s.class, file_name(&s.rel))).collect();
        let files: Vec<PathBuf> = samples.iter().map(|s| self.root.join(&s.rel)).collect();
        decode_all(&files, labels, ids, class_names)
    }

    /// Copy the whole tree into `out_dir` with `edits` applied to `split`.
    pub(crate) fn write_release(&self, split: Split, ds: &Dataset, edits: &Edits, out_dir: &Path) -> Result<()> {
        let samples = self.samples(split)?;
        let touched = |i: &usize| samples.get(*i).map(|s| s.rel.clone());
        let skip: HashSet<PathBuf> =
            edits.remove.iter().chain(edits.replace.keys()).filter_map(touched).collect();
        let mut replaced = Vec::new();
        for (i, px) in &edits.replace {
            let rel = &samples.get(*i).ok_or_else(|| Error::Edit(format!("sample {i} vanished from {}", self.root.display())))?.rel;
            replaced.push((rel, encode_like(&self.root.join(rel), px, ds.height, ds.width, ds.channels)?));
        }
        fsutil::copy_tree(&self.root, out_dir, &skip)?;
        for (rel, bytes) in replaced {
            fsutil::write(&out_dir.join(rel), &bytes)?;
        }
        Ok(())
    }
}
