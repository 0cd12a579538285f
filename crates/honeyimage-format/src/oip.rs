//! The Open Inference Protocol (KServe "V2" REST), spoken by Triton, KServe,
//! MLServer, Seldon, TorchServe's KServe mode and `honeyimage serve`: typed
//! tensors in JSON. A client reads a model's metadata to check the input
//! before spending queries ([`choose_input`], [`check_input_shape`],
//! [`choose_output`]) and reads replies with [`read_scores`]; a server parses
//! requests, with or without the binary tensor extension, with
//! [`parse_request`]. The wire types follow
//! <https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/>.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::classes::{gather, label_of, ClassMap, Row};
use crate::protocol::{BadRequest, ReplyError, Scores, MAX_SIDE};

/// A tensor's name, element type and shape (-1: any size) in metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorMetadata {
    /// Name.
    pub name: String,
    /// Element type ("UINT8", "FP32", "BYTES", ...).
    pub datatype: String,
    /// Shape; -1 for a variable dimension.
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// Model name.
    pub name: String,
    /// Available versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Framework or server ("pytorch_libtorch", "honeyimage", ...).
    #[serde(default)]
    pub platform: String,
    /// Inputs.
    #[serde(default)]
    pub inputs: Vec<TensorMetadata>,
    /// Outputs.
    #[serde(default)]
    pub outputs: Vec<TensorMetadata>,
}

/// `GET /v2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Protocol extensions supported.
    #[serde(default)]
    pub extensions: Vec<String>,
}

/// `POST /v2/models/{name}[/versions/{v}]/infer` body (its JSON part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferRequest {
    /// Request id, echoed in the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Input tensors.
    pub inputs: Vec<RequestInput>,
    /// Outputs wanted (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<RequestOutput>,
}

/// An input tensor of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInput {
    /// Input name.
    pub name: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// Element type.
    pub datatype: String,
    /// Parameters (`binary_data_size` under the binary extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Elements, row-major, flat or nested (absent under the binary extension).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
}

/// An output a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestOutput {
    /// Output name.
    pub name: String,
    /// Parameters (`binary_data`, `classification`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}

/// An inference reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse {
    /// Model name.
    pub model_name: String,
    /// Model version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The request's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Output tensors.
    pub outputs: Vec<ResponseOutput>,
}

/// An output tensor of a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseOutput {
    /// Output name.
    pub name: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// Element type.
    pub datatype: String,
    /// Parameters (`binary_data_size` when the data follow in binary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Elements, row-major, flat (or nested, from some servers).
    #[serde(default)]
    pub data: Value,
}

impl ResponseOutput {
    /// An FP64 `[n, k]` output of score rows (f64: a probability far below
    /// f32's range keeps its value, and so the sample its loss).
    pub fn fp64_rows(name: &str, rows: &[Vec<f64>]) -> Self {
        let k = rows.first().map_or(0, |r| r.len());
        let data: Vec<f64> = rows.iter().flatten().copied().collect();
        ResponseOutput { name: name.into(), shape: vec![rows.len() as i64, k as i64], datatype: "FP64".into(), parameters: None, data: data.into() }
    }

    /// An INT64 `[n]` output of labels.
    pub fn labels(name: &str, labels: &[u32]) -> Self {
        ResponseOutput { name: name.into(), shape: vec![labels.len() as i64], datatype: "INT64".into(), parameters: None, data: labels.to_vec().into() }
    }

    /// A BYTES `[n, k]` output in the classification extension's form: for
    /// each image its k top classes as `"score:index"`, most probable first.
    pub fn classification(name: &str, rows: &[Vec<(u32, f64)>]) -> Self {
        let k = rows.first().map_or(0, |r| r.len());
        let data: Vec<String> = rows.iter().flatten().map(|(l, s)| format!("{s}:{l}")).collect();
        ResponseOutput { name: name.into(), shape: vec![rows.len() as i64, k as i64], datatype: "BYTES".into(), parameters: None, data: data.into() }
    }
}

fn field(field: impl Into<String>, message: impl Into<String>) -> ReplyError {
    ReplyError::Field { field: field.into(), message: message.into() }
}

/// The input a client fills: `name` if given, else the model's only input.
pub fn choose_input<'a>(meta: &'a ModelMetadata, name: Option<&str>) -> Result<&'a TensorMetadata, ReplyError> {
    let names = || meta.inputs.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
    match name {
        Some(n) => meta.inputs.iter().find(|t| t.name == n).ok_or_else(|| field("inputs", format!("no input named {n:?} (the model has: {})", names()))),
        None => match meta.inputs.as_slice() {
            [one] => Ok(one),
            [] => Err(field("inputs", "the model's metadata lists no input")),
            _ => Err(field("inputs", format!("the model has several inputs ({}): choose one with --input-name", names()))),
        },
    }
}

