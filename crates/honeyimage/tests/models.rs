//! Models and training: every architecture builds and runs on grey and colour
//! inputs, a saved model reloads bit-identically, training is deterministic
//! for a seed, and a small CNN really learns Fashion-MNIST, in fp32 and in
//! bf16 mixed precision.
use honeyimage::model::channel_stats;
use honeyimage::tensors::TensorSet;
use honeyimage::precision::Precision;
use honeyimage::train::{train, TrainConfig};
use honeyimage::{Arch, Model, ModelConfig};
use honeyimage_data::{DataSource, Split};
use tch::{Device, Kind, Tensor};

const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

fn cfg(arch: Arch, c: usize, hw: usize, k: usize, width: usize) -> ModelConfig {
    let mut m = ModelConfig::new(arch, c, hw, hw, (0..k).map(|i| format!("class{i}")).collect(), (vec![0.5; c], vec![0.25; c]));
    m.arch_width = width;
    m
}

#[test]
fn every_architecture_maps_images_to_logits() {
    for arch in Arch::ALL {
        // Small widths keep this fast; the structure is the paper's.
        let width = match arch {
            Arch::Wrn28_2 => 1,
            Arch::Densenet121 => 4,
            Arch::Vit => 16,
            _ => 8,
        };
        for (c, hw, k) in [(1, 28, 10), (3, 32, 7)] {
            let m = Model::new(cfg(arch, c, hw, k, width), Device::Cpu, 1).unwrap();
            let x = honeyimage::seeded(0, || Tensor::rand([3, c as i64, hw as i64, hw as i64], (Kind::Float, Device::Cpu)));
            let y = m.forward_t(&x, true);
            assert_eq!(y.size(), vec![3, k as i64], "{arch} on {c}x{hw}x{hw}");
            assert!(m.num_parameters() > 1000, "{arch}");
            // The head of the penultimate features gives the same logits.
            let f = m.features(&x, 2);
            assert_eq!((f.size()[0], f.dim()), (3, 2), "{arch}");
            let again = m.classify(&f) - m.logits(&x, 2);
            assert!(again.abs().max().double_value(&[]) < 1e-5, "{arch}");
            let p = m.probabilities(&x, 2);
            let sums = p.sum_dim_intlist(1, false, Kind::Float);
            assert!((sums - 1.0).abs().max().double_value(&[]) < 1e-5);
        }
    }
}

#[test]
fn arch_names_round_trip_and_bad_names_are_refused() {
    for a in Arch::ALL {
        assert_eq!(a.name().parse::<Arch>().unwrap(), a);
    }
    assert_eq!("ResNet18".parse::<Arch>().unwrap(), Arch::Resnet18);
    let e = "resnet19".parse::<Arch>().unwrap_err().to_string();
    assert!(e.contains("resnet19") && e.contains("small-cnn"), "{e}");
}

#[test]
fn invalid_model_configs_are_refused() {
    let mut c = cfg(Arch::SmallCnn, 1, 28, 10, 8);
    c.std = vec![0.0];
    assert!(Model::new(c, Device::Cpu, 0).is_err());
    let c = cfg(Arch::SmallCnn, 1, 4, 10, 8);
    assert!(Model::new(c, Device::Cpu, 0).is_err());
}

fn tiny_data(n: usize) -> TensorSet {
    // Drawn under the library's lock on the process-wide generator, so the
    // tests building models in other threads at the same time get their seeds.
    let (images, labels) = honeyimage::seeded(7, || {
        (Tensor::rand([n as i64, 1, 28, 28], (Kind::Float, Device::Cpu)), Tensor::randint(10, [n as i64], (Kind::Int64, Device::Cpu)))
    });
    TensorSet { images, labels }
}

#[test]
fn saved_model_reloads_with_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let m = Model::new(cfg(Arch::Resnet18, 1, 28, 10, 8), Device::Cpu, 3).unwrap();
    let data = tiny_data(64);
    // Train a little so batch-norm running statistics differ from their init.
    train(&m, &data, &TrainConfig { epochs: 1, batch_size: 32, ..Default::default() }, &mut |_| {}).unwrap();
    let card = honeyimage::model::ModelCard { fold: Some(1), ..honeyimage::model::ModelCard::new("test") };
    m.save(&dir.path().join("m"), &card).unwrap();
    // Saving again replaces the folder (moved aside, then removed).
    m.save(&dir.path().join("m"), &card).unwrap();
    let (m2, info) = Model::load(&dir.path().join("m"), Device::Cpu).unwrap();
    assert_eq!(info, card);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp or old folder left beside the model");
    assert_eq!(m2.config, m.config);
    let a = m.logits(&data.images, 16);
    let b = m2.logits(&data.images, 16);
    assert_eq!(Vec::<f32>::try_from(a.view([-1])).unwrap(), Vec::<f32>::try_from(b.view([-1])).unwrap());
    // A folder without a config is refused with its path named.
    let e = Model::load(dir.path(), Device::Cpu).unwrap_err().to_string();
    assert!(e.contains("config.json"), "{e}");
}

