//! A suspect behind a model server, in the protocol the server speaks: ours
//! (docs/HTTP_PROTOCOL.md), the Open Inference Protocol (KServe V2: Triton,
//! KServe, MLServer, Seldon, TorchServe's KServe mode), TensorFlow Serving's
//! REST API or TorchServe's inference API (docs/PROTOCOLS.md). The protocol
//! is read from the URL's path unless given. Before the first query the
//! server's readiness (and, for V2, the model's input shape and datatype) is
//! checked, so a wrong URL or a shape mismatch costs no image queries.
use std::str::FromStr;

use honeyimage_format::classes::{gather, ClassMap, Row};
use honeyimage_format::oip::{self, InferRequest, ModelMetadata, RequestInput, RequestOutput, TensorMetadata};
use honeyimage_format::protocol::{parse_reply, parse_reply_any, PredictRequest, ReplyError, Scores};
use honeyimage_format::serving;
use serde_json::Value;
use url::Url;

use super::http::{endpoint_url, shown, HttpConfig, Transport};
use super::{answer_of, merge_answers, Answer, Layout, Oracle, OutputKind, Preprocess};
use crate::{Error, Result};

/// The protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Read from the URL's path: `/v2/models/` is V2, `/v1/models/` TF
    /// Serving, `/predictions/` TorchServe, anything else ours.
    #[default]
    Auto,
    /// docs/HTTP_PROTOCOL.md (`honeyimage serve`).
    HoneyImage,
    /// The Open Inference Protocol (KServe V2 REST).
    V2,
    /// TensorFlow Serving's REST predict API.
    TfServing,
    /// TorchServe's inference API.
    TorchServe,
}

impl FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "auto" => Protocol::Auto,
            "honeyimage" => Protocol::HoneyImage,
            "v2" | "oip" | "kserve" => Protocol::V2,
            "tfserving" | "tf-serving" => Protocol::TfServing,
            "torchserve" => Protocol::TorchServe,
            _ => return Err(Error::invalid("protocol", format!("{s:?}; expected auto, honeyimage, v2, tfserving or torchserve"))),
        })
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Auto => "auto",
            Protocol::HoneyImage => "honeyimage",
            Protocol::V2 => "v2",
            Protocol::TfServing => "tfserving",
            Protocol::TorchServe => "torchserve",
        })
    }
}

impl Protocol {
    /// The protocol a URL's path names (never `Auto`).
    pub fn detect(url: &str) -> Protocol {
        let path = Url::parse(url).map(|u| u.path().to_string()).unwrap_or_default();
        if path.contains("/v2/models/") {
            Protocol::V2
        } else if path.contains("/v1/models/") {
            Protocol::TfServing
        } else if path.contains("/predictions/") {
            Protocol::TorchServe
        } else {
            Protocol::HoneyImage
        }
    }
}

/// How to talk to a remote suspect besides transport and preprocessing.
#[derive(Debug, Clone, Default)]
pub struct RemoteOptions {
    /// The protocol (`Auto`: from the URL).
    pub protocol: Protocol,
    /// Class names in replies to the key's label indices.
    pub class_map: Option<ClassMap>,
    /// V2: the input to fill (default: the model's only input).
    pub input_name: Option<String>,
    /// V2 and TF Serving: the output to read (default: the only one).
    pub output_name: Option<String>,
}

/// What a V2 model takes, read from its metadata once.
#[derive(Debug, Clone)]
struct V2Plan {
    input: TensorMetadata,
    output: Option<String>,
    layout: Layout,
    batch: usize,
}

/// The URLs of one protocol, and what was learnt before the first query.
enum Wire {
    HoneyImage { predict: Url },
    V2 { infer: Url, model: Url, plan: Option<V2Plan> },
    TfServing { predict: Url, status: Url, checked: bool },
    TorchServe { predict: Url, ping: Url, checked: bool },
}

fn join(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    u.set_path(path);
    u
}

