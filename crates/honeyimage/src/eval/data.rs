//! The data of an evaluation: the train split divided (class-stratified,
//! seeded) into the owner's private set D, written to the run folder in the
//! input's own format so that `protect` reads it like any user dataset, and
//! a disjoint same-distribution set for clean suspects; plus the test set.
use std::path::{Path, PathBuf};

use honeyimage_data::{DataSource, Dataset, Edits, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::EvalConfig;
use crate::{Error, Result};

/// The data every suspect and release derives from.
pub struct EvalData {
    /// The opened source dataset.
    pub src: DataSource,
    /// D, as written in the run folder (`data/private`; the disjoint set is
    /// written to `data/disjoint`).
    pub private_dir: PathBuf,
    /// D in memory.
    pub original: Dataset,
    /// Disjoint clean data, as large as D.
    pub disjoint: Dataset,
    /// Test images for accuracy and the watermark test.
    pub test: Dataset,
}

/// Indices of D and of the disjoint set in the train split (each sorted).
pub fn split_private(labels: &[u32], private_size: Option<usize>, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let per = private_size.unwrap_or(labels.len() / 2).min(labels.len() / 2);
    let mut order = honeyimage_data::stratified_limit(labels, 2 * per, seed);
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0xd15));
    let (mut private, mut disjoint) = (order[..per].to_vec(), order[per..].to_vec());
    private.sort_unstable();
    disjoint.sort_unstable();
    (private, disjoint)
}

/// Writes the samples `keep` of the train split to `dir` (once).
fn write_subset(src: &DataSource, n: usize, keep: &[usize], dir: &Path) -> Result<()> {
    if dir.exists() {
        return Ok(());
    }
    let mut is_kept = vec![false; n];
    keep.iter().for_each(|&i| is_kept[i] = true);
    let edits = Edits { remove: (0..n).filter(|&i| !is_kept[i]).collect(), ..Edits::default() };
    let parent = dir.parent().expect("run folder entries have a parent");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    Ok(src.write_release(Split::Train, dir, &edits)?)
}

/// The test set: the source's test split (seeded subset), or the tail of
/// the disjoint data when there is none.
fn test_set(src: &DataSource, config: &EvalConfig, disjoint: &Dataset) -> Result<Dataset> {
    if src.has_split(Split::Test) {
        let t = src.load(Split::Test)?;
        return Ok(match config.test_limit {
            Some(l) if l < t.len() => t.subset(&honeyimage_data::stratified_limit(&t.labels, l, config.seed)),
            _ => t,
        });
    }
    let n = config.test_limit.unwrap_or(1000).min(disjoint.len() / 5);
    Ok(disjoint.subset(&(disjoint.len() - n..disjoint.len()).collect::<Vec<_>>()))
}

/// Where a run keeps D, in the input's own format.
pub fn private_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("data").join("private")
}

/// Splits the source and writes D into `run_dir/data/private`.
pub fn prepare(config: &EvalConfig, run_dir: &Path) -> Result<EvalData> {
    let src = DataSource::open(&config.data, config.format)?;
    let pool = src.load(Split::Train)?;
    let (private_idx, disjoint_idx) = split_private(&pool.labels, config.private_size, config.seed);
    let private_dir = private_dir(run_dir);
    write_subset(&src, pool.len(), &private_idx, &private_dir)?;
    // The disjoint data too, so that clean suspects can be trained outside
    // the tool (e.g. by PyTorch) and judged as `external_clean` models.
    write_subset(&src, pool.len(), &disjoint_idx, &run_dir.join("data").join("disjoint"))?;
    let original = pool.subset(&private_idx);
    let disjoint = pool.subset(&disjoint_idx);
    drop(pool);
    let test = test_set(&src, config, &disjoint)?;
    Ok(EvalData { src, private_dir, original, disjoint, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_disjoint_are_disjoint_balanced_and_seeded() {
        let labels: Vec<u32> = (0..1000).map(|i| (i % 5) as u32).collect();
        let (p, d) = split_private(&labels, Some(200), 4);
        assert_eq!((p.len(), d.len()), (200, 200));
        assert!(p.iter().all(|i| !d.contains(i)));
        for c in 0..5 {
            assert_eq!(p.iter().filter(|&&i| labels[i] == c).count() + d.iter().filter(|&&i| labels[i] == c).count(), 80);
        }
        assert_eq!(split_private(&labels, Some(200), 4), (p.clone(), d));
        assert_ne!(split_private(&labels, Some(200), 5).0, p);
        assert_eq!(split_private(&labels, None, 0).0.len(), 500);
    }
}
