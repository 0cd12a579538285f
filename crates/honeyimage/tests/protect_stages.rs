//! Each protect stage run alone on a small synthetic dataset (a few hundred
//! 16x16 grey images, seconds): the proxies score mislabelled samples as
//! hard, the optimisation widens the in-vs-out loss gap (a flipped sign
//! fails here), quantisation keeps every pixel within floor(255 * eps) of
//! the original, the SSIM floor holds, and R and W are treated identically.
use honeyimage::config::{ProtectConfig, TrainConfig};
use honeyimage::protect::candidates::{self, Candidates};
use honeyimage::protect::optimise::{self, Optimised};
use honeyimage::protect::proxies::{self, Proxies};
use honeyimage::protect::{hardness, release, summary, WorkDir};
use honeyimage::tensors::TensorSet;
use honeyimage::Arch;
use honeyimage_data::Dataset;
use tch::Device;

const N_PER_CLASS: usize = 80;
const CLASSES: usize = 4;
const SIDE: usize = 16;

/// Class c is a bright 6x6 square in quadrant c on a noisy background; every
/// 20th sample carries the next class's label (the "hard" ones).
fn synthetic() -> Dataset {
    let mut state = 12345u64;
    let mut rnd = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let n = N_PER_CLASS * CLASSES;
    let (mut images, mut labels, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % CLASSES;
        let (oy, ox) = (2 + 8 * (c / 2), 2 + 8 * (c % 2));
        for y in 0..SIDE {
            for x in 0..SIDE {
                let inside = (oy..oy + 6).contains(&y) && (ox..ox + 6).contains(&x);
                images.push(if inside { 150 + (rnd() % 100) as u8 } else { 20 + (rnd() % 60) as u8 });
            }
        }
        labels.push(if i % 20 == 7 { ((c + 1) % CLASSES) as u32 } else { c as u32 });
        ids.push(format!("train:{i:05}"));
    }
    Dataset { images, labels, height: SIDE, width: SIDE, channels: 1, class_names: (0..CLASSES).map(|c| format!("c{c}")).collect(), ids }
}

fn config() -> ProtectConfig {
    ProtectConfig {
        count: 12,
        steps: 8,
        alpha: 0.8,
        proxy_archs: vec![Arch::SmallCnn],
        proxy_width: Some(8),
        proxy_train: TrainConfig { epochs: 3, batch_size: 32, ..TrainConfig::default() },
        inner_batch: 32,
        random_baseline: false,
        min_ssim: 0.0,
        seed: 3,
        ..ProtectConfig::default()
    }
}

struct Fixture {
    ds: Dataset,
    data: TensorSet,
    folds: Vec<Vec<usize>>,
    proxies: Proxies,
    hardness: hardness::Hardness,
    _dir: tempfile::TempDir,
}

fn fixture(cfg: &ProtectConfig) -> Fixture {
    let ds = synthetic();
    let data = TensorSet::from_dataset(&ds, Device::Cpu).unwrap();
    let folds = honeyimage_data::kfold(ds.len(), cfg.folds, cfg.seed);
    let dir = tempfile::tempdir().unwrap();
    let wd = WorkDir::open(dir.path(), &0u8).unwrap();
    let proxies = proxies::train_proxies(&ds, &data, &folds, cfg, &wd, &mut |_| {}).unwrap();
    let hardness = hardness::score(&proxies, &data, &folds).unwrap();
    Fixture { ds, data, folds, proxies, hardness, _dir: dir }
}

fn optimise(f: &Fixture, cands: &Candidates, cfg: &ProtectConfig) -> Optimised {
    optimise::run(&f.data, &f.folds, &f.proxies, cands, cfg, None, &mut |_| {}).unwrap()
}