/// The protocol's URLs from the one the user gave; `usage` explains the form.
fn wire(url: &Url, protocol: Protocol) -> Result<Wire> {
    let path = url.path().trim_end_matches('/').to_string();
    let bad = |usage: &str| Error::invalid("endpoint", format!("{}: with --protocol {protocol} the endpoint is {usage}", shown(url)));
    match protocol {
        Protocol::Auto => wire(url, Protocol::detect(url.as_str())),
        Protocol::HoneyImage => Ok(Wire::HoneyImage { predict: url.clone() }),
        Protocol::V2 => {
            let usage = "BASE/v2/models/NAME[/versions/V][/infer]";
            let (prefix, rest) = path.split_once("/v2/models/").ok_or_else(|| bad(usage))?;
            let parts: Vec<&str> = rest.split('/').collect();
            let model = match parts.as_slice() {
                [name] | [name, "infer"] => format!("/v2/models/{name}"),
                [name, "versions", v] | [name, "versions", v, "infer"] => format!("/v2/models/{name}/versions/{v}"),
                _ => return Err(bad(usage)),
            };
            let model = join(url, &format!("{prefix}{model}"));
            Ok(Wire::V2 { infer: join(&model, &format!("{}/infer", model.path())), model, plan: None })
        }
        Protocol::TfServing => {
            let usage = "BASE/v1/models/NAME[/versions/V][:predict]";
            let (prefix, rest) = path.split_once("/v1/models/").ok_or_else(|| bad(usage))?;
            let rest = rest.strip_suffix(":predict").unwrap_or(rest);
            let ok = match rest.split('/').collect::<Vec<_>>().as_slice() {
                [name] => !name.is_empty(),
                [name, "versions" | "labels", v] => !name.is_empty() && !v.is_empty(),
                _ => false,
            };
            if !ok {
                return Err(bad(usage));
            }
            let status = join(url, &format!("{prefix}/v1/models/{rest}"));
            Ok(Wire::TfServing { predict: join(url, &format!("{prefix}/v1/models/{rest}:predict")), status, checked: false })
        }
        Protocol::TorchServe => {
            let usage = "BASE/predictions/NAME[/VERSION]";
            let (prefix, rest) = path.split_once("/predictions/").ok_or_else(|| bad(usage))?;
            if rest.is_empty() || rest.split('/').count() > 2 {
                return Err(bad(usage));
            }
            Ok(Wire::TorchServe { predict: join(url, &path), ping: join(url, &format!("{prefix}/ping")), checked: false })
        }
    }
}

/// An HTTP(S) endpoint in any of the four protocols.
pub struct HttpOracle {
    url: Url,
    wire: Wire,
    transport: Transport,
    pre: Preprocess,
    remote: RemoteOptions,
    /// The class count the caller expects (enables label and top-k replies).
    classes: Option<usize>,
}

impl HttpOracle {
    /// A client for `url`: for our protocol the predict URL (e.g.
    /// `http://127.0.0.1:8080/v1/predict`), for the others the model's URL
    /// (see [`Protocol`]).
    pub fn new(url: &str, pre: Preprocess, cfg: HttpConfig, remote: RemoteOptions) -> Result<Self> {
        if cfg.batch == 0 {
            return Err(Error::invalid("batch", "must be >= 1"));
        }
        let url = endpoint_url(url, &cfg.credentials)?;
        let wire = wire(&url, remote.protocol)?;
        Ok(HttpOracle { url, wire, transport: Transport::new(cfg)?, pre, remote, classes: None })
    }

    /// The protocol in use (never `Auto`).
    pub fn protocol(&self) -> Protocol {
        match self.wire {
            Wire::HoneyImage { .. } => Protocol::HoneyImage,
            Wire::V2 { .. } => Protocol::V2,
            Wire::TfServing { .. } => Protocol::TfServing,
            Wire::TorchServe { .. } => Protocol::TorchServe,
        }
    }

    fn reply_error(&self, url: &Url, e: ReplyError) -> Error {
        Error::Reply { source_name: shown(url), source: e }
    }