#[test]
fn training_is_deterministic_for_a_seed() {
    let data = tiny_data(96);
    let tc = TrainConfig { epochs: 2, batch_size: 32, crop_padding: 2, flip: true, seed: 5, ..Default::default() };
    let run = |seed: u64| {
        let m = Model::new(cfg(Arch::SmallCnn, 1, 28, 10, 8), Device::Cpu, seed).unwrap();
        train(&m, &data, &TrainConfig { seed, ..tc.clone() }, &mut |_| {}).unwrap();
        Vec::<f32>::try_from(m.logits(&data.images, 32).view([-1])).unwrap()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn models_built_at_once_from_two_threads_get_their_seeds_weights() {
    // libtorch's default generator is one per process: seeding and drawing
    // from two threads at once would give either model the other's weights.
    let build = |seed: u64| {
        let m = Model::new(cfg(Arch::SmallCnn, 1, 28, 10, 8), Device::Cpu, seed).unwrap();
        Vec::<f32>::try_from(m.var_store().variables()["conv1.weight"].view([-1])).unwrap()
    };
    let alone = [build(1), build(2)];
    assert_ne!(alone[0], alone[1]);
    std::thread::scope(|s| {
        let threads: Vec<_> = [1u64, 2].into_iter().map(|seed| s.spawn(move || (0..30).map(|_| build(seed)).collect::<Vec<_>>())).collect();
        for (want, t) in alone.iter().zip(threads) {
            assert!(t.join().unwrap().iter().all(|w| w == want), "a model built beside another did not get its seed's weights");
        }
    });
}

/// Test accuracy of a small CNN trained 3 epochs on 10k Fashion-MNIST
/// images in `precision`, its training report and its first conv weights.
fn learn_fashion_mnist(precision: Precision) -> (f64, honeyimage::TrainReport, Tensor) {
    if !std::path::Path::new(FMNIST).exists() {
        panic!("{FMNIST} is missing: run scripts/setup.sh (it installs Debian's dataset-fashion-mnist)");
    }
    let src = DataSource::open(std::path::Path::new(FMNIST), None).unwrap();
    let train_ds = src.load(Split::Train).unwrap();
    let train_ds = train_ds.subset(&honeyimage_data::stratified_limit(&train_ds.labels, 10_000, 0));
    let test_ds = src.load(Split::Test).unwrap();
    let mc = ModelConfig::new(Arch::SmallCnn, 1, 28, 28, train_ds.class_names.clone(), channel_stats(&train_ds));
    let m = Model::new(mc, Device::Cpu, 0).unwrap();
    let tc = TrainConfig { epochs: 3, precision, ..Default::default() };
    let report = train(&m, &TensorSet::from_dataset(&train_ds, Device::Cpu).unwrap(), &tc, &mut |_| {}).unwrap();
    let acc = m.accuracy(&TensorSet::from_dataset(&test_ds, Device::Cpu).unwrap(), 1000);
    let w = m.var_store().variables()["conv1.weight"].copy();
    (acc, report, w)
}

#[test]
fn small_cnn_learns_fashion_mnist_in_fp32_and_in_bf16() {
    let (acc32, report, w32) = learn_fashion_mnist(Precision::Fp32);
    // A broken trainer (no gradient, wrong labels, no normalisation) stays far below this.
    assert!(acc32 >= 0.80, "test accuracy {acc32} after 3 epochs on 10k images");
    assert!(report.final_train_accuracy > 0.8, "{report:?}");
    let (acc16, report, w16) = learn_fashion_mnist(Precision::Bf16);
    // The weights (the optimiser's master copies) stay fp32 ...
    assert_eq!(w16.kind(), Kind::Float);
    // ... but the passes ran in bf16: the same seed lands elsewhere.
    assert!((&w16 - &w32).abs().max().double_value(&[]) > 1e-4, "bf16 training gave fp32's weights: autocast was not on");
    assert!(report.final_train_accuracy > 0.8, "{report:?}");
    assert!((acc16 - acc32).abs() <= 0.02, "test accuracy bf16 {acc16} against fp32 {acc32}");
}
