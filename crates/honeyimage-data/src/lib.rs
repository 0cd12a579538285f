//! Dataset layer of HoneyImage (dataset ownership verification, arXiv 2508.00892).
//!
//! HoneyImage needs two things from a dataset: its samples in memory (to train
//! models and pick hard samples), and a way to publish a *release* of the same
//! dataset in which a few samples are removed and a few have their pixels
//! replaced, with everything else left exactly as the owner had it. This crate
//! does both for five on-disk formats (IDX, CIFAR binary, MedMNIST `.npz`,
//! image folders and CSV + images) with no deep-learning dependency:
//! [`DataSource::open`] a dataset, [`DataSource::load`] a split into a
//! [`Dataset`], and [`DataSource::write_release`] an edited copy.
#![deny(missing_docs)]

mod cifar;
mod csv;
mod error;
mod folder;
mod fsutil;
mod idx;
mod npz;
mod sampling;
mod source;

pub use error::{Error, Result};
pub use fsutil::write_atomic;
pub use sampling::{kfold, shuffled_indices, stratified_limit, train_test_split};
pub use source::DataSource;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// "3, 7, 9" or "10..=200" style list of class labels for messages.
fn describe_labels(labels: &[usize]) -> String {
    let contiguous = labels.windows(2).all(|w| w[1] == w[0] + 1);
    match labels {
        [a, .., b] if contiguous && labels.len() > 3 => format!("{a}..={b}"),
        _ if labels.len() > 8 => format!("{} and {} more", labels[..8].iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", "), labels.len() - 8),
        _ => labels.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(", "),
    }
}

/// Datasets larger than this many bytes (pixels or file payload) are refused.
pub const MAX_BYTES: u64 = 1 << 31;

/// An image-classification split in memory: `u8` pixels in NHWC order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// `N*H*W*C` pixels, NHWC row-major.
    pub images: Vec<u8>,
    /// One label per sample, each `< class_names.len()`.
    pub labels: Vec<u32>,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
    /// Channels (1 for grayscale, 3 for RGB).
    pub channels: usize,
    /// Class names, indexed by label.
    pub class_names: Vec<String>,
    /// Stable per-sample ids: the file name for file-based formats,
    /// `"train:00042"` for array formats.
    pub ids: Vec<String>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }
    /// Bytes per image, `H*W*C`.
    pub fn image_len(&self) -> usize {
        self.height * self.width * self.channels
    }
    /// Pixels of sample `i` (HWC). Panics if `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }
    /// A new dataset holding samples `idx`, in that order (repeats allowed).
    /// Panics on an out-of-range index, like slice indexing.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(idx.len() * self.image_len());
        for &i in idx {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            images,
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            height: self.height,
            width: self.width,
            channels: self.channels,
            class_names: self.class_names.clone(),
            ids: idx.iter().map(|&i| self.ids[i].clone()).collect(),
        }
    }
    /// Number of samples of each class (length `num_classes()`; labels out of
    /// range are not counted).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes()];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }
    /// Classes below `num_classes()` that no sample carries. A gap usually
    /// means the class count was inferred from a corrupt label (one label
    /// 200 in a 10-class set makes 201 classes, 191 of them empty).
    pub fn missing_classes(&self) -> Vec<usize> {
        self.class_counts().iter().enumerate().filter(|(_, &c)| c == 0).map(|(i, _)| i).collect()
    }
    /// Checks the number of classes. With `expected`, every label must be
    /// below it and the class list is cut or padded to it (so a split that
    /// lacks the last class still has the right output size); without it,
    /// a class that no sample carries is an error that names it.
    pub fn check_classes(&mut self, expected: Option<usize>) -> Result<()> {
        match expected {
            Some(k) => {
                if let Some((i, &l)) = self.labels.iter().enumerate().find(|(_, &l)| l as usize >= k) {
                    return Err(Error::Invalid(format!("sample {i} ({}) has label {l}, but --num-classes is {k}", self.ids[i])));
                }
                self.class_names.truncate(k);
                while self.class_names.len() < k {
                    self.class_names.push(self.class_names.len().to_string());
                }
                Ok(())
            }
            None => match self.missing_classes().as_slice() {
                [] => Ok(()),
                gaps => Err(Error::Invalid(format!(
                    "{} of {} classes have no samples (labels {}); a corrupt label may have inflated the class count: give the number of classes explicitly (--num-classes)",
                    gaps.len(),
                    self.num_classes(),
                    describe_labels(gaps)
                ))),
            },
        }
    }
    /// Check that the shapes agree and every label is in range.
    pub fn validate(&self) -> Result<()> {
        let n = self.len();
        let expected = self
            .height
            .checked_mul(self.width)
            .and_then(|x| x.checked_mul(self.channels))
            .and_then(|x| x.checked_mul(n))
            .ok_or_else(|| Error::Invalid("image shape overflows".into()))?;
        if self.images.len() != expected {
            return Err(Error::Invalid(format!(
                "{} pixel bytes, but {n} images of {}x{}x{} need {expected}",
                self.images.len(),
                self.height,
                self.width,
                self.channels
            )));
        }
        if self.ids.len() != n {
            return Err(Error::Invalid(format!("{} ids for {n} samples", self.ids.len())));
        }
        if let Some((i, l)) =
            self.labels.iter().enumerate().find(|(_, &l)| l as usize >= self.num_classes())
        {
            return Err(Error::Invalid(format!(
                "sample {i} ({}) has label {l}, but there are {} classes",
                self.ids[i],
                self.num_classes()
            )));
        }
        Ok(())
    }
    /// The samples with `edits` applied, as [`DataSource::write_release`]
    /// applies them to files: removed samples left out, replaced ones with
    /// their new pixels, the rest unchanged and in order.
    pub fn edited(&self, edits: &Edits) -> Result<Dataset> {
        edits.validate(self.len(), self.image_len())?;
        let kept: Vec<usize> = (0..self.len()).filter(|&i| edits.keeps(i)).collect();
        let mut out = self.subset(&kept);
        let len = self.image_len();
        for (j, &i) in kept.iter().enumerate() {
            if let Some(px) = edits.replace.get(&i) {
                out.images[j * len..(j + 1) * len].copy_from_slice(px);
            }
        }
        Ok(out)
    }
    /// Pixels scaled to `[0, 1]` (`p / 255`), same NHWC layout.
    pub fn to_f32(&self) -> Vec<f32> {
        self.images.iter().map(|&p| f32::from(p) / 255.0).collect()
    }
}