/// The output a client asks for: `name` if given and listed, the model's
/// only output, or None (ask for all and read the first) when the metadata
/// lists none.
pub fn choose_output(meta: &ModelMetadata, name: Option<&str>) -> Result<Option<String>, ReplyError> {
    let names = || meta.outputs.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ");
    match (name, meta.outputs.as_slice()) {
        (Some(n), []) => Ok(Some(n.to_string())),
        (Some(n), outs) => outs.iter().find(|t| t.name == n).map(|t| Some(t.name.clone())).ok_or_else(|| field("outputs", format!("no output named {n:?} (the model has: {})", names()))),
        (None, []) => Ok(None),
        (None, [one]) => Ok(Some(one.name.clone())),
        (None, _) => Err(field("outputs", format!("the model has several outputs ({}): choose one with --output-name", names()))),
    }
}

/// Element types a client can send images as.
pub const IMAGE_DATATYPES: [&str; 4] = ["UINT8", "FP16", "FP32", "FP64"];

/// Checks that a batch of tensors of shape `want` (batch first) fits the
/// input's declared datatype and shape; the error says both.
pub fn check_input_shape(input: &TensorMetadata, want: &[usize]) -> Result<(), ReplyError> {
    let say = |why: &str| {
        let dims: Vec<String> = std::iter::once("n".to_string()).chain(want.iter().skip(1).map(|d| d.to_string())).collect();
        field(format!("inputs[{:?}]", input.name), format!("{why}: the model takes {} {:?}, the key's images give [{}] (see --resize, --gray-to-rgb, --layout)", input.datatype, input.shape, dims.join(", ")))
    };
    if !IMAGE_DATATYPES.contains(&input.datatype.as_str()) {
        return Err(field(format!("inputs[{:?}].datatype", input.name), format!("{} is not an image type this client sends ({})", input.datatype, IMAGE_DATATYPES.join(", "))));
    }
    if input.shape.len() != want.len() {
        return Err(say("rank differs"));
    }
    if input.shape.iter().zip(want).skip(1).any(|(&d, &w)| d >= 0 && d as usize != w) {
        return Err(say("shape differs"));
    }
    Ok(())
}

/// The largest batch a request may carry for this input: its fixed batch
/// dimension, if the metadata fixes one.
pub fn fixed_batch(input: &TensorMetadata) -> Option<usize> {
    input.shape.first().filter(|&&d| d > 0).map(|&d| d as usize)
}

/// All elements of a flat or nested JSON array, in row-major order.
fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        x => out.push(x),
    }
}

fn elements(v: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    flatten(v, &mut out);
    out
}

fn is_integer_type(dt: &str) -> bool {
    dt.starts_with("INT") || dt.starts_with("UINT")
}

