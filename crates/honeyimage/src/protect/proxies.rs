//! Stage 1 of protect (SPEC section 1): the out-of-fold proxies. For every
//! fold k and proxy architecture, a model trained on the data minus fold k;
//! it never saw fold k's samples, so its loss on them measures hardness, and
//! it serves as an out-model for fold k's candidates. Each proxy is saved in
//! the work folder and always reloaded from there, so a resumed run uses
//! bit-identical weights.
use honeyimage_data::Dataset;

use super::workdir::WorkDir;
use super::ProtectEvent;
use crate::config::{ModelConfig, ProtectConfig, TrainConfig};
use crate::model::{channel_stats, Model, ModelCard};
use crate::tensors::TensorSet;
use crate::train::train;
use crate::Result;

/// The proxies, `[fold][architecture]`.
pub type Proxies = Vec<Vec<Model>>;

/// Indices of the samples outside `fold`, in order.
pub fn outside(n: usize, fold: &[usize]) -> Vec<usize> {
    let mut in_fold = vec![false; n];
    fold.iter().for_each(|&i| in_fold[i] = true);
    (0..n).filter(|&i| !in_fold[i]).collect()
}

/// The seed of proxy (fold `k`, architecture `a`).
fn proxy_seed(config: &ProtectConfig, k: usize, a: usize) -> u64 {
    config.seed.wrapping_mul(1000).wrapping_add((k * 100 + a) as u64 + 1)
}

/// Where proxy (fold `k`, architecture `arch`) is saved in the work folder.
pub fn proxy_dir(wd: &WorkDir, k: usize, arch: crate::config::Arch) -> std::path::PathBuf {
    wd.path(&format!("proxy-fold{k}-{arch}"))
}

/// Trains proxy (fold `k`, architecture number `a`) unless the work folder
/// has it. Returns whether it trained one. Each proxy is independent of the
/// others, so they can be trained by separate processes or machines.
pub fn ensure_proxy(
    ds: &Dataset,
    data: &TensorSet,
    folds: &[Vec<usize>],
    (k, a): (usize, usize),
    config: &ProtectConfig,
    wd: &WorkDir,
    on_event: &mut dyn FnMut(ProtectEvent),
) -> Result<bool> {
    let arch = config.proxy_archs[a];
    let dir = proxy_dir(wd, k, arch);
    if dir.join("config.json").exists() {
        return Ok(false);
    }
    let mut mc = ModelConfig::new(arch, ds.channels, ds.height, ds.width, ds.class_names.clone(), channel_stats(ds));
    if let Some(w) = config.proxy_width {
        mc.arch_width = w;
    }
    let seed = proxy_seed(config, k, a);
    let model = Model::new(mc, data.images.device(), seed)?;
    let tc = TrainConfig { seed, ..config.proxy_train.clone() };
    let label = format!("fold {}/{} {arch}", k + 1, config.folds);
    let train_set = data.select(&outside(ds.len(), &folds[k]));
    let report = train(&model, &train_set, &tc, &mut |event| on_event(ProtectEvent::Train { label: label.clone(), event }))?;
    let card = ModelCard { fold: Some(k), train_config: Some(tc), report: Some(report), ..ModelCard::new("out-of-fold proxy") };
    model.save(&dir, &card)?;
    Ok(true)
}

/// Trains the proxies that the work folder lacks and loads all of them.
pub fn train_proxies(
    ds: &Dataset,
    data: &TensorSet,
    folds: &[Vec<usize>],
    config: &ProtectConfig,
    wd: &WorkDir,
    on_event: &mut dyn FnMut(ProtectEvent),
) -> Result<Proxies> {
    let device = data.images.device();
    let mut proxies = Vec::with_capacity(folds.len());
    for k in 0..folds.len() {
        let mut row = Vec::with_capacity(config.proxy_archs.len());
        for (a, &arch) in config.proxy_archs.iter().enumerate() {
            ensure_proxy(ds, data, folds, (k, a), config, wd, on_event)?;
            row.push(Model::load(&proxy_dir(wd, k, arch), device)?.0);
        }
        proxies.push(row);
    }
    Ok(proxies)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_is_the_complement_of_the_fold() {
        assert_eq!(outside(6, &[4, 1]), vec![0, 2, 3, 5]);
        assert_eq!(outside(3, &[]), vec![0, 1, 2]);
    }
}
