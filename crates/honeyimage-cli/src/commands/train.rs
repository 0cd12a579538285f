//! `honeyimage train`: train a model on a dataset and save it as a folder
//! (weights + config), reporting test accuracy at the end. Suspect models in
//! tests and evaluations are trained with this same command.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use honeyimage::model::{channel_stats, ModelCard};
use honeyimage::tensors::TensorSet;
use honeyimage::{Arch, Model, ModelConfig, TrainConfig, TrainEvent};
use honeyimage_data::Split;

use crate::data_args::{load_split, DataArgs};
use crate::progress::Ui;
use crate::settings::{from_toml, set};
use crate::settings::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Architecture: small-cnn, resnet18, wrn-28-2, vgg11, densenet121, vit.
    #[arg(long, default_value = "small-cnn")]
    arch: Arch,
    /// Width parameter of the architecture (default: the paper's).
    #[arg(long)]
    arch_width: Option<usize>,
    /// Output model folder.
    #[arg(long)]
    out: PathBuf,
    /// Training settings file (TOML, fields of `TrainConfig`; flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate (cosine schedule with warm-up).
    #[arg(long)]
    lr: Option<f64>,
    /// SGD momentum.
    #[arg(long)]
    momentum: Option<f64>,
    /// Plain (non-Nesterov) momentum.
    #[arg(long)]
    no_nesterov: bool,
    /// Weight decay.
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Warm-up epochs.
    #[arg(long)]
    warmup_epochs: Option<f64>,
    /// Label smoothing.
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Random-crop padding in pixels (0 = no crops).
    #[arg(long)]
    crop_padding: Option<usize>,
    /// Random horizontal flips.
    #[arg(long)]
    flip: bool,
    /// Seed of initial weights, batch order and augmentation.
    #[arg(long)]
    seed: Option<u64>,
    /// Arithmetic of the forward and backward passes: `bf16` (mixed
    /// precision, fp32 weights), `fp32`, or `auto` (bf16 where the CPU has
    /// bf16 units or on a GPU). The reported accuracy is fp32 either way.
    #[arg(long, value_name = "auto|fp32|bf16")]
    precision: Option<crate::settings::PrecisionFlag>,
    /// Evaluate on this many test images at most (stratified; default all).
    #[arg(long)]
    test_limit: Option<usize>,
    /// Overwrite an existing output folder.
    #[arg(long)]
    force: bool,
    /// Print a JSON summary.
    #[arg(long)]
    json: bool,
    /// Save a checkpoint to OUT.checkpoint at least every this many seconds
    /// (and after every epoch); a rerun of the same command resumes from it.
    /// 0 disables checkpoints.
    #[arg(long, default_value_t = 60.0)]
    checkpoint_every: f64,
}

/// The library's defaults, then `--config`, then the flags.
fn settings(args: &Args) -> Result<TrainConfig> {
    let mut c: TrainConfig = from_toml(args.config.as_deref())?;
    set(&mut c.epochs, args.epochs);
    set(&mut c.batch_size, args.batch_size);
    set(&mut c.lr, args.lr);
    set(&mut c.momentum, args.momentum);
    set(&mut c.weight_decay, args.weight_decay);
    set(&mut c.warmup_epochs, args.warmup_epochs);
    set(&mut c.label_smoothing, args.label_smoothing);
    set(&mut c.crop_padding, args.crop_padding);
    set(&mut c.seed, args.seed);
    set(&mut c.precision, args.precision.map(|p| p.resolve()));
    c.nesterov &= !args.no_nesterov;
    c.flip |= args.flip;
    c.validate()?;
    Ok(c)
}

/// Checkpoints in `OUT.checkpoint`, bound to this run (data, architecture
/// and settings): another run's checkpoint is ignored.
fn checkpoints(args: &Args, data_fingerprint: &str, model: &Model, config: &TrainConfig) -> Option<honeyimage::train::Checkpoints> {
    (args.checkpoint_every > 0.0).then(|| {
        let mut dir = args.out.clone().into_os_string();
        dir.push(".checkpoint");
        let id = serde_json::json!({ "data": data_fingerprint, "model": &model.config, "train": config });
        honeyimage::train::Checkpoints {
            dir: PathBuf::from(dir),
            every: std::time::Duration::from_secs_f64(args.checkpoint_every.min(1e6)),
            run_id: honeyimage::fsio::sha256_hex(id.to_string().as_bytes()),
        }
    })
}