/// Reads an inference reply to `rows` images of a `classes`-class key:
/// output `output` (or the only one); numeric `[rows, classes]` are score
/// rows ([`Scores::Probabilities`], values as sent); integer `[rows]` or
/// `[rows, 1]` are labels; BYTES `[rows]` or `[rows, 1]` are class names
/// (through `map`) and BYTES `[rows, k]` in the classification extension's
/// `"score:index[:label]"` form are top-k rows.
pub fn read_scores(body: &[u8], output: Option<&str>, rows: usize, classes: usize, map: Option<&ClassMap>) -> Result<Scores, ReplyError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(ReplyError::Server(e.chars().take(300).collect()));
    }
    let resp: InferResponse = serde_json::from_value(v).map_err(|e| ReplyError::Malformed(format!("not an inference response: {e}")))?;
    let names = || resp.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ");
    let (i, out) = match output {
        Some(n) => resp.outputs.iter().enumerate().find(|(_, o)| o.name == n).ok_or_else(|| field("outputs", format!("no output named {n:?} (reply has: {})", names())))?,
        None => resp.outputs.iter().enumerate().next().ok_or_else(|| field("outputs", "the reply has no output"))?,
    };
    let at = |f: &str| format!("outputs[{i}].{f}");
    if out.parameters.as_ref().and_then(|p| p.get("binary_data_size")).is_some() {
        return Err(field(at("parameters"), "binary output data, which this client never asks for"));
    }
    let data = elements(&out.data);
    let dims: Option<Vec<usize>> = out.shape.iter().map(|&d| usize::try_from(d).ok()).collect();
    let size = dims.as_ref().and_then(|d| d.iter().try_fold(1usize, |a, &x| a.checked_mul(x)));
    let (Some(dims), Some(size)) = (dims, size) else {
        return Err(field(at("shape"), format!("{:?} is not a tensor shape", out.shape)));
    };
    if size != data.len() {
        return Err(field(at("shape"), format!("{:?} does not match the {} elements of data", out.shape, data.len())));
    }
    if dims.first() != Some(&rows) {
        return Err(ReplyError::RowCount { got: dims.first().copied().unwrap_or(0), expected: rows });
    }
    let width = dims[1..].iter().try_fold(1usize, |a, &x| a.checked_mul(x)).unwrap_or(0);
    if width == 0 && rows > 0 {
        return Err(field(at("shape"), format!("{:?} has no value per image", out.shape)));
    }
    let per_image: Vec<&[&Value]> = if rows == 0 { vec![] } else { data.chunks(width).collect() };
    let row_of = |r: usize, cells: &[&Value]| -> Result<Row, ReplyError> {
        if out.datatype == "BYTES" {
            let text = |j: usize| cells[j].as_str().ok_or_else(|| field(at("data"), format!("row {r}: BYTES element is not a string")));
            if width == 1 {
                return Ok(Row::Label(label_of(text(0)?, map, &at("data"))?));
            }
            return (0..width).map(|j| classification_entry(text(j)?, map, &at("data"))).collect::<Result<_, _>>().map(Row::TopK);
        }
        let nums = cells.iter().map(|c| c.as_f64().ok_or_else(|| field(at("data"), format!("row {r}: {c} is not a number")))).collect::<Result<Vec<f64>, _>>()?;
        if width == 1 && is_integer_type(&out.datatype) {
            let l = nums[0];
            return (l >= 0.0 && l.fract() == 0.0 && l <= u32::MAX as f64).then_some(Row::Label(l as u32)).ok_or_else(|| field(at("data"), format!("row {r}: {l} is not a label")));
        }
        Ok(Row::Dense(nums))
    };
    let parsed = per_image.iter().enumerate().map(|(r, c)| row_of(r, c)).collect::<Result<Vec<_>, _>>()?;
    gather(parsed, classes)
}

/// One `"score:index[:label]"` entry of the classification extension.
fn classification_entry(s: &str, map: Option<&ClassMap>, at: &str) -> Result<(u32, f64), ReplyError> {
    let mut parts = s.splitn(3, ':');
    let score = parts.next().and_then(|x| x.trim().parse::<f64>().ok());
    let index = parts.next().map(str::trim);
    match (score, index) {
        (Some(score), Some(ix)) => {
            let label = match ix.parse::<u32>() {
                Ok(l) => l,
                Err(_) => label_of(ix, map, at)?,
            };
            Ok((label, score))
        }
        _ => Err(field(at, format!("{s:?} is not a \"score:index[:label]\" entry"))),
    }
}

fn bad(f: &'static str, m: impl Into<String>) -> BadRequest {
    BadRequest { field: f, message: m.into() }
}

/// Bytes per element of a fixed-size datatype.
fn element_size(dt: &str) -> Option<usize> {
    Some(match dt {
        "BOOL" | "UINT8" | "INT8" => 1,
        "UINT16" | "INT16" | "FP16" => 2,
        "UINT32" | "INT32" | "FP32" => 4,
        "UINT64" | "INT64" | "FP64" => 8,
        _ => return None,
    })
}

/// Pixel values of one input: UINT8, or any numeric type holding integers
/// in 0..=255, as JSON or as little-endian binary (UINT8, FP32, FP64).
fn pixels(input: &RequestInput, binary: Option<&[u8]>) -> Result<Vec<u8>, BadRequest> {
    let as_u8 = |v: f64| (v.fract() == 0.0 && (0.0..=255.0).contains(&v)).then_some(v as u8);
    let not_pixel = |v: f64| bad("data", format!("{v} is not a pixel value (integers 0..=255)"));
    match binary {
        Some(b) => match input.datatype.as_str() {
            "UINT8" => Ok(b.to_vec()),
            "FP32" => b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).map(|v| as_u8(v).ok_or_else(|| not_pixel(v))).collect(),
            "FP64" => b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).map(|v| as_u8(v).ok_or_else(|| not_pixel(v))).collect(),
            dt => Err(bad("datatype", format!("{dt} in binary form is not supported (UINT8, FP32, FP64)"))),
        },
        None => {
            if element_size(&input.datatype).is_none() {
                return Err(bad("datatype", format!("{:?}: images are numeric (UINT8 preferred)", input.datatype)));
            }
            elements(&input.data).into_iter().map(|e| e.as_f64().ok_or_else(|| bad("data", format!("{e} is not a number"))).and_then(|v| as_u8(v).ok_or_else(|| not_pixel(v)))).collect()
        }
    }
}

