//! Flags that say how to query a suspect model, shared by `verify`,
//! `calibrate` and `serve`: preprocessing for foreign models, and for
//! endpoints the protocol, TLS, credentials and the HTTP client's limits.
//! Credentials come from a file or the environment, never from an argument
//! (arguments show in `ps` and shell history).
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use honeyimage::query::{Credentials, HttpConfig, Layout, OpenOptions, OutputKind, Preprocess, Protocol, RemoteOptions};

#[derive(clap::Args, Debug, Clone)]
pub struct PreArgs {
    /// Resize images to HxW before querying (e.g. 32x32).
    #[arg(long)]
    pub resize: Option<String>,
    /// Repeat grey images to three channels.
    #[arg(long)]
    pub gray_to_rgb: bool,
    /// Input layout: nchw, nhwc, or auto (nchw for model files; what an Open
    /// Inference Protocol model's metadata declares; nhwc for TF Serving).
    #[arg(long, default_value = "auto")]
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
    /// Endpoint protocol: auto (from the URL's path), honeyimage, v2 (Open
    /// Inference Protocol), tfserving or torchserve (see docs/PROTOCOLS.md).
    #[arg(long, default_value = "auto")]
    pub protocol: Protocol,
    /// PEM file of CA certificates to trust besides the system's (a private CA).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// File of request headers, one `Name: value` a line (e.g.
    /// `Authorization: Bearer ...`); also read: $HONEYIMAGE_HEADERS and
    /// $HONEYIMAGE_BEARER_TOKEN. Never pass secrets as arguments.
    #[arg(long)]
    pub header_file: Option<PathBuf>,
    /// Class names in the endpoint's replies to the key's labels: JSON
    /// {"name": index}, TorchServe's index_to_name.json, or one name a line.
    #[arg(long)]
    pub class_map: Option<PathBuf>,
    /// Open Inference Protocol: the model input to fill (default: its only input).
    #[arg(long)]
    pub input_name: Option<String>,
    /// Open Inference Protocol / TF Serving: the output to read (default: the only one).
    #[arg(long)]
    pub output_name: Option<String>,
}

impl HttpArgs {
    /// Settings for a client with no endpoint options (`serve`'s model thread).
    pub fn local(batch: usize) -> Self {
        HttpArgs {
            timeout: 30.0,
            retries: 0,
            rate_limit: None,
            batch,
            protocol: Protocol::Auto,
            ca_cert: None,
            header_file: None,
            class_map: None,
            input_name: None,
            output_name: None,
        }
    }

    fn credentials(&self) -> Result<Credentials> {
        let from_file = match &self.header_file {
            Some(p) => {
                warn_if_shared(p);
                Credentials::from_file(p)?
            }
            None => Credentials::default(),
        };
        Ok(from_file.merged(Credentials::from_env()?))
    }

    fn remote(&self) -> Result<RemoteOptions> {
        let class_map = match &self.class_map {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                Some(honeyimage_format::classes::ClassMap::parse(&text).with_context(|| p.display().to_string())?)
            }
            None => None,
        };
        Ok(RemoteOptions { protocol: self.protocol, class_map, input_name: self.input_name.clone(), output_name: self.output_name.clone() })
    }
}

/// A credentials file others can read is allowed (the owner decides), with
/// a warning on stderr.
fn warn_if_shared(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        eprintln!("warning: {} is readable by other users; it holds credentials: chmod 600 it", path.display());
    }
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
            ca_cert: http.ca_cert.clone(),
            credentials: http.credentials()?,
            ..HttpConfig::default()
        },
        remote: http.remote()?,
    })
}
