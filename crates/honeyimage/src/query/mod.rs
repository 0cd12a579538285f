//! Black-box access to a suspect model behind one small interface: a batch
//! of u8 images in, class probabilities out. Four back-ends: a model folder
//! written by `honeyimage train`, a TorchScript file, an ONNX file (tract,
//! pure Rust) and an HTTP(S) endpoint ([`remote`]: our JSON protocol of
//! docs/HTTP_PROTOCOL.md, the Open Inference Protocol, TF Serving or
//! TorchServe, over [`http`]'s transport with TLS and credentials). Foreign
//! models get configurable preprocessing. A fifth, [`answers`], replays
//! answers that someone else recorded from the suspect.
pub mod answers;
#[cfg(feature = "torch")]
pub mod http;
#[cfg(feature = "torch")]
pub mod remote;

#[cfg(feature = "torch")]
pub use http::{Credentials, HttpConfig};
#[cfg(feature = "torch")]
pub use remote::{HttpOracle, Protocol, RemoteOptions};
#[cfg(feature = "torch")]
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
#[cfg(feature = "torch")]
use tch::{Device, Kind, Tensor};

#[cfg(feature = "torch")]
use crate::model::Model;
use crate::{Error, Result};

/// A suspect model that can be queried.
pub trait Oracle {
    /// Path or URL, for messages.
    fn describe(&self) -> String;
    /// The suspect's answer, as it gave it, for `n` u8 HWC images of
    /// `h`x`w`x`c`. Nothing is decided about the rows here: a caller that
    /// queries in several batches decides once over all of them (see
    /// [`log_probabilities`]), so no batch is treated differently.
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer>;
    /// Tells the suspect how many classes its answers must have; a remote
    /// one can then accept label-only and top-k replies (checked against
    /// it). Local models know their own output size and ignore it.
    fn expect_classes(&mut self, _k: usize) {}
    /// HTTP requests sent so far (with retries) and seconds spent in them,
    /// for a remote suspect; None for a local one.
    fn traffic(&self) -> Option<(usize, f64)> {
        None
    }
    /// The (h, w, c) images the model takes, when it says.
    fn input_shape(&self) -> Option<(usize, usize, usize)> {
        None
    }
    /// Class probabilities `[n][k]` of one batch (the output kind decided over this batch).
    fn predict(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Vec<Vec<f64>>> {
        match self.query(images, n, h, w, c)? {
            Answer::Scores { rows, kind } => to_probabilities(rows, kind, n, &self.describe()),
            Answer::Labels(_) => Err(Error::model(self.describe(), "answers with class labels only; verify it with --label-only")),
        }
    }
}

/// What a suspect answered for a batch of images.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// One row of class scores per image, and what the scores are
    /// (`Auto`: not known yet; decided over all rows by the caller).
    Scores {
        /// `[n][k]` scores.
        rows: Vec<Vec<f64>>,
        /// Logits, probabilities, or not known.
        kind: OutputKind,
    },
    /// Only the top-1 class of each image (a label-only API).
    Labels(Vec<u32>),
}

/// The first lines of a libtorch error, without the C++ backtrace that
/// follows "Exception raised from".
pub fn torch_message(e: &dyn std::fmt::Display) -> String {
    let text = e.to_string();
    let cut = text.find("Exception raised from").unwrap_or(text.len());
    text[..cut].split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Tensor layout a foreign model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Batch, channels, height, width (PyTorch).
    #[default]
    Nchw,
    /// Batch, height, width, channels (TensorFlow/Keras).
    Nhwc,
    /// NCHW for model files; for an Open Inference Protocol endpoint the
    /// layout its metadata declares; NHWC for TF Serving.
    Auto,
}

impl FromStr for Layout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nchw" => Ok(Layout::Nchw),
            "nhwc" => Ok(Layout::Nhwc),
            "auto" => Ok(Layout::Auto),
            _ => Err(Error::invalid("layout", format!("{s:?}; expected nchw, nhwc or auto"))),
        }
    }
}