/// Parses an inference request for a model that takes one batch of u8 NHWC
/// images `[n, h, w, c]` (c = 1 or 3; n <= `max_batch`). `json_len` is the
/// `Inference-Header-Content-Length` header of the binary tensor extension:
/// the JSON part is that long and the input's bytes follow it. Returns the
/// request and the pixels.
pub fn parse_request(body: &[u8], json_len: Option<usize>, max_batch: usize) -> Result<(InferRequest, Vec<u8>, [usize; 4]), BadRequest> {
    let (json, mut rest) = match json_len {
        Some(l) if l <= body.len() => body.split_at(l),
        Some(l) => return Err(bad("Inference-Header-Content-Length", format!("{l} exceeds the body's {} bytes", body.len()))),
        None => (body, &[][..]),
    };
    let req: InferRequest = serde_json::from_slice(json).map_err(|e| bad("body", format!("malformed inference request: {e}")))?;
    let [input] = req.inputs.as_slice() else {
        return Err(bad("inputs", format!("{} inputs; this model takes one (\"images\", UINT8 [n, h, w, c])", req.inputs.len())));
    };
    let shape: [usize; 4] = match input.shape.as_slice() {
        &[n, h, w, c] if [n, h, w, c].iter().all(|&d| d > 0) => [n as usize, h as usize, w as usize, c as usize],
        s => return Err(bad("shape", format!("{s:?}: expected [n, h, w, c] (NHWC images)"))),
    };
    let [n, h, w, c] = shape;
    if n > max_batch {
        return Err(bad("shape", format!("{n} images (allowed 1..={max_batch})")));
    }
    if !(c == 1 || c == 3) || h > MAX_SIDE || w > MAX_SIDE {
        return Err(bad("shape", format!("{h}x{w}x{c} is not an image (sides 1..={MAX_SIDE}, 1 or 3 channels)")));
    }
    let want = n * h * w * c;
    let binary_size = input.parameters.as_ref().and_then(|p| p.get("binary_data_size")).map(|s| s.as_u64().ok_or_else(|| bad("parameters", "binary_data_size is not a size")));
    let binary = match binary_size.transpose()? {
        Some(size) => {
            let size = size as usize;
            if json_len.is_none() || size > rest.len() {
                return Err(bad("parameters", format!("binary_data_size {size} but {} binary bytes follow the JSON", rest.len())));
            }
            let (b, r) = rest.split_at(size);
            rest = r;
            Some(b)
        }
        None => None,
    };
    if !rest.is_empty() {
        return Err(bad("body", format!("{} bytes after the inputs", rest.len())));
    }
    let px = pixels(input, binary)?;
    if px.len() != want {
        return Err(bad("data", format!("{} elements for shape {:?} ({want} expected)", px.len(), input.shape)));
    }
    Ok((req, px, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(inputs: &str) -> ModelMetadata {
        serde_json::from_str(&format!(r#"{{"name":"m","platform":"x","inputs":{inputs},"outputs":[{{"name":"logits","datatype":"FP32","shape":[-1,10]}}]}}"#)).unwrap()
    }

    #[test]
    fn metadata_checks_name_what_differs() {
        let m = meta(r#"[{"name":"images","datatype":"FP32","shape":[-1,1,28,28]}]"#);
        let input = choose_input(&m, None).unwrap();
        check_input_shape(input, &[64, 1, 28, 28]).unwrap();
        let e = check_input_shape(input, &[64, 28, 28, 1]).unwrap_err().to_string();
        assert!(e.contains("[-1, 1, 28, 28]") && e.contains("[n, 28, 28, 1]") && e.contains("--layout"), "{e}");
        assert!(check_input_shape(input, &[64, 1, 28]).unwrap_err().to_string().contains("rank"));
        assert!(choose_input(&m, Some("x")).unwrap_err().to_string().contains("images"));
        assert_eq!(choose_output(&m, None).unwrap().as_deref(), Some("logits"));
        assert!(choose_output(&m, Some("probs")).is_err());
        let two = meta(r#"[{"name":"a","datatype":"FP32","shape":[1]},{"name":"b","datatype":"BYTES","shape":[1]}]"#);
        assert!(choose_input(&two, None).unwrap_err().to_string().contains("--input-name"));
        assert!(check_input_shape(choose_input(&two, Some("b")).unwrap(), &[1]).unwrap_err().to_string().contains("BYTES"));
        let fixed = meta(r#"[{"name":"images","datatype":"UINT8","shape":[8,28,28,1]}]"#);
        assert_eq!(fixed_batch(&fixed.inputs[0]), Some(8));
    }

    #[test]
    fn replies_in_every_form() {
        let read = |b: &str, rows, classes| read_scores(b.as_bytes(), None, rows, classes, None);
        let dense = r#"{"model_name":"m","outputs":[{"name":"p","shape":[2,2],"datatype":"FP32","data":[0.25,0.75,1,0]}]}"#;
        assert_eq!(read(dense, 2, 2).unwrap(), Scores::Probabilities(vec![vec![0.25, 0.75], vec![1.0, 0.0]]));
        let nested = r#"{"model_name":"m","outputs":[{"name":"p","shape":[2,2],"datatype":"FP32","data":[[0.25,0.75],[1,0]]}]}"#;
        assert_eq!(read(nested, 2, 2).unwrap(), read(dense, 2, 2).unwrap());
        let labels = r#"{"model_name":"m","outputs":[{"name":"l","shape":[3],"datatype":"INT64","data":[2,0,1]}]}"#;
        assert_eq!(read(labels, 3, 3).unwrap(), Scores::Labels(vec![2, 0, 1]));
        let cls = r#"{"model_name":"m","outputs":[{"name":"c","shape":[1,2],"datatype":"BYTES","data":["0.9:2:Bag","0.1:0:Top"]}]}"#;
        assert_eq!(read(cls, 1, 3).unwrap(), Scores::TopK(vec![vec![(2, 0.9), (0, 0.1)]]));
        let names = r#"{"model_name":"m","outputs":[{"name":"c","shape":[1],"datatype":"BYTES","data":["Bag"]}]}"#;
        assert!(read(names, 1, 3).unwrap_err().to_string().contains("--class-map"));
        let map = ClassMap::parse("Top\nShirt\nBag").unwrap();
        assert_eq!(read_scores(names.as_bytes(), None, 1, 3, Some(&map)).unwrap(), Scores::Labels(vec![2]));
        // Lies: shape against data, row count, class count, a server error, a missing output.
        assert!(read(&dense.replace("[2,2]", "[2,3]"), 2, 2).unwrap_err().to_string().contains("outputs[0].shape"));
        assert!(matches!(read(dense, 3, 2), Err(ReplyError::RowCount { got: 2, expected: 3 })));
        assert!(matches!(read(dense, 2, 3), Err(ReplyError::ClassCount { .. })));
        assert!(matches!(read(r#"{"error":"model not ready"}"#, 1, 2), Err(ReplyError::Server(_))));
        assert!(read_scores(dense.as_bytes(), Some("q"), 2, 2, None).unwrap_err().to_string().contains("no output named"));
        assert!(matches!(read("[1]", 1, 2), Err(ReplyError::Malformed(_))));
    }

    #[test]
    fn requests_json_and_binary() {
        let json = br#"{"inputs":[{"name":"images","shape":[2,1,2,1],"datatype":"UINT8","data":[1,2,3,255]}]}"#;
        let (_, px, shape) = parse_request(json, None, 8).unwrap();
        assert_eq!((px, shape), (vec![1, 2, 3, 255], [2, 1, 2, 1]));
        let head = br#"{"inputs":[{"name":"images","shape":[1,2,2,1],"datatype":"UINT8","parameters":{"binary_data_size":4}}]}"#;
        let mut body = head.to_vec();
        body.extend_from_slice(&[9, 8, 7, 6]);
        assert_eq!(parse_request(&body, Some(head.len()), 8).unwrap().1, vec![9, 8, 7, 6]);
        assert_eq!(parse_request(&body, Some(head.len() + 1), 8).unwrap_err().field, "parameters");
        assert_eq!(parse_request(&body, Some(999), 8).unwrap_err().field, "Inference-Header-Content-Length");
        let fp = br#"{"inputs":[{"name":"x","shape":[1,1,1,1],"datatype":"FP32","data":[0.5]}]}"#;
        assert_eq!(parse_request(fp, None, 8).unwrap_err().field, "data");
        assert_eq!(parse_request(&json[..], None, 1).unwrap_err().field, "shape");
        let nchw = br#"{"inputs":[{"name":"images","shape":[1,1,28],"datatype":"UINT8","data":[]}]}"#;
        assert_eq!(parse_request(nchw, None, 8).unwrap_err().field, "shape");
    }
}