    fn json(&self, url: &Url, body: &[u8]) -> Result<Value> {
        serde_json::from_slice(body).map_err(|e| self.reply_error(url, ReplyError::Malformed(e.to_string())))
    }

    /// Dense rows are scores of the declared kind; top-k and labels as [`answer_of`].
    fn answer(&self, s: Scores) -> Answer {
        match s {
            Scores::Probabilities(rows) => Answer::Scores { rows, kind: self.pre.output },
            other => answer_of(other),
        }
    }

    fn query_honeyimage(&mut self, px: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        let Wire::HoneyImage { predict } = &self.wire else { unreachable!() };
        let predict = predict.clone();
        let len = h * w * c;
        let mut parts = Vec::new();
        for chunk in px[..n * len].chunks(len * self.transport.config().batch) {
            let m = chunk.len() / len;
            let body = serde_json::to_vec(&PredictRequest::new(chunk, m, h, w, c)).expect("request serialises");
            let reply = self.transport.post(&predict, "application/json", &body)?;
            let parsed = match self.classes {
                // Every form the protocol allows, checked against the class count.
                Some(k) => parse_reply_any(&reply, m, k).map(answer_of),
                // Without a class count, only dense rows can be checked.
                None => parse_reply(&reply, self.pre.output, m).map(|rows| Answer::Scores { rows, kind: OutputKind::Probabilities }),
            };
            parts.push(parsed.map_err(|e| self.reply_error(&predict, e))?);
        }
        merge_answers(parts).map_err(|m| Error::model(shown(&predict), m))
    }

    /// Readiness and metadata of a V2 model, and the plan they give for
    /// images of shape `[n, h, w, c]` (after resizing).
    fn v2_plan(&mut self, h: usize, w: usize, c: usize) -> Result<V2Plan> {
        let Wire::V2 { model, plan, .. } = &self.wire else { unreachable!() };
        if let Some(p) = plan {
            return Ok(p.clone());
        }
        let model = model.clone();
        let ready = join(&model, &format!("{}/ready", model.path()));
        self.transport.get(&ready)?;
        let body = self.transport.get(&model)?;
        let meta: ModelMetadata = serde_json::from_slice(&body).map_err(|e| self.reply_error(&model, ReplyError::Malformed(format!("not model metadata: {e}"))))?;
        let input = oip::choose_input(&meta, self.remote.input_name.as_deref()).map_err(|e| self.reply_error(&model, e))?.clone();
        let output = oip::choose_output(&meta, self.remote.output_name.as_deref()).map_err(|e| self.reply_error(&model, e))?;
        let layout = match self.pre.layout {
            Layout::Auto => auto_layout(&input, c),
            l => l,
        };
        let want = match layout {
            Layout::Nhwc => [1, h, w, c],
            _ => [1, c, h, w],
        };
        oip::check_input_shape(&input, &want).map_err(|e| self.reply_error(&model, e))?;
        let batch = oip::fixed_batch(&input).map_or(self.transport.config().batch, |b| b.min(self.transport.config().batch));
        let p = V2Plan { input, output, layout, batch };
        if let Wire::V2 { plan, .. } = &mut self.wire {
            *plan = Some(p.clone());
        }
        Ok(p)
    }