pub use honeyimage_format::protocol::{OutputKind, PredictReply, PredictRequest, Scores};

/// How to turn u8 images into what a foreign model expects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preprocess {
    /// Resize (bilinear) to this height and width.
    pub size: Option<(usize, usize)>,
    /// Repeat a single channel three times.
    pub gray_to_rgb: bool,
    /// Tensor layout.
    pub layout: Layout,
    /// Multiply u8 pixel values by this (1/255 gives [0, 1]).
    pub scale: f32,
    /// Per-channel mean subtracted after scaling (empty: none).
    pub mean: Vec<f32>,
    /// Per-channel std dividing after the mean (empty: none).
    pub std: Vec<f32>,
    /// What the outputs are.
    pub output: OutputKind,
}

impl Default for Preprocess {
    fn default() -> Self {
        Preprocess { size: None, gray_to_rgb: false, layout: Layout::Nchw, scale: 1.0 / 255.0, mean: vec![], std: vec![], output: OutputKind::Auto }
    }
}

#[cfg(feature = "torch")]
impl Preprocess {
    /// Resize and channel expansion in pixel space: u8 NHWC in, u8 NHWC out
    /// with the new (h, w, c).
    pub fn pixels(&self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<(Vec<u8>, usize, usize, usize)> {
        if self.size.is_none() && !(self.gray_to_rgb && c == 1) {
            return Ok((images.to_vec(), h, w, c));
        }
        let mut t = Tensor::from_slice(images).view([n as i64, h as i64, w as i64, c as i64]).permute([0, 3, 1, 2]).to_kind(Kind::Float);
        let (mut h2, mut w2, mut c2) = (h, w, c);
        if let Some((th, tw)) = self.size {
            if th == 0 || tw == 0 || th > 4096 || tw > 4096 {
                return Err(Error::invalid("resize", format!("{th}x{tw}")));
            }
            t = t.upsample_bilinear2d([th as i64, tw as i64], false, None, None);
            (h2, w2) = (th, tw);
        }
        if self.gray_to_rgb && c == 1 {
            t = t.repeat([1, 3, 1, 1]);
            c2 = 3;
        }
        let t = t.round().clamp(0.0, 255.0).to_kind(Kind::Uint8).permute([0, 2, 3, 1]).contiguous();
        let mut out = vec![0u8; n * h2 * w2 * c2];
        let len = out.len();
        t.f_copy_data(&mut out, len)?;
        Ok((out, h2, w2, c2))
    }

    /// Full preprocessing to an f32 tensor in the model's layout.
    pub fn tensor(&self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Tensor> {
        let (px, h, w, c) = self.pixels(images, n, h, w, c)?;
        let mut t = Tensor::from_slice(&px).view([n as i64, h as i64, w as i64, c as i64]).to_kind(Kind::Float) * self.scale as f64;
        for (what, v) in [("mean", &self.mean), ("std", &self.std)] {
            if !v.is_empty() && v.len() != c && v.len() != 1 {
                return Err(Error::invalid(what, format!("{} values for {c} channels", v.len())));
            }
        }
        if !self.mean.is_empty() {
            t -= Tensor::from_slice(&self.mean);
        }
        if !self.std.is_empty() {
            if self.std.iter().any(|&s| !(s > 0.0)) {
                return Err(Error::invalid("std", format!("{:?} (must be > 0)", self.std)));
            }
            t /= Tensor::from_slice(&self.std);
        }
        Ok(match self.layout {
            Layout::Nhwc => t.contiguous(),
            Layout::Nchw | Layout::Auto => t.permute([0, 3, 1, 2]).contiguous(),
        })
    }
}

/// Checks a model's output rows (count, width, finiteness) and turns them
/// into probabilities; `source` names the model in errors.
pub fn to_probabilities(rows: Vec<Vec<f64>>, kind: OutputKind, expected_rows: usize, source: &str) -> Result<Vec<Vec<f64>>> {
    honeyimage_format::protocol::to_probabilities(rows, kind, expected_rows).map_err(|e| Error::Reply { source_name: source.to_string(), source: e })
}

/// Whether a row is a probability vector (the rule `OutputKind::Auto` uses).
fn is_probability_row(r: &[f64]) -> bool {
    r.iter().all(|&v| v >= 0.0) && (r.iter().sum::<f64>() - 1.0).abs() < 1e-3
}

/// `ln softmax(row)` in f64, exact for large margins: with m the largest
/// score, `lse = m + ln_1p(sum over the others of exp(v - m))`, so the top
/// class's log-probability is `-ln_1p(s)` ~ `-s` even when `s` is far below
/// the f64 epsilon (an f32 softmax rounds it to 0, tying all confident
/// samples at loss 0).
fn log_softmax(row: &[f64]) -> Vec<f64> {
    let top = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    let m = row[top];
    let rest: f64 = row.iter().enumerate().filter(|&(i, _)| i != top).map(|(_, v)| (v - m).exp()).sum();
    let lse = m + rest.ln_1p();
    row.iter().enumerate().map(|(i, v)| if i == top { -rest.ln_1p() } else { v - lse }).collect()
}

/// Checks all rows of a suspect's answers together and turns them into
/// log-probabilities; with `Auto`, whether they are probabilities or logits
/// is decided once over all rows. Logits go through an f64 log-softmax;
/// probabilities are clamped to `p_min` before the log.
pub fn log_probabilities(rows: Vec<Vec<f64>>, kind: OutputKind, expected_rows: usize, p_min: f64, source: &str) -> Result<Vec<Vec<f64>>> {
    let logits = match kind {
        OutputKind::Logits => true,
        OutputKind::Probabilities => false,
        OutputKind::Auto => !rows.iter().all(|r| is_probability_row(r)),
    };
    let probs = to_probabilities(rows.clone(), if logits { OutputKind::Logits } else { OutputKind::Probabilities }, expected_rows, source)?;
    Ok(match logits {
        true => rows.iter().map(|r| log_softmax(r)).collect(),
        false => probs.into_iter().map(|r| r.into_iter().map(|p| p.max(p_min).ln()).collect()).collect(),
    })
}

#[cfg(feature = "torch")]
fn tensor_rows(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    let t = t.to_kind(Kind::Double).to_device(Device::Cpu).contiguous();
    if t.dim() != 2 {
        return Err(Error::invalid("model output", format!("shape {:?}, expected [batch, classes]", t.size())));
    }
    Ok(Vec::<Vec<f64>>::try_from(&t)?)
}

#[cfg(feature = "torch")]
/// A model in memory (evaluation verifies suspects while they train).
pub struct ModelOracle<'a> {
    /// The model.
    pub model: &'a Model,
    /// Its name in messages.
    pub name: String,
}

#[cfg(feature = "torch")]
impl Oracle for ModelOracle<'_> {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        let cfg = &self.model.config;
        if (h, w, c) != (cfg.height, cfg.width, cfg.channels) {
            return Err(Error::Model {
                source_name: self.describe(),
                message: format!("expects {}x{}x{} images, got {h}x{w}x{c}", cfg.height, cfg.width, cfg.channels),
            });
        }
        let x = crate::tensors::u8_nhwc_to_tensor(images, n, h, w, c, self.model.device())?;
        Ok(Answer::Scores { rows: tensor_rows(&self.model.logits(&x, 256))?, kind: OutputKind::Logits })
    }
}