/// Which split of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training split.
    Train,
    /// The test split.
    Test,
}

impl Split {
    /// `"train"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(Error::Parse { what: "split", value: s.into(), expected: "train, test" }),
        }
    }
}

/// On-disk dataset formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// MNIST-style IDX files, raw or gzipped.
    #[serde(rename = "idx")]
    Idx,
    /// CIFAR-10 / CIFAR-100 binary batches.
    #[serde(rename = "cifar")]
    Cifar,
    /// MedMNIST `.npz` archive.
    #[serde(rename = "medmnist")]
    MedMnist,
    /// `root/<class>/<file>` image folders.
    #[serde(rename = "image-folder")]
    ImageFolder,
    /// A CSV of image names and labels beside an image folder (ISIC layout).
    #[serde(rename = "csv")]
    Csv,
}

impl Format {
    /// All formats, in documentation order.
    pub const ALL: [Format; 5] =
        [Format::Idx, Format::Cifar, Format::MedMnist, Format::ImageFolder, Format::Csv];
    /// The name used by `Display`, `FromStr` and serde.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Idx => "idx",
            Format::Cifar => "cifar",
            Format::MedMnist => "medmnist",
            Format::ImageFolder => "image-folder",
            Format::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Format::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| Error::Parse {
            what: "format",
            value: s.into(),
            expected: "idx, cifar, medmnist, image-folder, csv",
        })
    }
}

/// Changes applied to one split by [`DataSource::write_release`]. Indices are
/// positions in [`DataSource::load`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edits {
    /// Samples left out of the release.
    pub remove: BTreeSet<usize>,
    /// Samples whose pixels (HWC `u8`, same shape) are replaced.
    pub replace: BTreeMap<usize, Vec<u8>>,
}

impl Edits {
    /// No edits.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether nothing is removed or replaced.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.replace.is_empty()
    }
    /// Check that the edits fit a split of `n` images of `image_len` bytes:
    /// indices in range, replacement sizes right, no index both removed and replaced.
    pub fn validate(&self, n: usize, image_len: usize) -> Result<()> {
        if let Some(&i) = self.remove.range(n..).next() {
            return Err(Error::Edit(format!("remove index {i} out of range (split has {n} samples)")));
        }
        if let Some((&i, _)) = self.replace.range(n..).next() {
            return Err(Error::Edit(format!("replace index {i} out of range (split has {n} samples)")));
        }
        for (&i, px) in &self.replace {
            if px.len() != image_len {
                return Err(Error::Edit(format!(
                    "replacement for sample {i} has {} bytes, expected {image_len}",
                    px.len()
                )));
            }
            if self.remove.contains(&i) {
                return Err(Error::Edit(format!("sample {i} is both removed and replaced")));
            }
        }
        Ok(())
    }
    /// Whether sample `i` is kept.
    pub(crate) fn keeps(&self, i: usize) -> bool {
        !self.remove.contains(&i)
    }
}

/// Zero-padded index id, e.g. `train:00042`.
pub(crate) fn index_id(split: Split, i: usize) -> String {
    format!("{split}:{i:05}")
}