    fn query_v2(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        let (px, h2, w2, c2) = self.pre.pixels(images, n, h, w, c)?;
        let plan = self.v2_plan(h2, w2, c2)?;
        let Wire::V2 { infer, .. } = &self.wire else { unreachable!() };
        let infer = infer.clone();
        let len = h2 * w2 * c2;
        let k = self.classes.unwrap_or(0);
        let mut parts = Vec::new();
        for (i, chunk) in px.chunks(len * plan.batch).enumerate() {
            let m = chunk.len() / len;
            let shape = match plan.layout {
                Layout::Nhwc => [m, h2, w2, c2],
                _ => [m, c2, h2, w2],
            };
            let data: Value = if plan.input.datatype == "UINT8" {
                reorder_u8(chunk, m, h2, w2, c2, plan.layout).into()
            } else {
                let pre = Preprocess { size: None, gray_to_rgb: false, layout: plan.layout, ..self.pre.clone() };
                let t = pre.tensor(chunk, m, h2, w2, c2)?;
                Vec::<f32>::try_from(t.view([-1]))?.into()
            };
            let req = InferRequest {
                id: Some(format!("honeyimage-{i}")),
                parameters: None,
                inputs: vec![RequestInput {
                    name: plan.input.name.clone(),
                    shape: shape.iter().map(|&d| d as i64).collect(),
                    datatype: plan.input.datatype.clone(),
                    parameters: None,
                    data,
                }],
                outputs: plan.output.iter().map(|o| RequestOutput { name: o.clone(), parameters: None }).collect(),
            };
            let body = serde_json::to_vec(&req).expect("request serialises");
            let reply = self.transport.post(&infer, "application/json", &body)?;
            let scores = oip::read_scores(&reply, plan.output.as_deref(), m, k, self.remote.class_map.as_ref()).map_err(|e| self.reply_error(&infer, e))?;
            parts.push(self.answer(scores));
        }
        merge_answers(parts).map_err(|m| Error::model(shown(&infer), m))
    }

    /// Before the first query to TF Serving or TorchServe: the server's
    /// status URL must say the model can answer.
    fn server_check(&mut self) -> Result<()> {
        let (url, rule): (Url, fn(&Value) -> Option<String>) = match &self.wire {
            Wire::TfServing { status, checked: false, .. } => (status.clone(), tfserving_unavailable),
            Wire::TorchServe { ping, checked: false, .. } => (ping.clone(), torchserve_unhealthy),
            _ => return Ok(()),
        };
        let body = self.transport.get(&url)?;
        if let Some(why) = rule(&self.json(&url, &body)?) {
            return Err(Error::model(shown(&url), why));
        }
        if let Wire::TfServing { checked, .. } | Wire::TorchServe { checked, .. } = &mut self.wire {
            *checked = true;
        }
        Ok(())
    }

    fn query_tfserving(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        self.server_check()?;
        let Wire::TfServing { predict, .. } = &self.wire else { unreachable!() };
        let predict = predict.clone();
        let (px, h2, w2, c2) = self.pre.pixels(images, n, h, w, c)?;
        let layout = if self.pre.layout == Layout::Auto { Layout::Nhwc } else { self.pre.layout };
        let pre = Preprocess { size: None, gray_to_rgb: false, layout, ..self.pre.clone() };
        let len = h2 * w2 * c2;
        let dims = match layout {
            Layout::Nhwc => [h2, w2, c2],
            _ => [c2, h2, w2],
        };
        let mut parts = Vec::new();
        for chunk in px.chunks(len * self.transport.config().batch) {
            let m = chunk.len() / len;
            let flat = Vec::<f32>::try_from(pre.tensor(chunk, m, h2, w2, c2)?.view([-1]))?;
            let instances: Vec<Value> = flat.chunks(len).map(|img| nest(img, &dims)).collect();
            let body = serde_json::to_vec(&serde_json::json!({ "instances": instances })).expect("request serialises");
            let reply = self.transport.post(&predict, "application/json", &body)?;
            let k = self.classes.unwrap_or(0);
            let scores = serving::read_tfserving(&reply, self.remote.output_name.as_deref(), m, k, self.remote.class_map.as_ref()).map_err(|e| self.reply_error(&predict, e))?;
            parts.push(self.answer(scores));
        }
        merge_answers(parts).map_err(|m| Error::model(shown(&predict), m))
    }

    fn query_torchserve(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        self.server_check()?;
        let Wire::TorchServe { predict, .. } = &self.wire else { unreachable!() };
        let predict = predict.clone();
        let (px, h2, w2, c2) = self.pre.pixels(images, n, h, w, c)?;
        let len = h2 * w2 * c2;
        let mut rows = Vec::with_capacity(n);
        for img in px.chunks(len) {
            let body = png(img, h2, w2, c2)?;
            let reply = self.transport.post(&predict, "image/png", &body)?;
            let row: Row = serving::read_torchserve(&reply, self.remote.output_name.as_deref(), self.remote.class_map.as_ref()).map_err(|e| self.reply_error(&predict, e))?;
            rows.push(row);
        }
        let scores = gather(rows, self.classes.unwrap_or(0)).map_err(|e| self.reply_error(&predict, e))?;
        Ok(self.answer(scores))
    }
}

