//! `DataSource`: one dataset on disk, whatever its format. It detects the
//! format, knows which files hold each split, loads a split into a
//! [`Dataset`], and writes an edited release atomically in the same format.

use crate::cifar;
use crate::folder::Folder;
use crate::fsutil::{self, file_name};
use crate::idx;
use crate::npz::Npz;
use crate::{Dataset, Edits, Error, Format, Result, Split};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
enum Layout {
    Idx { train: Option<idx::Files>, test: Option<idx::Files> },
    Cifar(cifar::Layout),
    MedMnist(Npz),
    Folder(Folder),
    Csv,
}

/// A dataset opened on disk: its format, root path and the files of each split.
#[derive(Debug, Clone)]
pub struct DataSource {
    format: Format,
    path: PathBuf,
    layout: Layout,
}

fn detect(path: &Path) -> Result<Format> {
    if path.is_file() {
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
        return match ext.as_deref() {
            Some("npz") => Ok(Format::MedMnist),
            Some("csv") => Ok(Format::Csv),
            _ => Err(Error::UnknownFormat { path: path.into() }),
        };
    }
    let entries = fsutil::list_dir(path)?;
    let names: Vec<String> = entries.iter().map(|p| file_name(p)).collect();
    if idx::detect(&names) {
        Ok(Format::Idx)
    } else if cifar::detect(&names) {
        Ok(Format::Cifar)
    } else if entries.iter().any(|p| p.is_dir() && !file_name(p).starts_with('.')) {
        Ok(Format::ImageFolder)
    } else {
        Err(Error::UnknownFormat { path: path.into() })
    }
}

impl DataSource {
    /// Open the dataset at `path`, detecting its format when `format` is `None`:
    /// a `.npz` file is MedMNIST, a `.csv` file CSV + images, a directory with
    /// `*-idx3-ubyte[.gz]` IDX, one with `data_batch_1.bin` or `train.bin`
    /// CIFAR, and any other directory with sub-directories an image folder.
    pub fn open(path: &Path, format: Option<Format>) -> Result<DataSource> {
        std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let format = match format {
            Some(f) => f,
            None => detect(path)?,
        };
        let need_dir = matches!(format, Format::Idx | Format::Cifar | Format::ImageFolder);
        if need_dir != path.is_dir() {
            let what = if need_dir { "a directory" } else { "a file" };
            return Err(Error::malformed(path, format!("the {format} format expects {what}")));
        }
        let layout = match format {
            Format::Idx => {
                let (train, test) = (idx::find(path, Split::Train), idx::find(path, Split::Test));
                if train.is_none() && test.is_none() {
                    return Err(Error::malformed(path, "no {train,t10k}-images-idx3-ubyte[.gz] with matching labels file"));
                }
                Layout::Idx { train, test }
            }
            Format::Cifar => Layout::Cifar(cifar::Layout::open(path)?),
            Format::MedMnist => Layout::MedMnist(Npz::open(path)?),
            Format::ImageFolder => Layout::Folder(Folder::open(path)?),
            Format::Csv => Layout::Csv,
        };
        Ok(DataSource { format, path: path.into(), layout })
    }

    /// The dataset's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The path given to [`DataSource::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the dataset has `split`.
    pub fn has_split(&self, split: Split) -> bool {
        match &self.layout {
            Layout::Idx { train, test } => match split {
                Split::Train => train.is_some(),
                Split::Test => test.is_some(),
            },
            Layout::Cifar(c) => !c.files(split).is_empty(),
            Layout::MedMnist(n) => n.has_split(split),
            Layout::Folder(f) => f.has_split(split),
            Layout::Csv => split == Split::Train,
        }
    }

    /// Load `split` into memory.
    pub fn load(&self, split: Split) -> Result<Dataset> {
        if !self.has_split(split) {
            return Err(Error::MissingSplit { path: self.path.clone(), split });
        }
        let ds = match &self.layout {
            Layout::Idx { train, test } => {
                let (this, other) = match split {
                    Split::Train => (train, test),
                    Split::Test => (test, train),
                };
                let this = this.as_ref().ok_or(Error::MissingSplit { path: self.path.clone(), split })?;
                idx::load(&self.path, this, other.as_ref(), split)?
            }
            Layout::Cifar(c) => c.load(split)?,
            Layout::MedMnist(n) => n.load(split)?,
            Layout::Folder(f) => f.load(split)?,
            Layout::Csv => crate::csv::load(&self.path)?,
        };
        ds.validate()?;
        Ok(ds)
    }

    /// Write a copy of the whole dataset at `path` to `out` (a directory that
    /// must not exist yet), in the same format, where in `split` the samples
    /// whose indices (in `load` order) are in `edits.remove` are left out and
    /// those in `edits.replace` get the given pixels (H*W*C u8, same shape).
    /// Every other file, and every other byte that the format allows keeping,
    /// is identical to the input. Atomic: built in a sibling temp dir then
    /// renamed; on error nothing is left at `out`. Never modifies the input.
    ///
    /// For a `.npz` or `.csv` dataset, `out` receives the archive (plus its
    /// `<stem>_class_names.txt`) or the CSV plus its image folder, under their
    /// original names. Replacing pixels of a JPEG image fails with
    /// [`Error::LossyFormat`].
    pub fn write_release(&self, split: Split, out: &Path, edits: &Edits) -> Result<()> {
        let ds = self.load(split)?;
        edits.validate(ds.len(), ds.image_len())?;
        let forbidden: Vec<PathBuf> = match &self.layout {
            Layout::Csv => crate::csv::copied_dirs(&self.path)?,
            Layout::MedMnist(_) => Vec::new(),
            _ => vec![self.path.clone()],
        };
        fsutil::stage_release(out, &forbidden, |tmp| match &self.layout {
            Layout::Idx { train, test } => {
                let this = match split {
                    Split::Train => train,
                    Split::Test => test,
                };
                let this = this.as_ref().ok_or(Error::MissingSplit { path: self.path.clone(), split })?;
                let skip: HashSet<PathBuf> = this.all().map(|p| PathBuf::from(file_name(p))).collect();
                fsutil::copy_tree(&self.path, tmp, &skip)?;
                idx::write_split(this, &ds, edits, tmp)
            }
            Layout::Cifar(c) => {
                let skip: HashSet<PathBuf> = c.files(split).iter().map(|p| PathBuf::from(file_name(p))).collect();
                fsutil::copy_tree(&self.path, tmp, &skip)?;
                c.write_split(split, edits, tmp)
            }
            Layout::MedMnist(n) => n.write_release(split, &ds, edits, tmp),
            Layout::Folder(f) => f.write_release(split, &ds, edits, tmp),
            Layout::Csv => crate::csv::write_release(&self.path, &ds, edits, tmp),
        })
    }
}
