//! CIFAR-10 and CIFAR-100 binary batches: fixed-size records of label byte(s)
//! followed by a 32x32x3 image in planar (CHW) order. We convert to HWC on
//! read and back on write, and a release rewrites records one by one so the
//! untouched ones (and CIFAR-100's coarse label byte) stay byte-identical.

use crate::fsutil::{self, file_name};
use crate::{index_id, Dataset, Edits, Error, Result, Split};
use std::path::{Path, PathBuf};

const SIDE: usize = 32;
const PIXELS: usize = SIDE * SIDE * 3;

const CIFAR10: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Where the batches of a CIFAR directory are.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// CIFAR-100 (two label bytes, fine label used) rather than CIFAR-10.
    hundred: bool,
    train: Vec<PathBuf>,
    test: Vec<PathBuf>,
    names: Option<PathBuf>,
}

pub(crate) fn detect(names: &[String]) -> bool {
    names.iter().any(|n| n == "data_batch_1.bin" || n == "train.bin")
}

impl Layout {
    pub(crate) fn open(dir: &Path) -> Result<Layout> {
        let existing = |n: &str| Some(dir.join(n)).filter(|p| p.is_file());
        if let Some(first) = existing("data_batch_1.bin") {
            let mut train = vec![first];
            while let Some(p) = existing(&format!("data_batch_{}.bin", train.len() + 1)) {
                train.push(p);
            }
            Ok(Layout {
                hundred: false,
                train,
                test: existing("test_batch.bin").into_iter().collect(),
                names: existing("batches.meta.txt"),
            })
        } else if let Some(train) = existing("train.bin") {
            Ok(Layout {
                hundred: true,
                train: vec![train],
                test: existing("test.bin").into_iter().collect(),
                names: existing("fine_label_names.txt"),
            })
        } else {
            Err(Error::malformed(dir, "no data_batch_1.bin (CIFAR-10) or train.bin (CIFAR-100) found"))
        }
    }

    pub(crate) fn files(&self, split: Split) -> &[PathBuf] {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }

    fn label_bytes(&self) -> usize {
        if self.hundred { 2 } else { 1 }
    }

    fn record(&self) -> usize {
        self.label_bytes() + PIXELS
    }

    fn class_names(&self) -> Result<Vec<String>> {
        let expected = if self.hundred { 100 } else { 10 };
        let Some(p) = &self.names else {
            return Ok(if self.hundred {
                (0..expected).map(|i| i.to_string()).collect()
            } else {
                CIFAR10.iter().map(|s| s.to_string()).collect()
            });
        };
        let text = String::from_utf8(fsutil::read(p)?)
            .map_err(|_| Error::malformed(p, "class names file is not UTF-8"))?;
        let names: Vec<String> =
            text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect();
        if names.len() != expected {
            return Err(Error::count(p, format!("{} class names, expected {expected}", names.len())));
        }
        Ok(names)
    }

    /// Read one batch file and check its length and labels.
    fn read_batch(&self, path: &Path, classes: usize) -> Result<Vec<u8>> {
        let bytes = fsutil::read(path)?;
        let rec = self.record();
        if bytes.len() % rec != 0 {
            return Err(Error::truncated(
                path,
                format!("length {} is not a multiple of the {rec}-byte record size", bytes.len()),
            ));
        }
        for (i, r) in bytes.chunks_exact(rec).enumerate() {
            let label = r[self.label_bytes() - 1];
            if label as usize >= classes {
                return Err(Error::LabelOutOfRange { path: path.into(), index: i, label: label.into(), num_classes: classes });
            }
        }
        Ok(bytes)
    }

    pub(crate) fn load(&self, split: Split) -> Result<Dataset> {
        let class_names = self.class_names()?;
        let (rec, lb) = (self.record(), self.label_bytes());
        let mut ds = Dataset { height: SIDE, width: SIDE, channels: 3, class_names, ..Default::default() };
        for path in self.files(split) {
            let bytes = self.read_batch(path, ds.class_names.len())?;
            for r in bytes.chunks_exact(rec) {
                ds.labels.push(u32::from(r[lb - 1]));
                let chw = &r[lb..];
                ds.images.extend((0..SIDE * SIDE).flat_map(|p| (0..3).map(move |c| chw[c * SIDE * SIDE + p])));
            }
        }
        ds.ids = (0..ds.labels.len()).map(|i| index_id(split, i)).collect();
        Ok(ds)
    }

    /// Rewrite the batch files of `split` into `out_dir` with `edits` applied.
    pub(crate) fn write_split(&self, split: Split, edits: &Edits, out_dir: &Path) -> Result<()> {
        let classes = self.class_names()?.len();
        let (rec, lb) = (self.record(), self.label_bytes());
        let mut global = 0;
        for path in self.files(split) {
            let bytes = self.read_batch(path, classes)?;
            let mut out = Vec::with_capacity(bytes.len());
            for r in bytes.chunks_exact(rec) {
                if edits.keeps(global) {
                    match edits.replace.get(&global) {
                        Some(hwc) => {
                            out.extend_from_slice(&r[..lb]);
                            out.extend((0..3).flat_map(|c| (0..SIDE * SIDE).map(move |p| hwc[p * 3 + c])));
                        }
                        None => out.extend_from_slice(r),
                    }
                }
                global += 1;
            }
            fsutil::write(&out_dir.join(file_name(path)), &out)?;
        }
        Ok(())
    }
}