/// The outcome, as JSON or one line.
fn print_result(args: &Args, card: &ModelCard) -> Result<()> {
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "out": args.out, "training": card }))?);
        return Ok(());
    }
    let report = card.report.as_ref().expect("train writes a report");
    let test = card.test_accuracy.map(|a| format!(", test accuracy {a:.4} on {} images", card.test_samples.unwrap_or(0))).unwrap_or_default();
    println!(
        "trained {} in {:.1}s ({:.0} img/s): train accuracy {:.4}{test}; saved to {}",
        args.arch, report.seconds, report.images_per_s, report.final_train_accuracy, args.out.display()
    );
    Ok(())
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitStatus> {
    if args.out.exists() && !args.force {
        bail!("{} already exists (use --force to overwrite)", args.out.display());
    }
    let config = settings(&args)?;
    let (src, train_ds) = args.data.load_for_training()?;
    let test_ds = if args.data.split == Split::Train && src.has_split(Split::Test) {
        Some(load_split(&src, Split::Test, args.test_limit, 0)?)
    } else {
        None
    };
    let device = honeyimage::default_device();
    let mut mc = ModelConfig::new(args.arch, train_ds.channels, train_ds.height, train_ds.width, train_ds.class_names.clone(), channel_stats(&train_ds));
    if let Some(w) = args.arch_width {
        mc.arch_width = w;
    }
    if train_ds.is_empty() {
        bail!("{}: the {} split has no images", args.data.data.display(), args.data.split);
    }
    let model = Model::new(mc, device, config.seed).with_context(|| format!("a {} for the images of {}", args.arch, args.data.data.display()))?;
    ui.status(format!(
        "training {} ({} parameters) on {} images of {} for {} epochs on {:?}",
        args.arch, model.num_parameters(), train_ds.len(), args.data.data.display(), config.epochs, device
    ));
    let set = TensorSet::from_dataset(&train_ds, device)?;
    let steps = (train_ds.len().div_ceil(config.batch_size) * config.epochs) as u64;
    let pb = ui.bar(steps, "train");
    let fingerprint = honeyimage::key::fingerprint_dataset(&train_ds);
    let checkpoints = checkpoints(&args, &fingerprint, &model, &config);
    let report = honeyimage::train::train_resumable(&model, &set, &config, checkpoints.as_ref(), &mut |ev| match ev {
        TrainEvent::Step { epoch, step, loss, accuracy, images_per_s, .. } => {
            pb.set_position(step as u64);
            if step % 10 == 0 {
                pb.set_message(format!("epoch {} loss {loss:.3} acc {accuracy:.3} {images_per_s:.0} img/s", epoch + 1));
            }
        }
        TrainEvent::Epoch { epoch, loss, accuracy } => {
            ui.line(&pb, format!("epoch {:>3}: loss {loss:.4}, train accuracy {accuracy:.4}", epoch + 1));
        }
        TrainEvent::Resumed { step, total_steps } => {
            pb.set_position(step as u64);
            ui.line(&pb, format!("resumed from the checkpoint at step {step} of {total_steps}"));
        }
        TrainEvent::CheckpointIgnored { reason } => ui.line(&pb, format!("warning: starting afresh: {reason}")),
    })?;
    pb.finish_and_clear();
    let test_acc = match &test_ds {
        Some(t) => Some(model.accuracy(&TensorSet::from_dataset(t, device)?, 512)),
        None => None,
    };
    let info = ModelCard {
        data: Some(args.data.data.display().to_string()),
        format: Some(src.format().to_string()),
        split: Some(args.data.split.to_string()),
        limit: args.data.limit,
        limit_seed: args.data.limit.map(|_| args.data.limit_seed),
        data_fingerprint: Some(fingerprint),
        train_config: Some(config.clone()),
        report: Some(report.clone()),
        test_accuracy: test_acc,
        test_samples: test_ds.as_ref().map(|t| t.len()),
        ..ModelCard::new("trained by `honeyimage train`")
    };
    model.save(&args.out, &info).with_context(|| format!("saving model to {}", args.out.display()))?;
    if let Some(c) = &checkpoints {
        let _ = std::fs::remove_dir_all(&c.dir);
    }
    print_result(&args, &info)?;
    Ok(ExitStatus::Success)
}
