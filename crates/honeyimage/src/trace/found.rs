//! Reading a found dataset for trace: a dataset in any supported format, or
//! just a folder (searched recursively) of images of any size, encoding and
//! colour type, as leaked data turns up. Every image is brought to the
//! key's height and width at once (so a folder of 224 x 224 JPEGs costs the
//! memory of the key's geometry) and kept as `f32` in 8-bit units, with 1
//! channel when either side is grey (compared in luma), else the key's
//! channels.
use std::path::{Path, PathBuf};

use honeyimage_data::{DataSource, Format, Split};
use image::imageops::FilterType;
use image::{DynamicImage, ImageBuffer, Luma, Rgb};

use super::align::{descriptor, luma};
use crate::{Error, Result};

/// One found image on the key's grid.
#[derive(Debug, Clone)]
pub struct FoundImage {
    /// Where it came from (a file, or a dataset split and index).
    pub name: String,
    /// Its size before normalisation (height, width).
    pub source_size: (usize, usize),
    /// Channels kept (1 or the key's).
    pub channels: usize,
    /// Pixels, HWC at the key's height and width, 8-bit units.
    pub pixels: Vec<f32>,
    /// Its [`descriptor`].
    pub descriptor: Vec<f32>,
}

/// A found dataset on the key's grid, and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The images.
    pub images: Vec<FoundImage>,
    /// Files that looked like images but could not be decoded, with why.
    pub unreadable: Vec<(String, String)>,
    /// Files that are not images (ignored).
    pub other_files: usize,
    /// How the data were read ("idx dataset, train and test splits", "folder of images").
    pub read_as: String,
}

/// The key's image geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Height.
    pub height: usize,
    /// Width.
    pub width: usize,
    /// Channels (1 or 3).
    pub channels: usize,
}

/// Brings a decoded image to `g`: resized (triangle filter, the image
/// crate's bilinear with anti-aliasing when shrinking) when its size
/// differs, grey as 1 channel, colour as the key's channels (luma for a
/// grey key).
pub fn normalise(img: &DynamicImage, name: String, g: Geometry) -> FoundImage {
    let source_size = (img.height() as usize, img.width() as usize);
    let grey = !img.color().has_color();
    let (w, h) = (g.width as u32, g.height as u32);
    let resize = |buf_w: u32, buf_h: u32| buf_w != w || buf_h != h;
    // The image crate clamps f32 pixels to [0, 1] when resizing: scale after.
    let (channels, unit) = if grey || g.channels == 1 {
        let lum: Vec<f32> = if grey { img.to_luma32f().into_raw() } else { luma(img.to_rgb32f().as_raw(), 3) };
        let buf = ImageBuffer::<Luma<f32>, _>::from_raw(img.width(), img.height(), lum).expect("sized");
        let buf = if resize(img.width(), img.height()) { image::imageops::resize(&buf, w, h, FilterType::Triangle) } else { buf };
        (1, buf.into_raw())
    } else {
        let buf = img.to_rgb32f();
        let buf = if resize(img.width(), img.height()) { image::imageops::resize(&buf, w, h, FilterType::Triangle) } else { buf };
        (3, buf.into_raw())
    };
    let pixels: Vec<f32> = unit.into_iter().map(|x| x * 255.0).collect();
    let descriptor = descriptor(&luma(&pixels, channels), g.height, g.width);
    FoundImage { name, source_size, channels, pixels, descriptor }
}

/// Reads `path`: a dataset (with `format`, or detected) when it is one,
/// otherwise every image file under it. `splits` limits a dataset to those
/// splits (default: all it has).
pub fn read(path: &Path, format: Option<Format>, splits: &[Split], g: Geometry) -> Result<Found> {
    std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if format.is_some() {
        return read_dataset(&DataSource::open(path, format)?, splits, g);
    }
    // A folder with sub-folders would read as an image-folder dataset;
    // walking it finds the same images and any others beside them.
    let why = match DataSource::open(path, None) {
        Ok(src) if src.format() == Format::ImageFolder => "a folder of images".to_string(),
        Ok(src) => match read_dataset(&src, splits, g) {
            Ok(found) if !found.images.is_empty() => return Ok(found),
            Ok(_) => "no images in the chosen splits".to_string(),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    };
    if !path.is_dir() {
        return Err(Error::invalid("found data", format!("{} is neither a dataset ({why}) nor a folder of images", path.display())));
    }
    let found = read_folder(path, g)?;
    if found.images.is_empty() {
        return Err(Error::invalid("found data", format!("{} holds no readable image (as a dataset: {why})", path.display())));
    }
    Ok(found)
}

/// Every sample of `splits` (all the source has when empty).
fn read_dataset(src: &DataSource, splits: &[Split], g: Geometry) -> Result<Found> {
    let wanted: Vec<Split> = if splits.is_empty() { vec![Split::Train, Split::Test] } else { splits.to_vec() };
    let mut found = Found::default();
    let mut read = Vec::new();
    for split in wanted.into_iter().filter(|&s| src.has_split(s)) {
        let ds = src.load(split)?;
        for i in 0..ds.len() {
            let img = to_dynamic(ds.image(i), ds.height, ds.width, ds.channels)
                .ok_or_else(|| Error::invalid("found data", format!("{}: {} channels are not supported", src.path().display(), ds.channels)))?;
            found.images.push(normalise(&img, ds.ids[i].clone(), g));
        }
        read.push(split.to_string());
    }
    found.read_as = format!("{} dataset, {} split(s)", src.format(), read.join(" and "));
    Ok(found)
}

/// An HWC u8 image as a [`DynamicImage`] (1 or 3 channels).
pub fn to_dynamic(px: &[u8], h: usize, w: usize, c: usize) -> Option<DynamicImage> {
    let (w, h) = (w as u32, h as u32);
    match c {
        1 => ImageBuffer::<Luma<u8>, _>::from_raw(w, h, px.to_vec()).map(DynamicImage::ImageLuma8),
        3 => ImageBuffer::<Rgb<u8>, _>::from_raw(w, h, px.to_vec()).map(DynamicImage::ImageRgb8),
        _ => None,
    }
}

/// Every image under `root` (recursively, hidden entries skipped), in path order.
fn read_folder(root: &Path, g: Geometry) -> Result<Found> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    files.sort();
    // Decoding dominates on large folders: one chunk of files per core, in order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(files.len().max(1));
    let chunk = files.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Entry>>> = std::thread::scope(|s| {
        let handles: Vec<_> = files.chunks(chunk).map(|part| s.spawn(move || part.iter().map(|f| read_file(root, f, g)).collect::<Result<Vec<Entry>>>())).collect();
        handles.into_iter().map(|h| h.join().expect("image reader panicked")).collect()
    });
    let mut found = Found { read_as: "folder of images".into(), ..Found::default() };
    for entry in parts.into_iter().collect::<Result<Vec<_>>>()?.into_iter().flatten() {
        match entry {
            Entry::Image(img) => found.images.push(img),
            Entry::Unreadable(name, why) => found.unreadable.push((name, why)),
            Entry::Other => found.other_files += 1,
        }
    }
    Ok(found)
}