#[cfg(feature = "torch")]
/// A model folder written by `honeyimage train`.
pub struct NativeOracle {
    model: Model,
    path: PathBuf,
}

#[cfg(feature = "torch")]
impl NativeOracle {
    /// Loads the folder.
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        Ok(NativeOracle { model: Model::load(path, device)?.0, path: path.to_path_buf() })
    }
    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

#[cfg(feature = "torch")]
impl Oracle for NativeOracle {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
    fn input_shape(&self) -> Option<(usize, usize, usize)> {
        let c = &self.model.config;
        Some((c.height, c.width, c.channels))
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        ModelOracle { model: &self.model, name: self.describe() }.query(images, n, h, w, c)
    }
}

#[cfg(feature = "torch")]
/// A TorchScript module (`torch.jit.trace`/`script` output), run by libtorch.
pub struct TorchScriptOracle {
    module: tch::CModule,
    path: PathBuf,
    pre: Preprocess,
    device: Device,
}

#[cfg(feature = "torch")]
impl TorchScriptOracle {
    /// Loads the module in evaluation mode.
    pub fn load(path: &Path, pre: Preprocess, device: Device) -> Result<Self> {
        let mut module = tch::CModule::load_on_device(path, device)
            .map_err(|e| Error::Model { source_name: path.display().to_string(), message: format!("not a loadable TorchScript file: {}", torch_message(&e)) })?;
        module.set_eval();
        Ok(TorchScriptOracle { module, path: path.to_path_buf(), pre, device })
    }
}

