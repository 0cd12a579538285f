//! The dataset flags every command shares, turned into a loaded dataset.
use std::path::PathBuf;

use anyhow::{Context, Result};
use honeyimage_data::{DataSource, Dataset, Format, Split};

/// Where the data is and which part of it to use.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset path: an IDX folder, CIFAR binary folder, MedMNIST .npz, image folder or CSV index.
    #[arg(long)]
    pub data: PathBuf,
    /// Override format detection: idx, cifar, medmnist, image-folder, csv.
    #[arg(long)]
    pub format: Option<Format>,
    /// Which split to use.
    #[arg(long, default_value = "train")]
    pub split: Split,
    /// Use a seeded, class-stratified subset of at most this many samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Seed of the subset chosen by --limit.
    #[arg(long, default_value_t = 0)]
    pub limit_seed: u64,
    /// Number of classes, when it must not be inferred from the labels
    /// (a class no sample carries is otherwise refused).
    #[arg(long)]
    pub num_classes: Option<usize>,
}

impl DataArgs {
    pub fn open(&self) -> Result<DataSource> {
        DataSource::open(&self.data, self.format).with_context(|| format!("opening dataset {}", self.data.display()))
    }

    /// Loads the chosen split for training: `--limit` applied, and the
    /// class count checked (a gap in the labels is an error unless
    /// `--num-classes` says how many classes there are).
    pub fn load_for_training(&self) -> Result<(DataSource, Dataset)> {
        let (src, mut ds) = self.load()?;
        ds.check_classes(self.num_classes).with_context(|| format!("{} ({} split)", self.data.display(), self.split))?;
        Ok((src, ds))
    }

    /// Loads the chosen split, with `--limit` applied.
    pub fn load(&self) -> Result<(DataSource, Dataset)> {
        let src = self.open()?;
        let ds = load_split(&src, self.split, self.limit, self.limit_seed)?;
        Ok((src, ds))
    }
}

/// Loads one split of an open source, optionally limited to a stratified subset.
pub fn load_split(src: &DataSource, split: Split, limit: Option<usize>, seed: u64) -> Result<Dataset> {
    let ds = src.load(split).with_context(|| format!("loading the {split} split of {}", src.path().display()))?;
    Ok(match limit {
        Some(l) if l < ds.len() => {
            let idx = honeyimage_data::stratified_limit(&ds.labels, l, seed);
            ds.subset(&idx)
        }
        _ => ds,
    })
}