/// Why TF Serving's model status says the model cannot answer: no version
/// is AVAILABLE.
fn tfserving_unavailable(v: &Value) -> Option<String> {
    let states: Vec<&str> = v["model_version_status"].as_array().into_iter().flatten().filter_map(|s| s["state"].as_str()).collect();
    (!states.contains(&"AVAILABLE")).then(|| format!("no AVAILABLE model version (states: {states:?})"))
}

/// Why TorchServe's `/ping` says it cannot answer: not "Healthy".
fn torchserve_unhealthy(v: &Value) -> Option<String> {
    (v["status"].as_str() != Some("Healthy")).then(|| format!("not healthy: {v}"))
}

/// The layout a V2 input's metadata declares for `c`-channel images: where
/// its channel dimension is; when the shape does not tell (variable
/// dimensions), NHWC for UINT8 inputs (raw images) and NCHW otherwise.
fn auto_layout(input: &TensorMetadata, c: usize) -> Layout {
    let c = c as i64;
    match input.shape.as_slice() {
        [_, second, _, last] if *last == c && *second != c => Layout::Nhwc,
        [_, second, _, last] if *second == c && *last != c => Layout::Nchw,
        _ if input.datatype == "UINT8" => Layout::Nhwc,
        _ => Layout::Nchw,
    }
}

/// u8 NHWC images in the wanted layout.
fn reorder_u8(px: &[u8], n: usize, h: usize, w: usize, c: usize, layout: Layout) -> Vec<u8> {
    if layout == Layout::Nhwc || c == 1 {
        return px.to_vec();
    }
    let mut out = vec![0u8; px.len()];
    for i in 0..n {
        for y in 0..h * w {
            for ch in 0..c {
                out[i * h * w * c + ch * h * w + y] = px[i * h * w * c + y * c + ch];
            }
        }
    }
    out
}

/// A flat row-major array as nested JSON arrays of shape `dims`.
fn nest(flat: &[f32], dims: &[usize]) -> Value {
    match dims {
        [] | [_] => Value::from(flat.to_vec()),
        [_, rest @ ..] => {
            let inner: usize = rest.iter().product();
            Value::Array(flat.chunks(inner).map(|c| nest(c, rest)).collect())
        }
    }
}

/// One u8 HWC image as PNG (grey or RGB): lossless, so the HoneyImage
/// pixels reach the model unchanged.
fn png(img: &[u8], h: usize, w: usize, c: usize) -> Result<Vec<u8>> {
    let color = if c == 1 { image::ExtendedColorType::L8 } else { image::ExtendedColorType::Rgb8 };
    let mut out = Vec::new();
    image::ImageEncoder::write_image(image::codecs::png::PngEncoder::new(&mut out), img, w as u32, h as u32, color)
        .map_err(|e| Error::invalid("PNG", e.to_string()))?;
    Ok(out)
}