#[cfg(feature = "torch")]
impl Oracle for TorchScriptOracle {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        let x = self.pre.tensor(images, n, h, w, c)?.to_device(self.device);
        let out = tch::no_grad(|| self.module.forward_ts(&[x]))
            .map_err(|e| Error::Model { source_name: self.describe(), message: format!("forward failed: {}", torch_message(&e)) })?;
        Ok(Answer::Scores { rows: tensor_rows(&out)?, kind: self.pre.output })
    }
}

#[cfg(feature = "torch")]
type OnnxPlan = tract_onnx::prelude::TypedRunnableModel<tract_onnx::prelude::TypedModel>;

#[cfg(feature = "torch")]
/// An ONNX model run with tract (pure Rust, CPU).
pub struct OnnxOracle {
    path: PathBuf,
    pre: Preprocess,
    plans: std::collections::HashMap<Vec<usize>, OnnxPlan>,
}

#[cfg(feature = "torch")]
impl OnnxOracle {
    /// Checks that the file parses as ONNX; plans are built per input shape.
    pub fn load(path: &Path, pre: Preprocess) -> Result<Self> {
        use tract_onnx::prelude::*;
        tract_onnx::onnx()
            .model_for_path(path)
            .map_err(|e| Error::Model { source_name: path.display().to_string(), message: format!("not a readable ONNX model: {e}") })?;
        Ok(OnnxOracle { path: path.to_path_buf(), pre, plans: Default::default() })
    }

    fn plan(&mut self, shape: &[usize]) -> Result<&OnnxPlan> {
        use tract_onnx::prelude::*;
        if !self.plans.contains_key(shape) {
            let src = self.path.display().to_string();
            let e = |e: TractError| Error::Model { source_name: src.clone(), message: format!("{e:#}") };
            let plan = tract_onnx::onnx()
                .model_for_path(&self.path)
                .map_err(e)?
                .with_input_fact(0, f32::fact(shape).into())
                .map_err(e)?
                .into_optimized()
                .map_err(e)?
                .into_runnable()
                .map_err(e)?;
            self.plans.insert(shape.to_vec(), plan);
        }
        Ok(&self.plans[shape])
    }
}