#[test]
fn stages_from_proxies_to_release() {
    let cfg = config();
    let f = fixture(&cfg);

    // Hardness: mislabelled samples score far higher than the rest.
    let noisy: Vec<f64> = (0..f.ds.len()).filter(|i| i % 20 == 7).map(|i| f.hardness.scores[i]).collect();
    let clean: Vec<f64> = (0..f.ds.len()).filter(|i| i % 20 != 7).map(|i| f.hardness.scores[i]).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&noisy) > 2.0 * mean(&clean), "noisy {} vs clean {}", mean(&noisy), mean(&clean));
    assert!(f.hardness.proxy_fold_accuracy.iter().all(|&a| a > 0.7), "{:?}", f.hardness.proxy_fold_accuracy);

    // Candidates: 2N, class-balanced, R and W a partition.
    let cands = candidates::choose(&f.hardness, &f.ds.labels, CLASSES, &cfg).unwrap();
    assert_eq!((cands.all.len(), cands.released.len(), cands.withheld.len()), (24, 12, 12));
    let quotas = candidates::class_quotas(&f.ds.class_counts(), 24);
    for (c, &q) in quotas.iter().enumerate() {
        assert_eq!(cands.all.iter().filter(|&&i| f.ds.labels[i] == c as u32).count(), q, "class {c}");
    }

    // Optimisation: the perturbation widens the gap the unperturbed run shows.
    let opt = optimise(&f, &cands, &cfg);
    let (before, after) = (opt.unperturbed.mean_gap(), opt.honey.mean_gap());
    assert!(after > before + 0.05, "gap before {before:.4}, after {after:.4}: the PGD step must increase out - in");
    let trace = &opt.honey.gap_trace;
    assert!(trace[trace.len() - 1] > trace[0], "gap along the iterations {trace:?}");

    // Fold by fold (separate jobs), put together in order: the same result.
    let mut by_fold = optimise::run(&f.data, &f.folds, &f.proxies, &cands, &cfg, Some(0), &mut |_| {}).unwrap();
    for k in 1..f.folds.len() {
        by_fold.append(optimise::run(&f.data, &f.folds, &f.proxies, &cands, &cfg, Some(k), &mut |_| {}).unwrap());
    }
    assert_eq!((&by_fold.honey.indices, &by_fold.honey.images), (&opt.honey.indices, &opt.honey.images));
    assert_eq!((&by_fold.unperturbed.images, &by_fold.honey.in_loss), (&opt.unperturbed.images, &opt.honey.in_loss));
    let drift = by_fold.honey.gap_trace.iter().zip(trace).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(drift < 1e-9, "gap traces differ by {drift}");

    // Quantisation: 8-bit, within floor(255 * eps) = 4 of the original.
    for (&i, img) in opt.honey.indices.iter().zip(&opt.honey.images) {
        let d = f.ds.image(i).iter().zip(img).map(|(&a, &b)| (a as i32 - b as i32).abs()).max().unwrap();
        assert!(d <= 4, "sample {i}: pixel moved by {d}");
    }
    assert!(opt.honey.images.iter().zip(&opt.honey.indices).any(|(img, &i)| img[..] != *f.ds.image(i)), "nothing was perturbed");

    // Release edits: W removed, R replaced by its HoneyImage, nothing else.
    let edits = release::edits(&cands, &opt.honey);
    assert_eq!(edits.remove.len(), 12);
    assert_eq!(edits.replace.len(), 12);
    assert!(cands.released.iter().all(|i| edits.replace.contains_key(i)));
    let s = summary::summarise(&f.ds, &cands, &f.hardness, &opt);
    assert!(s.linf_max <= 4 && s.linf_max > 0);
    assert_eq!(s.released_class_counts.iter().sum::<usize>(), 12);
}

#[test]
fn budget_ssim_floor_and_identical_treatment_of_r_and_w() {
    // A budget that is not a whole number of 8-bit steps: floor(2.5) = 2.
    let cfg = ProtectConfig { epsilon: 2.5, min_ssim: 0.995, steps: 4, ..config() };
    let f = fixture(&cfg);
    let cands = candidates::choose(&f.hardness, &f.ds.labels, CLASSES, &cfg).unwrap();
    let opt = optimise(&f, &cands, &cfg);
    for (&i, img) in opt.honey.indices.iter().zip(&opt.honey.images) {
        let orig = f.ds.image(i);
        let d = orig.iter().zip(img).map(|(&a, &b)| (a as i32 - b as i32).abs()).max().unwrap();
        assert!(d <= 2, "sample {i}: pixel moved by {d} with epsilon 2.5/255");
        let ssim = honeyimage_stats::ssim(orig, img, SIDE, SIDE, 1).unwrap();
        assert!(ssim >= 0.995, "sample {i}: SSIM {ssim} below the floor");
    }

    // The optimisation never sees the R/W split: swapping R and W changes
    // nothing in what any candidate receives.
    let swapped = Candidates { all: cands.all.clone(), released: cands.withheld.clone(), withheld: cands.released.clone() };
    let again = optimise(&f, &swapped, &cfg);
    assert_eq!(again.honey.indices, opt.honey.indices);
    assert_eq!(again.honey.images, opt.honey.images, "R and W must be treated identically");
    assert_eq!(again.honey.out_loss, opt.honey.out_loss);
}