/// What one file of a found folder turned out to be.
enum Entry {
    Image(FoundImage),
    Unreadable(String, String),
    Other,
}

/// Reads one file of a found folder (named relative to `root`).
fn read_file(root: &Path, f: &Path, g: Geometry) -> Result<Entry> {
    let rel = f.strip_prefix(root).unwrap_or(f).display().to_string();
    let reader = match image::ImageReader::open(f).map_err(|e| Error::io(f, e))?.with_guessed_format() {
        Ok(r) if r.format().is_some() => r,
        _ => return Ok(Entry::Other),
    };
    Ok(match reader.decode() {
        Ok(img) => Entry::Image(normalise(&img, rel, g)),
        Err(e) => Entry::Unreadable(rel, e.to_string()),
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = e.map_err(|e| Error::io(dir, e))?.path();
        if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_mixed_images_are_read_and_normalised() {
        let dir = tempfile::tempdir().unwrap();
        let g = Geometry { height: 8, width: 8, channels: 1 };
        let grey = to_dynamic(&(0..64).map(|i| (i * 3) as u8).collect::<Vec<_>>(), 8, 8, 1).unwrap();
        grey.save(dir.path().join("a.png")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        grey.resize_exact(32, 32, FilterType::Triangle).to_rgb8().save(dir.path().join("sub/b.jpg")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
        std::fs::write(dir.path().join("broken.png"), b"\x89PNG\r\n\x1a\nxx").unwrap();
        let found = read(dir.path(), None, &[], g).unwrap();
        assert_eq!(found.images.len(), 2);
        assert_eq!(found.images[0].name, "a.png");
        assert_eq!(found.images[0].pixels[5], 15.0);
        assert_eq!((found.images[1].source_size, found.images[1].channels), ((32, 32), 1));
        assert_eq!(found.images[1].pixels.len(), 64);
        assert_eq!(found.other_files, 1);
        assert_eq!(found.unreadable.len(), 1);
        assert!(found.unreadable[0].0.contains("broken.png"));
    }

    #[test]
    fn colour_and_grey_meet_in_the_right_channels() {
        let colour = to_dynamic(&(0..48).map(|i| (i * 5) as u8).collect::<Vec<_>>(), 4, 4, 3).unwrap();
        let grey = to_dynamic(&[9u8; 16], 4, 4, 1).unwrap();
        let rgb_key = Geometry { height: 4, width: 4, channels: 3 };
        let grey_key = Geometry { height: 4, width: 4, channels: 1 };
        let c = normalise(&colour, "c".into(), rgb_key);
        assert_eq!((c.channels, c.pixels.len(), c.pixels[5]), (3, 48, 25.0));
        let g = normalise(&grey, "g".into(), rgb_key);
        assert_eq!((g.channels, g.pixels.len()), (1, 16), "a grey copy of a colour release is compared in luma");
        let l = normalise(&colour, "l".into(), grey_key);
        assert_eq!(l.channels, 1);
        assert!((l.pixels[0] - (0.299 * 0.0 + 0.587 * 5.0 + 0.114 * 10.0)).abs() < 1e-3, "{}", l.pixels[0]);
        // Grey stored as RGB (R = G = B) is the grey image exactly.
        let as_rgb = DynamicImage::ImageRgb8(grey.to_rgb8());
        assert_eq!(normalise(&as_rgb, "x".into(), grey_key).pixels, vec![9.0; 16]);
    }

    #[test]
    fn an_empty_folder_is_refused() {
        let g = Geometry { height: 8, width: 8, channels: 1 };
        let empty = tempfile::tempdir().unwrap();
        assert!(read(empty.path(), None, &[], g).unwrap_err().to_string().contains("no readable image"));
    }
}