#[cfg(feature = "torch")]
impl Oracle for OnnxOracle {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        use tract_onnx::prelude::*;
        let x = self.pre.tensor(images, n, h, w, c)?;
        let shape: Vec<usize> = x.size().iter().map(|&d| d as usize).collect();
        let data = Vec::<f32>::try_from(x.view([-1]))?;
        let input = tract_ndarray::ArrayD::from_shape_vec(shape.clone(), data)
            .map_err(|e| Error::invalid("ONNX input", e.to_string()))?;
        let src = self.describe();
        let plan = self.plan(&shape)?;
        let out = plan
            .run(tvec!(Tensor::from(input).into()))
            .map_err(|e| Error::Model { source_name: src.clone(), message: format!("inference failed: {e:#}") })?;
        let view = out[0].to_array_view::<f32>().map_err(|e| Error::Model { source_name: src.clone(), message: e.to_string() })?;
        if view.ndim() != 2 {
            return Err(Error::Model { source_name: src, message: format!("output shape {:?}, expected [batch, classes]", view.shape()) });
        }
        let rows = view.outer_iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect();
        Ok(Answer::Scores { rows, kind: self.pre.output })
    }
}

#[cfg(feature = "torch")]
/// A parsed HTTP reply as an answer: dense rows keep the kind the reply
/// names; a top-k reply is used for its top-1 class (its partial scores
/// give no loss for a class outside the top k).
pub(crate) fn answer_of(s: Scores) -> Answer {
    match s {
        Scores::Probabilities(rows) => Answer::Scores { rows, kind: OutputKind::Probabilities },
        Scores::Logits(rows) => Answer::Scores { rows, kind: OutputKind::Logits },
        Scores::Labels(l) => Answer::Labels(l),
        Scores::TopK(rows) => Answer::Labels(rows.iter().map(|r| r.iter().max_by(|a, b| a.1.total_cmp(&b.1)).map_or(0, |e| e.0)).collect()),
    }
}

/// Joins the answers of several requests; they must all have one form.
pub fn merge_answers(parts: Vec<Answer>) -> std::result::Result<Answer, String> {
    let mut it = parts.into_iter();
    let mut acc = it.next().ok_or("no answers")?;
    for a in it {
        match (&mut acc, a) {
            (Answer::Scores { rows, kind }, Answer::Scores { rows: more, kind: k }) if *kind == k => rows.extend(more),
            (Answer::Labels(l), Answer::Labels(more)) => l.extend(more),
            _ => return Err("answered different requests in different forms (scores of another kind, or labels)".into()),
        }
    }
    Ok(acc)
}

#[cfg(feature = "torch")]
/// Options for opening any kind of suspect.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Preprocessing for foreign models (TorchScript, ONNX, HTTP).
    pub preprocess: Preprocess,
    /// HTTP client settings.
    pub http: HttpConfig,
    /// Which protocol an endpoint speaks, and how to read its replies.
    pub remote: RemoteOptions,
}

#[cfg(feature = "torch")]
/// A suspect's path or URL as messages may show it: URLs without user info
/// or query string (where credentials hide).
pub fn shown_target(target: &str) -> String {
    match url::Url::parse(target) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => http::shown(&u),
        _ => target.to_string(),
    }
}

#[cfg(feature = "torch")]
/// Opens a suspect: an `http(s)://` URL, a `.onnx` file, a `.pt`/`.pth`/`.ts`
/// TorchScript file, or a model folder.
pub fn open(target: &str, opts: &OpenOptions, device: Device) -> Result<Box<dyn Oracle>> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return Ok(Box::new(HttpOracle::new(target, opts.preprocess.clone(), opts.http.clone(), opts.remote.clone())?));
    }
    let p = Path::new(target);
    if !p.exists() {
        return Err(Error::io(p, std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder")));
    }
    if p.is_dir() {
        return Ok(Box::new(NativeOracle::load(p, device)?));
    }
    match p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref() {
        Some("onnx") => Ok(Box::new(OnnxOracle::load(p, opts.preprocess.clone())?)),
        Some("pt" | "pth" | "ts" | "torchscript") => Ok(Box::new(TorchScriptOracle::load(p, opts.preprocess.clone(), device)?)),
        _ => Err(Error::Model {
            source_name: target.into(),
            message: "unknown model kind: expected a model folder, a .onnx file, a .pt TorchScript file or an http(s) URL".into(),
        }),
    }
}
