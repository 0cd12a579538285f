//! `honeyimage eval-model`: a saved model's accuracy on a dataset.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use honeyimage::tensors::TensorSet;
use honeyimage::Model;

use crate::data_args::DataArgs;
use crate::progress::Ui;
use crate::settings::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    /// Model folder written by `honeyimage train`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Print a JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitStatus> {
    let device = honeyimage::default_device();
    let (model, _) = Model::load(&args.model, device).with_context(|| format!("loading model {}", args.model.display()))?;
    let (_, ds) = args.data.load()?;
    let c = &model.config;
    if (ds.height, ds.width, ds.channels) != (c.height, c.width, c.channels) || ds.num_classes() != c.num_classes() {
        bail!(
            "{}: data is {}x{}x{} with {} classes but the model expects {}x{}x{} with {}",
            args.data.data.display(), ds.height, ds.width, ds.channels, ds.num_classes(), c.height, c.width, c.channels, c.num_classes()
        );
    }
    let set = TensorSet::from_dataset(&ds, device)?;
    let acc = model.accuracy(&set, 512);
    if args.json {
        let doc = serde_json::json!({ "model": args.model, "data": args.data.data, "split": args.data.split.to_string(), "count": ds.len(), "accuracy": acc });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("accuracy {:.4} on {} images ({} split of {})", acc, ds.len(), args.data.split, args.data.data.display());
    }
    Ok(ExitStatus::Success)
}