impl Oracle for HttpOracle {
    fn describe(&self) -> String {
        shown(&self.url)
    }
    fn expect_classes(&mut self, k: usize) {
        self.classes = Some(k);
    }
    fn traffic(&self) -> Option<(usize, f64)> {
        Some((self.transport.requests, self.transport.seconds))
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        match self.wire {
            Wire::HoneyImage { .. } => {
                let (px, h, w, c) = self.pre.pixels(images, n, h, w, c)?;
                self.query_honeyimage(&px, n, h, w, c)
            }
            Wire::V2 { .. } => self.query_v2(images, n, h, w, c),
            Wire::TfServing { .. } => self.query_tfserving(images, n, h, w, c),
            Wire::TorchServe { .. } => self.query_torchserve(images, n, h, w, c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(u: &str, p: Protocol) -> Vec<String> {
        match wire(&Url::parse(u).unwrap(), p).unwrap() {
            Wire::HoneyImage { predict } => vec![predict.to_string()],
            Wire::V2 { infer, model, .. } => vec![infer.to_string(), model.to_string()],
            Wire::TfServing { predict, status, .. } => vec![predict.to_string(), status.to_string()],
            Wire::TorchServe { predict, ping, .. } => vec![predict.to_string(), ping.to_string()],
        }
    }

    #[test]
    fn urls_of_each_protocol() {
        assert_eq!(Protocol::detect("https://h/kserve/v2/models/m/infer"), Protocol::V2);
        assert_eq!(Protocol::detect("http://h:8501/v1/models/m:predict"), Protocol::TfServing);
        assert_eq!(Protocol::detect("http://h:8080/predictions/m"), Protocol::TorchServe);
        assert_eq!(Protocol::detect("http://h:8080/v1/predict"), Protocol::HoneyImage);
        assert_eq!(urls("https://h/p/v2/models/m", Protocol::Auto), ["https://h/p/v2/models/m/infer", "https://h/p/v2/models/m"]);
        assert_eq!(urls("https://h/v2/models/m/versions/3/infer", Protocol::V2), ["https://h/v2/models/m/versions/3/infer", "https://h/v2/models/m/versions/3"]);
        assert_eq!(urls("http://h/v1/models/m/versions/2:predict", Protocol::Auto), ["http://h/v1/models/m/versions/2:predict", "http://h/v1/models/m/versions/2"]);
        assert_eq!(urls("http://h/predictions/m", Protocol::Auto), ["http://h/predictions/m", "http://h/ping"]);
        for (u, p) in [("http://h/v1/predict", Protocol::V2), ("http://h/v2/models/m/x/y/z", Protocol::V2), ("http://h/x", Protocol::TorchServe), ("http://h/v1/models/:predict", Protocol::TfServing)] {
            let e = wire(&Url::parse(u).unwrap(), p).err().unwrap().to_string();
            assert!(e.contains("the endpoint is"), "{u}: {e}");
        }
        assert_eq!("kserve".parse::<Protocol>().unwrap(), Protocol::V2);
        assert!("grpc".parse::<Protocol>().is_err());
    }

    #[test]
    fn layout_from_metadata() {
        let t = |dt: &str, shape: Vec<i64>| TensorMetadata { name: "x".into(), datatype: dt.into(), shape };
        assert_eq!(auto_layout(&t("FP32", vec![-1, 1, 28, 28]), 1), Layout::Nchw);
        assert_eq!(auto_layout(&t("FP32", vec![-1, 28, 28, 1]), 1), Layout::Nhwc);
        assert_eq!(auto_layout(&t("FP32", vec![-1, 3, 224, 3]), 3), Layout::Nchw);
        assert_eq!(auto_layout(&t("UINT8", vec![-1, -1, -1, -1]), 1), Layout::Nhwc);
        assert_eq!(auto_layout(&t("FP32", vec![-1, -1, -1, -1]), 1), Layout::Nchw);
    }

    #[test]
    fn tensors_for_the_wire() {
        // Two 1x2 RGB pixels per image: NHWC -> NCHW.
        let px = [1, 2, 3, 4, 5, 6];
        assert_eq!(reorder_u8(&px, 1, 1, 2, 3, Layout::Nchw), vec![1, 4, 2, 5, 3, 6]);
        assert_eq!(reorder_u8(&px, 1, 1, 2, 3, Layout::Nhwc), px.to_vec());
        assert_eq!(nest(&[1.0, 2.0, 3.0, 4.0], &[2, 2, 1]), serde_json::json!([[[1.0], [2.0]], [[3.0], [4.0]]]));
        let img: Vec<u8> = (0..12).collect();
        let decoded = image::load_from_memory(&png(&img, 3, 4, 1).unwrap()).unwrap().to_luma8();
        assert_eq!(decoded.into_raw(), img, "PNG must be lossless");
    }
}
