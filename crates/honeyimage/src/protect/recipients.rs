//! Per-recipient releases: one protection run makes a different release and
//! key for every licensee, so that a model trained on a leaked copy, or the
//! copy itself, points at the recipient it was given to.
//!
//! The proxies and the hardness scores are shared. The 2N x M hardest
//! samples (class-stratified, as for one release) are dealt at random into
//! M disjoint candidate sets, one per recipient; each is split into its own
//! R and W and optimised on its own, so only the optimisation's cost grows
//! with M. Disjointness is what keeps every recipient's test exact against
//! a model trained on another recipient's release: that release holds all
//! of this recipient's candidates, R and W alike, as unperturbed originals,
//! so this recipient's R/W split is independent of what the model saw.
use std::path::{Path, PathBuf};

use honeyimage_data::{DataSource, Split};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::candidates::{self, split_within_classes, Candidates};
use super::hardness::Hardness;
use super::{commitment_path, finish, prepare, Input, Job, ProtectEvent, ProtectOutcome, Stages};
use crate::config::ProtectConfig;
use crate::key::{self, SecretString};
use crate::{Error, Result};

/// The manifest in a key folder: which recipients it holds.
pub const MANIFEST: &str = "recipients.json";

/// Work-folder entry naming the key folder this run writes into.
const KEYS_ENTRY: &str = "recipient-keys.json";

/// Reads a recipients list: one name a line; blank lines and lines starting
/// with `#` are skipped. Names must be unique and usable as file names
/// (letters, digits, `.`, `_`, `-`; not starting with `.`).
pub fn parse_recipients(text: &str, path: &Path) -> Result<Vec<String>> {
    let bad = |line: usize, why: String| Error::invalid("recipients", format!("{} line {line}: {why}", path.display()));
    let mut names: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        check_name(name).map_err(|why| bad(n + 1, why))?;
        if names.iter().any(|m| m == name) {
            return Err(bad(n + 1, format!("recipient {name:?} is listed twice")));
        }
        names.push(name.to_string());
    }
    if names.len() < 2 {
        return Err(Error::invalid("recipients", format!("{} names {} recipient(s); per-recipient releases need at least 2", path.display(), names.len())));
    }
    Ok(names)
}

/// Why `name` cannot be a recipient's name, if it cannot.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.len() > 64 {
        return Err(format!("name {name:?} is longer than 64 characters"));
    }
    if name.starts_with('.') || !name.chars().all(ok) {
        return Err(format!("name {name:?} must use only letters, digits, '.', '_' and '-' and not start with '.'"));
    }
    Ok(())
}

/// Deals `pool` (ordered by class, then by decreasing hardness) into `m`
/// disjoint sets at random: each class's members are shuffled and dealt in
/// turn, starting where the previous class stopped, so every set gets its
/// class's share to within one. Each set keeps the pool's order.
pub fn deal(pool: &[usize], labels: &[u32], m: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xdea1_5eed);
    let mut owner = std::collections::HashMap::with_capacity(pool.len());
    let mut classes: Vec<u32> = pool.iter().map(|&i| labels[i]).collect();
    classes.sort_unstable();
    classes.dedup();
    let mut turn = 0usize;
    for c in classes {
        let mut mine: Vec<usize> = pool.iter().copied().filter(|&i| labels[i] == c).collect();
        mine.shuffle(&mut rng);
        for i in mine {
            owner.insert(i, turn % m);
            turn += 1;
        }
    }
    (0..m).map(|r| pool.iter().copied().filter(|i| owner[i] == r).collect()).collect()
}

/// The seed of recipient `r`'s R/W split.
fn split_seed(seed: u64, r: usize) -> u64 {
    seed ^ 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(r as u64 + 1)
}

/// Every recipient's candidates: the 2N x M candidates chosen as for one
/// release of N x M, dealt into `m` disjoint sets, each split into R and W
/// within classes.
pub fn assign(hardness: &Hardness, labels: &[u32], num_classes: usize, config: &ProtectConfig, m: usize) -> Result<Vec<Candidates>> {
    let pooled = ProtectConfig { count: config.count * m, ..config.clone() };
    let pool = candidates::choose(hardness, labels, num_classes, &pooled)?.all;
    Ok(deal(&pool, labels, m, config.seed)
        .into_iter()
        .enumerate()
        .map(|(r, all)| {
            let (released, withheld) = split_within_classes(&all, labels, split_seed(config.seed, r));
            Candidates { all, released, withheld }
        })
        .collect())
}

