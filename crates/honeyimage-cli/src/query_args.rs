//! Flags that say how to query a suspect model, shared by `verify` and
//! `serve`: preprocessing for foreign models and the HTTP client's limits.
use std::time::Duration;

use anyhow::{bail, Result};
use honeyimage::query::{HttpConfig, Layout, OpenOptions, OutputKind, Preprocess};

#[derive(clap::Args, Debug, Clone)]
pub struct PreArgs {
    /// Resize images to HxW before querying (e.g. 32x32).
    #[arg(long)]
    pub resize: Option<String>,
    /// Repeat grey images to three channels.
    #[arg(long)]
    pub gray_to_rgb: bool,
    /// Input layout of a TorchScript/ONNX model: nchw or nhwc.
    #[arg(long, default_value = "nchw")]
    pub layout: Layout,
    /// Multiply u8 pixels by this before mean/std (TorchScript/ONNX).
    #[arg(long, default_value_t = 1.0 / 255.0)]
    pub scale: f32,
    /// Per-channel mean to subtract, comma-separated (TorchScript/ONNX).
    #[arg(long, value_delimiter = ',')]
    pub mean: Vec<f32>,
    /// Per-channel std to divide by, comma-separated (TorchScript/ONNX).
    #[arg(long, value_delimiter = ',')]
    pub std: Vec<f32>,
    /// Model outputs: auto (softmax unless rows are probabilities), logits, probabilities.
    #[arg(long, default_value = "auto")]
    pub output: OutputKind,
}

impl PreArgs {
    pub fn preprocess(&self) -> Result<Preprocess> {
        let size = match &self.resize {
            None => None,
            Some(s) => {
                let Some((h, w)) = s.split_once(['x', 'X']) else { bail!("--resize {s:?}: expected HxW, e.g. 32x32") };
                Some((h.trim().parse()?, w.trim().parse()?))
            }
        };
        Ok(Preprocess {
            size,
            gray_to_rgb: self.gray_to_rgb,
            layout: self.layout,
            scale: self.scale,
            mean: self.mean.clone(),
            std: self.std.clone(),
            output: self.output,
        })
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct HttpArgs {
    /// HTTP: seconds before a request times out.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// HTTP: retries after timeouts, connection errors and 5xx replies.
    #[arg(long, default_value_t = 3)]
    pub retries: usize,
    /// HTTP: at most this many requests per second.
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Images per query batch.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
}

pub fn open_options(pre: &PreArgs, http: &HttpArgs) -> Result<OpenOptions> {
    if !(http.timeout > 0.0) {
        bail!("--timeout {} must be > 0", http.timeout);
    }
    if http.rate_limit.is_some_and(|r| !(r > 0.0)) {
        bail!("--rate-limit must be > 0");
    }
    Ok(OpenOptions {
        preprocess: pre.preprocess()?,
        http: HttpConfig {
            timeout: Duration::from_secs_f64(http.timeout),
            retries: http.retries,
            rate_limit: http.rate_limit,
            batch: http.batch.max(1),
            ..HttpConfig::default()
        },
    })
}
