//! Throughput of the operations the method repeats thousands of times — a
//! training step and an input-gradient (PGD) step — for the small CNN and
//! ResNet-18 at batch 128 on 28x28x1 inputs, plus an end-to-end run (read
//! Fashion-MNIST from its IDX files, one epoch on 10k images). Then runs the
//! same networks in PyTorch (scripts/bench_torch.py, same machine, same run)
//! and prints the ratio. On CPUs with bf16 units the steps also run in bf16
//! mixed precision (`_bf16` rows: honeyimage's `Precision::Bf16` against
//! PyTorch's `torch.autocast("cpu", torch.bfloat16)`).
//! `cargo bench -p honeyimage --bench train_step`.
use std::collections::BTreeMap;
use std::time::Instant;

use honeyimage::model::channel_stats;
use honeyimage::precision::{bf16_units, Precision};
use honeyimage::tensors::TensorSet;
use honeyimage::train::{train, TrainConfig, Trainer};
use honeyimage::{Arch, Model, ModelConfig};
use tch::{Device, Kind, Tensor};

const BATCH: i64 = 128;
const FMNIST: &str = "/usr/share/datasets/fashion-mnist";

fn model(arch: Arch) -> Model {
    let classes = (0..10).map(|i| i.to_string()).collect();
    Model::new(ModelConfig::new(arch, 1, 28, 28, classes, (vec![0.286], vec![0.353])), Device::Cpu, 0).unwrap()
}

fn time_steps(steps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..2 {
        f();
    }
    let t = Instant::now();
    for _ in 0..steps {
        f();
    }
    (steps as f64 * BATCH as f64) / t.elapsed().as_secs_f64()
}

/// fp32, and bf16 where the CPU has bf16 units (elsewhere libtorch
/// emulates it, which says nothing about the tool's speed).
fn precisions() -> Vec<Precision> {
    match bf16_units().is_empty() {
        true => vec![Precision::Fp32],
        false => vec![Precision::Fp32, Precision::Bf16],
    }
}

/// How a row's name says its precision (as bench_torch.py names them).
fn suffix(precision: Precision) -> &'static str {
    if precision == Precision::Bf16 { "_bf16" } else { "" }
}

/// Training and input-gradient steps of both networks, in each precision.
fn rust_steps(precisions: &[Precision], rust: &mut BTreeMap<String, f64>) {
    let (x, y) = honeyimage::seeded(0, || (Tensor::rand([BATCH, 1, 28, 28], (Kind::Float, Device::Cpu)), Tensor::randint(10, [BATCH], (Kind::Int64, Device::Cpu))));
    for (arch, steps) in [(Arch::SmallCnn, 60), (Arch::Resnet18, 6)] {
        for &precision in precisions {
            let suffix = suffix(precision);
            let m = model(arch);
            let cfg = TrainConfig { precision, ..TrainConfig::default() };
            let mut tr = Trainer::new(&m, &cfg, 1000).unwrap();
            let ips = time_steps(steps, || {
                tr.step(&m, &x, &y).unwrap();
            });
            rust.insert(format!("{arch}/train_step{suffix}"), ips);
            let ips = time_steps(steps, || {
                let xi = x.detach().set_requires_grad(true);
                let loss = m.forward_at(&xi, false, precision).cross_entropy_for_logits(&y);
                let g = tch::Tensor::run_backward(&[&loss], &[&xi], false, false);
                let _ = (&xi + g[0].sign() * (0.4 / 255.0)).clamp(0.0, 1.0);
            });
            rust.insert(format!("{arch}/input_grad_step{suffix}"), ips);
        }
    }
}

/// One small-CNN epoch on 10k Fashion-MNIST images, reading the IDX files
/// included, in each precision (nothing where the data set is missing).
fn rust_end_to_end(precisions: &[Precision], rust: &mut BTreeMap<String, f64>) {
    if !std::path::Path::new(FMNIST).exists() {
        return;
    }
    for &precision in precisions {
        let t = Instant::now();
        let src = honeyimage_data::DataSource::open(std::path::Path::new(FMNIST), None).unwrap();
        let ds = src.load(honeyimage_data::Split::Train).unwrap();
        let ds = ds.subset(&(0..10_000).collect::<Vec<_>>());
        let config = ModelConfig::new(Arch::SmallCnn, 1, 28, 28, ds.class_names.clone(), channel_stats(&ds));
        let m = Model::new(config, Device::Cpu, 0).unwrap();
        let set = TensorSet::from_dataset(&ds, Device::Cpu).unwrap();
        let cfg = TrainConfig { epochs: 1, precision, ..TrainConfig::default() };
        train(&m, &set, &cfg, &mut |_| {}).unwrap();
        rust.insert(format!("small-cnn/end_to_end_epoch_10k{}", suffix(precision)), 10_000.0 / t.elapsed().as_secs_f64());
    }
}

/// The same rows from scripts/bench_torch.py (empty, with a message on
/// stderr, where Python or torch is missing).
fn python_side(precisions: &[Precision]) -> BTreeMap<String, f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/bench_torch.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script);
    if precisions.contains(&Precision::Bf16) {
        cmd.arg("--bf16");
    }
    match cmd.output() {
        Ok(o) if o.status.success() => serde_json::from_slice(&o.stdout).unwrap_or_default(),
        Ok(o) => {
            eprintln!("PyTorch side failed: {}", String::from_utf8_lossy(&o.stderr));
            BTreeMap::new()
        }
        Err(e) => {
            eprintln!("PyTorch side not run (python3: {e})");
            BTreeMap::new()
        }
    }
}

fn print_table(rust: &BTreeMap<String, f64>, py: &BTreeMap<String, f64>) {
    println!("{:<34} {:>12} {:>12} {:>7}", "benchmark (images/s, batch 128)", "tch (Rust)", "PyTorch", "ratio");
    let keys: std::collections::BTreeSet<_> = rust.keys().chain(py.keys()).cloned().collect();
    for k in keys {
        let r = rust.get(&k).copied();
        let p = py.get(&k).copied();
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        let ratio = match (r, p) {
            (Some(r), Some(p)) => format!("{:.2}", r / p),
            _ => "-".into(),
        };
        println!("{k:<34} {:>12} {:>12} {ratio:>7}", fmt(r), fmt(p));
    }
}

fn main() {
    let only_python = std::env::args().any(|a| a == "--python-only");
    // As the CLI runs (allocator.rs); the PyTorch side runs as written.
    let tuning = honeyimage::allocator::tune();
    let precisions = precisions();
    let mut rust = BTreeMap::new();
    if !only_python {
        rust_steps(&precisions, &mut rust);
        rust_end_to_end(&precisions, &mut rust);
    }
    print_table(&rust, &python_side(&precisions));
    println!("threads: libtorch {}; bf16 units: {:?} (_bf16 rows: autocast in both); honeyimage's malloc thresholds: {tuning:?}", tch::get_num_threads(), bf16_units());
}
