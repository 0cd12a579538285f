//! `honeyimage inspect`: what is in a dataset, before anything trains on it.

use anyhow::{bail, Result};
use honeyimage_data::Split;

use crate::data_args::{load_split, DataArgs};
use crate::progress::Ui;
use crate::settings::ExitStatus;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Print a JSON document instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _ui: &Ui) -> Result<ExitStatus> {
    let src = args.data.open()?;
    let mut splits = Vec::new();
    for split in [Split::Train, Split::Test] {
        if !src.has_split(split) {
            continue;
        }
        let ds = load_split(&src, split, args.data.limit, args.data.limit_seed)?;
        if ds.is_empty() {
            eprintln!("warning: {}: the {split} split has no images", src.path().display());
        }
        let gaps = ds.missing_classes();
        if !gaps.is_empty() && args.data.num_classes.is_none() {
            let shown: Vec<String> = gaps.iter().take(10).map(|g| g.to_string()).collect();
            eprintln!(
                "warning: {}: {split} split: {} of {} classes have no samples (labels {}{}); train and protect will refuse it unless --num-classes is given",
                src.path().display(),
                gaps.len(),
                ds.num_classes(),
                shown.join(", "),
                if gaps.len() > 10 { ", ..." } else { "" }
            );
        }
        splits.push((split, ds));
    }
    if splits.is_empty() {
        bail!("{}: no train or test split with both images and labels", src.path().display());
    }
    if args.json {
        let doc = serde_json::json!({
            "path": src.path(),
            "format": src.format().to_string(),
            "splits": splits.iter().map(|(s, ds)| serde_json::json!({
                "split": s.to_string(),
                "count": ds.len(),
                "shape": [ds.height, ds.width, ds.channels],
                "classes": ds.class_names,
                "class_counts": ds.class_counts(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitStatus::Success);
    }
    println!("{} ({})", src.path().display(), src.format());
    for (split, ds) in &splits {
        println!("  {split}: {} images, {}x{}x{} (HxWxC), {} classes", ds.len(), ds.height, ds.width, ds.channels, ds.num_classes());
        for (name, count) in ds.class_names.iter().zip(ds.class_counts()) {
            println!("    {count:>7}  {name}");
        }
    }
    Ok(ExitStatus::Success)
}
