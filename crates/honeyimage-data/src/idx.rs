//! IDX files (MNIST, Fashion-MNIST), raw or gzipped. The header is read and
//! checked before anything is allocated, and a gzip stream is never inflated
//! past the size its header announces, so hostile files cannot exhaust memory.

use crate::fsutil::{self, file_name};
use crate::{index_id, Dataset, Edits, Error, Result, Split, MAX_BYTES};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

const FASHION: [&str; 10] = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
    "Ankle boot",
];

/// The files of one split. When both a raw and a `.gz` copy exist, the first
/// is read and a release rewrites both, so no unedited copy leaks.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    images: Vec<PathBuf>,
    labels: Vec<PathBuf>,
}

impl Files {
    pub(crate) fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.images.iter().chain(&self.labels)
    }
}

/// Whether `dir` looks like an IDX dataset.
pub(crate) fn detect(names: &[String]) -> bool {
    names.iter().any(|n| n.ends_with("-idx3-ubyte") || n.ends_with("-idx3-ubyte.gz"))
}

/// Find the files of `split` in `dir` (`train-*` for train, `t10k-*` or `test-*` for test).
pub(crate) fn find(dir: &Path, split: Split) -> Option<Files> {
    let prefixes: &[&str] = match split {
        Split::Train => &["train"],
        Split::Test => &["t10k", "test"],
    };
    let variants = |p: &str, kind: &str| -> Vec<PathBuf> {
        [format!("{p}-{kind}"), format!("{p}-{kind}.gz")]
            .into_iter()
            .map(|n| dir.join(n))
            .filter(|f| f.is_file())
            .collect()
    };
    prefixes.iter().find_map(|p| {
        let images = variants(p, "images-idx3-ubyte");
        let labels = variants(p, "labels-idx1-ubyte");
        (!images.is_empty() && !labels.is_empty()).then_some(Files { images, labels })
    })
}

fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

fn read_exact(r: &mut dyn Read, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        ErrorKind::UnexpectedEof => Error::truncated(path, format!("file ends inside the {what}")),
        ErrorKind::InvalidData | ErrorKind::InvalidInput => {
            Error::malformed(path, format!("corrupt gzip stream: {e}"))
        }
        _ => Error::io(path, e),
    })
}

/// Read an IDX file with the given magic; returns its dimensions and payload.
fn read_idx(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r: Box<dyn Read> = if is_gz(path) {
        Box::new(GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut head = [0u8; 4];
    read_exact(&mut r, &mut head, path, "magic number")?;
    let found = u32::from_be_bytes(head);
    if found != magic {
        return Err(Error::BadMagic { path: path.into(), found, expected: magic });
    }
    let ndim = (magic & 0xff) as usize;
    let mut dims = Vec::with_capacity(ndim);
    let mut total: u64 = 1;
    for _ in 0..ndim {
        read_exact(&mut r, &mut head, path, "header")?;
        let d = u32::from_be_bytes(head);
        dims.push(d as usize);
        total = total.saturating_mul(u64::from(d));
    }
    if total > MAX_BYTES {
        return Err(Error::too_large(path, format!("dimensions {dims:?} need {total} bytes (limit {MAX_BYTES})")));
    }
    if !is_gz(path) {
        let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
        if len < 4 * (ndim as u64 + 1) + total {
            return Err(Error::truncated(path, format!("file is {len} bytes, the header announces {total} data bytes")));
        }
    }
    // Grow the buffer as data arrives rather than trusting the header up front.
    let mut data = Vec::with_capacity(total.min(1 << 26) as usize);
    let got = r.by_ref().take(total).read_to_end(&mut data);
    got.map_err(|e| Error::malformed(path, format!("corrupt data: {e}")))?;
    if (data.len() as u64) < total {
        return Err(Error::truncated(path, format!("{} data bytes, the header announces {total}", data.len())));
    }
    let mut extra = [0u8; 1];
    match r.read(&mut extra) {
        Ok(0) => Ok((dims, data)),
        Ok(_) => Err(Error::malformed(path, format!("trailing bytes after the {total} data bytes announced by the header"))),
        Err(e) => Err(Error::malformed(path, format!("corrupt data after the payload: {e}"))),
    }
}

fn read_labels(path: &Path) -> Result<Vec<u8>> {
    Ok(read_idx(path, LABELS_MAGIC)?.1)
}

fn class_names(dir: &Path, max_label: Option<u8>) -> Vec<String> {
    let fashion = dir.to_string_lossy().to_lowercase().contains("fashion");
    match max_label {
        Some(m) if fashion && m < 10 => FASHION.iter().map(|s| s.to_string()).collect(),
        Some(m) => (0..=m).map(|l| l.to_string()).collect(),
        None if fashion => FASHION.iter().map(|s| s.to_string()).collect(),
        None => Vec::new(),
    }
}

/// Load `split`; `other` (the other split's files) only contributes its
/// labels, so that both splits get the same class list.
pub(crate) fn load(dir: &Path, files: &Files, other: Option<&Files>, split: Split) -> Result<Dataset> {
    let img_path = &files.images[0];
    let lab_path = &files.labels[0];
    let (dims, images) = read_idx(img_path, IMAGES_MAGIC)?;
    let labels = read_labels(lab_path)?;
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if n != labels.len() {
        return Err(Error::count(img_path, format!("{n} images but {} labels in {}", labels.len(), lab_path.display())));
    }
    if h == 0 || w == 0 {
        return Err(Error::malformed(img_path, format!("zero-size images ({h}x{w})")));
    }
    let mut max = labels.iter().copied().max();
    if let Some(o) = other {
        max = max.max(read_labels(&o.labels[0])?.into_iter().max());
    }
    Ok(Dataset {
        images,
        labels: labels.into_iter().map(u32::from).collect(),
        height: h,
        width: w,
        channels: 1,
        class_names: class_names(dir, max),
        ids: (0..n).map(|i| index_id(split, i)).collect(),
    })
}

fn encode(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !is_gz(path) {
        return Ok(bytes);
    }
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&bytes).and_then(|_| enc.finish()).map_err(|e| Error::io(path, e))
}

/// Write the edited files of the split loaded as `ds` into `out_dir`.
pub(crate) fn write_split(files: &Files, ds: &Dataset, edits: &Edits, out_dir: &Path) -> Result<()> {
    let kept: Vec<usize> = (0..ds.len()).filter(|&i| edits.keeps(i)).collect();
    let n = kept.len() as u32;
    let mut images = Vec::with_capacity(16 + kept.len() * ds.image_len());
    images.extend(IMAGES_MAGIC.to_be_bytes());
    for d in [n, ds.height as u32, ds.width as u32] {
        images.extend(d.to_be_bytes());
    }
    let mut labels = Vec::with_capacity(8 + kept.len());
    labels.extend(LABELS_MAGIC.to_be_bytes());
    labels.extend(n.to_be_bytes());
    for &i in &kept {
        images.extend_from_slice(edits.replace.get(&i).map_or(ds.image(i), |v| v.as_slice()));
        labels.push(ds.labels[i] as u8);
    }
    for (paths, bytes) in [(&files.images, &images), (&files.labels, &labels)] {
        for p in paths {
            fsutil::write(&out_dir.join(file_name(p)), &encode(p, bytes.clone())?)?;
        }
    }
    Ok(())
}