#[test]
fn no_perturb_releases_originals_and_eot_widens_the_gap_within_budget() {
    let cfg = config();
    let f = fixture(&cfg);
    let cands = candidates::choose(&f.hardness, &f.ds.labels, CLASSES, &cfg).unwrap();

    // --no-perturb: every candidate is released as it was.
    let plain = optimise(&f, &cands, &ProtectConfig { perturb: false, ..cfg.clone() });
    for (&i, img) in plain.honey.indices.iter().zip(&plain.honey.images) {
        assert_eq!(img[..], *f.ds.image(i), "sample {i} changed without perturbation");
    }

    // EOT: deterministic, within the budget, other images than plain PGD,
    // and the gap still grows (its sign is right under transformations too).
    let eot = ProtectConfig { eot: Some(honeyimage::config::Eot { samples: 2, crop_padding: 2, flip: true }), ..cfg.clone() };
    let a = optimise(&f, &cands, &eot);
    let b = optimise(&f, &cands, &eot);
    assert_eq!(a.honey.images, b.honey.images, "EOT must be deterministic for a seed");
    for (&i, img) in a.honey.indices.iter().zip(&a.honey.images) {
        let d = f.ds.image(i).iter().zip(img).map(|(&x, &y)| (x as i32 - y as i32).abs()).max().unwrap();
        assert!(d <= 4, "sample {i}: pixel moved by {d}");
    }
    let pgd = optimise(&f, &cands, &cfg);
    assert_ne!(a.honey.images, pgd.honey.images);
    let trace = &a.honey.gap_trace;
    assert!(trace[trace.len() - 1] > trace[0], "EOT gap along the iterations {trace:?}");
    assert!(a.honey.mean_gap() > a.unperturbed.mean_gap(), "EOT {} vs unperturbed {}", a.honey.mean_gap(), a.unperturbed.mean_gap());
}

#[test]
fn the_fit_objective_and_the_momentum_step_do_what_they_say() {
    let cfg = config();
    let f = fixture(&cfg);
    let cands = candidates::choose(&f.hardness, &f.ds.labels, CLASSES, &cfg).unwrap();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let gap = optimise(&f, &cands, &cfg);

    // Fit: the in-models' loss falls below the unperturbed run's, and the
    // out-models are left far less adversarial than by the gap objective.
    let fit = optimise(&f, &cands, &ProtectConfig { objective: honeyimage::config::Objective::Fit, ..cfg.clone() });
    let (fit_in, base_in) = (mean(&fit.honey.in_loss), mean(&fit.unperturbed.in_loss));
    assert!(fit_in < base_in, "fit in-loss {fit_in:.4} vs unperturbed {base_in:.4}: the step must lower it");
    let (fit_out, gap_out) = (mean(&fit.honey.out_loss), mean(&gap.honey.out_loss));
    assert!(fit_out < gap_out, "fit out-loss {fit_out:.4} vs gap objective's {gap_out:.4}");
    assert_eq!(fit.unperturbed.images, gap.unperturbed.images, "the reference run does not depend on the objective");

    // Momentum: deterministic, within the budget, other images than sign
    // PGD, and it widens the gap.
    let mom = ProtectConfig { step: honeyimage::config::Step::Momentum, ..cfg.clone() };
    let (a, b) = (optimise(&f, &cands, &mom), optimise(&f, &cands, &mom));
    assert_eq!(a.honey.images, b.honey.images, "momentum must be deterministic for a seed");
    assert_ne!(a.honey.images, gap.honey.images);
    for (&i, img) in a.honey.indices.iter().zip(&a.honey.images) {
        let d = f.ds.image(i).iter().zip(img).map(|(&x, &y)| (x as i32 - y as i32).abs()).max().unwrap();
        assert!(d <= 4, "sample {i}: pixel moved by {d}");
    }
    assert!(a.honey.mean_gap() > a.unperturbed.mean_gap() + 0.05, "momentum {} vs unperturbed {}", a.honey.mean_gap(), a.unperturbed.mean_gap());
}
