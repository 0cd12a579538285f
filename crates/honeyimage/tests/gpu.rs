//! CUDA: when libtorch sees a GPU, protect (proxies, hardness, the bi-level
//! optimisation) runs on it by default and gives a valid key and release.
//! Without a GPU the test says so and passes: CI machines have none; run it
//! where one is (`cargo test --release -p honeyimage --test gpu`).
use honeyimage::config::ProtectConfig;
use honeyimage::protect::protect_memory;
use honeyimage_data::{DataSource, Split};

#[test]
fn protect_runs_on_the_gpu_when_there_is_one() {
    if !tch::Cuda::is_available() {
        eprintln!("skipped: no CUDA device");
        return;
    }
    assert!(matches!(honeyimage::default_device(), tch::Device::Cuda(0)), "a GPU is present but not the default device");
    let all = DataSource::open(std::path::Path::new("/usr/share/datasets/fashion-mnist"), None).unwrap().load(Split::Train).unwrap();
    let ds = all.subset(&(0..2000).collect::<Vec<_>>());
    let work = tempfile::tempdir().unwrap();
    let mut config = ProtectConfig { count: 20, steps: 5, folds: 2, random_baseline: false, ..ProtectConfig::default() };
    config.proxy_train.epochs = 2;
    let out = protect_memory(&ds, "fashion-mnist[0..2000]", work.path(), &config, &mut |_| {}).unwrap();
    assert_eq!((out.key.released.len(), out.key.withheld.len()), (20, 20));
    assert!(out.summary.linf_max <= 4, "L-inf {}", out.summary.linf_max);
    assert!(out.summary.gap_after > out.summary.gap_before, "gap {} -> {}", out.summary.gap_before, out.summary.gap_after);
    assert!(out.summary.proxy_fold_accuracy.iter().all(|&a| a > 0.6), "{:?}", out.summary.proxy_fold_accuracy);
}