/// Where per-recipient protection writes.
#[derive(Debug, Clone, Copy)]
pub struct RecipientOutputs<'a> {
    /// Folder of releases: `<name>/` and `<name>.commitment.txt` each.
    pub releases: &'a Path,
    /// Key folder: `<name>.key` each, and the [`MANIFEST`].
    pub keys: &'a Path,
    /// The work folder.
    pub work: &'a Path,
}

impl RecipientOutputs<'_> {
    /// Recipient `name`'s release folder.
    pub fn release(&self, name: &str) -> PathBuf {
        self.releases.join(name)
    }

    /// Recipient `name`'s key file.
    pub fn key(&self, name: &str) -> PathBuf {
        self.keys.join(format!("{name}.key"))
    }
}

/// One recipient in a key folder's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The recipient's name.
    pub name: String,
    /// Its key file, relative to the key folder.
    pub key: String,
    /// Fingerprint of its release.
    pub release_fingerprint: String,
    /// Its release's public commitment.
    pub commitment: String,
}

/// A key folder's manifest (no secrets: names, fingerprints, commitments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always "honeyimage-recipients".
    pub format: String,
    /// The recipients, in the order of the recipients list.
    pub recipients: Vec<ManifestEntry>,
}

/// Creates the key folder (owner-only on Unix) and refuses one holding
/// files this run did not write.
fn claim_keys_folder(keys: &Path, wd: &super::WorkDir) -> Result<()> {
    let mine = wd.get::<PathBuf>(KEYS_ENTRY)?.is_some_and(|p| p == keys);
    let has_files = std::fs::read_dir(keys).map(|mut d| d.next().is_some()).unwrap_or(false);
    if has_files && !mine {
        return Err(Error::invalid("output", format!("key folder {} is not empty: refusing to overwrite keys", keys.display())));
    }
    std::fs::create_dir_all(keys).map_err(|e| Error::io(keys, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(keys, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(keys, e))?;
    }
    wd.put(KEYS_ENTRY, &keys.to_path_buf())
}

/// Runs protect once for `names.len()` recipients: shared proxies and
/// hardness, then one optimisation, release and key per recipient, and the
/// key folder's manifest last (its presence means the run finished). A
/// killed run resumes from the work folder like a single protection.
pub fn protect_recipients(
    src: &DataSource,
    split: Split,
    outputs: RecipientOutputs,
    config: &ProtectConfig,
    names: &[String],
    passphrase: Option<&SecretString>,
    on_event: &mut dyn FnMut(ProtectEvent),
) -> Result<Vec<ProtectOutcome>> {
    if names.len() < 2 {
        return Err(Error::invalid("recipients", "per-recipient releases need at least 2 recipients"));
    }
    if let Some(why) = names.iter().find_map(|n| check_name(n).err()) {
        return Err(Error::invalid("recipients", why));
    }
    // The random-sample baseline is a property of the method, not of a
    // recipient: it is not repeated per release.
    let config = &ProtectConfig { random_baseline: false, ..config.clone() };
    let mut st = Stages { on_event, done: Vec::new() };
    let input = Input::Files { src, split };
    let p = prepare(input, outputs.work, config, names, &mut st)?;
    claim_keys_folder(outputs.keys, &p.wd)?;
    std::fs::create_dir_all(outputs.releases).map_err(|e| Error::io(outputs.releases, e))?;
    let m = names.len();
    let sets = st.run("candidates", |_| Ok((assign(&p.hardness, &p.ds.labels, p.ds.num_classes(), config, m)?, false)))?;
    let shared = st.done.clone();
    let mut outcomes = Vec::with_capacity(m);
    let mut manifest = Manifest { format: "honeyimage-recipients".into(), recipients: Vec::with_capacity(m) };
    for (name, cands) in names.iter().zip(&sets) {
        let (release, key_path) = (outputs.release(name), outputs.key(name));
        let job = Job { cands, files: Some((&release, &key_path)), tag: name.clone(), recipient: Some(name.clone()) };
        let mut outcome = finish(input, &p, &job, config, passphrase, &mut st)?;
        outcome.summary.stages.splice(0..0, shared.iter().cloned());
        manifest.recipients.push(ManifestEntry {
            name: name.clone(),
            key: format!("{name}.key"),
            release_fingerprint: outcome.key.release.fingerprint.clone(),
            commitment: key::commitment(&outcome.key).hex().to_string(),
        });
        outcomes.push(outcome);
    }
    let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    honeyimage_data::write_atomic(&outputs.keys.join(MANIFEST), &bytes)?;
    debug_assert!(names.iter().all(|n| commitment_path(&outputs.release(n)).exists()));
    Ok(outcomes)
}

/// A key folder: the manifest and every recipient's key path, in order.
pub fn key_folder(keys: &Path) -> Result<Vec<(String, PathBuf)>> {
    let path = keys.join(MANIFEST);
    let manifest: Manifest = crate::fsio::read_json(&path)?
        .ok_or_else(|| Error::invalid("keys", format!("{} has no {MANIFEST}: not a key folder written by protect --recipients", keys.display())))?;
    if manifest.format != "honeyimage-recipients" {
        return Err(Error::invalid("keys", format!("{}: format {:?} is not honeyimage-recipients", path.display(), manifest.format)));
    }
    manifest
        .recipients
        .into_iter()
        .map(|e| {
            check_name(&e.name).map_err(|why| Error::invalid("keys", format!("{}: {why}", path.display())))?;
            let rel = Path::new(&e.key);
            if rel.components().count() != 1 {
                return Err(Error::invalid("keys", format!("{}: key {:?} must be a file name inside the folder", path.display(), e.key)));
            }
            Ok((e.name, keys.join(rel)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_list_is_checked() {
        let p = Path::new("r.txt");
        assert_eq!(parse_recipients("# licensees\nacme\n\n  beta-2 \n", p).unwrap(), vec!["acme", "beta-2"]);
        for (text, why) in [("acme\nacme\n", "twice"), ("a/b\nc\n", "only letters"), ("acme\n", "at least 2"), (".x\ny\n", "not start")] {
            let err = parse_recipients(text, p).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("r.txt"), "{text:?}: {err}");
        }
    }

    #[test]
    fn deal_makes_disjoint_class_balanced_sets() {
        let labels: Vec<u32> = (0..1000).map(|i| (i % 4) as u32).collect();
        // A pool of 10 per class for classes 0..3 (class 3 odd: 9).
        let labels_ref = &labels;
        let pool: Vec<usize> = (0..4u32).flat_map(|c| (0..1000).filter(move |&i| labels_ref[i] == c).take(if c == 3 { 9 } else { 10 })).collect();
        let sets = deal(&pool, &labels, 3, 7);
        let mut all: Vec<usize> = sets.concat();
        all.sort_unstable();
        let mut sorted = pool.clone();
        sorted.sort_unstable();
        assert_eq!(all, sorted, "a partition of the pool");
        for c in 0..4u32 {
            let counts: Vec<usize> = sets.iter().map(|s| s.iter().filter(|&&i| labels[i] == c).count()).collect();
            assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "class {c}: {counts:?}");
        }
        let sizes: Vec<usize> = sets.iter().map(Vec::len).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        assert_eq!(deal(&pool, &labels, 3, 7), sets);
        assert_ne!(deal(&pool, &labels, 3, 8), sets);
    }

    #[test]
    fn every_recipient_gets_its_own_split_of_hard_candidates() {
        let labels: Vec<u32> = (0..2000).map(|i| (i % 5) as u32).collect();
        let hardness = Hardness { scores: (0..2000).map(|i| i as f64).collect(), proxy_fold_accuracy: vec![], predicted: labels.clone() };
        let cfg = ProtectConfig { count: 20, ..ProtectConfig::default() };
        let sets = assign(&hardness, &labels, 5, &cfg, 4).unwrap();
        assert_eq!(sets.len(), 4);
        let mut seen = std::collections::HashSet::new();
        for s in &sets {
            assert_eq!(s.all.len(), 40);
            assert_eq!(s.released.len() + s.withheld.len(), 40);
            assert!(s.all.iter().all(|&i| i >= 2000 - 160), "from the 160 hardest");
            assert!(s.all.iter().all(|&i| seen.insert(i)), "disjoint");
        }
        assert_ne!(sets[0].released.len(), 0);
    }

    #[test]
    fn key_folder_refuses_paths_outside_it() {
        let dir = tempfile::tempdir().unwrap();
        let m = Manifest {
            format: "honeyimage-recipients".into(),
            recipients: vec![ManifestEntry { name: "a".into(), key: "../a.key".into(), release_fingerprint: String::new(), commitment: String::new() }],
        };
        std::fs::write(dir.path().join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        assert!(key_folder(dir.path()).unwrap_err().to_string().contains("inside the folder"));
        assert!(key_folder(&dir.path().join("none")).unwrap_err().to_string().contains("no recipients.json"));
    }
}
