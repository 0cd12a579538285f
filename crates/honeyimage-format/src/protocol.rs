//! The HTTP JSON query protocol (docs/HTTP_PROTOCOL.md) and the checks on
//! what a suspect model returns. A server parses requests with
//! [`PredictRequest::parse`]; a client checks replies with [`parse_reply`].
use std::str::FromStr;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Largest image side a request may carry.
pub const MAX_SIDE: usize = 4096;

/// The JSON request: a batch of u8 images.
#[derive(Debug, Serialize, Deserialize)]
pub struct PredictRequest {
    /// `[n, h, w, c]`.
    pub shape: [usize; 4],
    /// Always "uint8".
    pub dtype: String,
    /// Base64 of the n*h*w*c bytes, NHWC order.
    pub data: String,
}

/// The JSON reply: exactly one of the two fields.
#[derive(Debug, Serialize, Deserialize, Default)]
pub struct PredictReply {
    /// Probability rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<Vec<f64>>>,
    /// Logit rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logits: Option<Vec<Vec<f64>>>,
}

/// A request that does not follow the protocol: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// The field at fault ("body", "shape", "data", ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for BadRequest {}

fn bad(field: &'static str, message: impl Into<String>) -> BadRequest {
    BadRequest { field, message: message.into() }
}

impl PredictRequest {
    /// Encodes a batch.
    pub fn new(images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Self {
        PredictRequest { shape: [n, h, w, c], dtype: "uint8".into(), data: base64::engine::general_purpose::STANDARD.encode(images) }
    }

    /// Parses a request body and decodes its images (server side), with a cap
    /// on the image count. Returns the request and its NHWC bytes.
    pub fn parse(body: &[u8], max_batch: usize) -> Result<(PredictRequest, Vec<u8>), BadRequest> {
        let req: PredictRequest = serde_json::from_slice(body).map_err(|e| bad("body", format!("malformed request: {e}")))?;
        let px = req.decode(max_batch)?;
        Ok((req, px))
    }

    /// Decodes and checks a batch, with a cap on the image count.
    pub fn decode(&self, max_batch: usize) -> Result<Vec<u8>, BadRequest> {
        let [n, h, w, c] = self.shape;
        if self.dtype != "uint8" {
            return Err(bad("dtype", format!("{:?}, only \"uint8\" is supported", self.dtype)));
        }
        if n == 0 || n > max_batch {
            return Err(bad("shape", format!("{n} images (allowed 1..={max_batch})")));
        }
        if h == 0 || w == 0 || !(c == 1 || c == 3) || h > MAX_SIDE || w > MAX_SIDE {
            return Err(bad("shape", format!("{h}x{w}x{c} is not an image (sides 1..={MAX_SIDE}, 1 or 3 channels)")));
        }
        // n <= max_batch and the sides are bounded, so this cannot overflow
        // for any sane max_batch; check anyway and before decoding.
        let want = n.checked_mul(h * w * c).ok_or_else(|| bad("shape", format!("{:?} is too large", self.shape)))?;
        // `want` may be within 3 of usize::MAX when max_batch is unbounded.
        if self.data.len() / 4 * 3 > want.saturating_add(3) {
            return Err(bad("data", format!("{} base64 characters for shape {:?} ({want} bytes)", self.data.len(), self.shape)));
        }
        let px = base64::engine::general_purpose::STANDARD.decode(&self.data).map_err(|e| bad("data", format!("bad base64: {e}")))?;
        if px.len() != want {
            return Err(bad("data", format!("{} bytes for shape {:?} ({want} expected)", px.len(), self.shape)));
        }
        Ok(px)
    }
}

/// What a model's outputs are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Probabilities when every row is non-negative and sums to 1, logits otherwise.
    #[default]
    Auto,
    /// Raw scores: softmax is applied.
    Logits,
    /// Already probabilities.
    Probabilities,
}

impl FromStr for OutputKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(OutputKind::Auto),
            "logits" => Ok(OutputKind::Logits),
            "probabilities" | "probs" => Ok(OutputKind::Probabilities),
            _ => Err(format!("output kind {s:?}; expected auto, logits or probabilities")),
        }
    }
}

/// Checks a model's output rows and turns them into probabilities: exactly
/// `expected_rows` rows, the same number (>= 2) of finite values in each, and
/// for `Probabilities` every row a probability vector.
pub fn to_probabilities(rows: Vec<Vec<f64>>, kind: OutputKind, expected_rows: usize) -> Result<Vec<Vec<f64>>, String> {
    if rows.len() != expected_rows {
        return Err(format!("returned {} rows for {expected_rows} images", rows.len()));
    }
    let k = rows.first().map_or(0, |r| r.len());
    if k < 2 {
        return Err(format!("returned {k} classes per image"));
    }
    for (i, r) in rows.iter().enumerate() {
        if r.len() != k {
            return Err(format!("row {i} has {} values, row 0 has {k}", r.len()));
        }
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(format!("non-finite output {} at image {i}, class {j}", r[j]));
        }
    }
    let is_prob = |r: &Vec<f64>| r.iter().all(|&v| v >= 0.0) && (r.iter().sum::<f64>() - 1.0).abs() < 1e-3;
    let softmax = match kind {
        OutputKind::Logits => true,
        OutputKind::Probabilities => {
            if let Some(i) = rows.iter().position(|r| !is_prob(r)) {
                return Err(format!("row {i} is not a probability vector (sum {:.4})", rows[i].iter().sum::<f64>()));
            }
            false
        }
        OutputKind::Auto => !rows.iter().all(is_prob),
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            if softmax {
                let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = r.iter().map(|v| (v - m).exp()).collect();
                let s: f64 = e.iter().sum();
                e.into_iter().map(|v| v / s).collect()
            } else {
                let s: f64 = r.iter().sum();
                r.into_iter().map(|v| v / s).collect()
            }
        })
        .collect())
}

/// Parses and checks a server's reply to a batch of `expected_rows` images.
/// `declared` is what the user said the outputs are; a reply's own field
/// name ("probabilities" or "logits") settles `Auto`.
pub fn parse_reply(body: &[u8], declared: OutputKind, expected_rows: usize) -> Result<Vec<Vec<f64>>, String> {
    let reply: PredictReply = serde_json::from_slice(body).map_err(|e| format!("malformed JSON reply: {e}"))?;
    let (vals, kind) = match (reply.probabilities, reply.logits) {
        (Some(p), None) => (p, if declared == OutputKind::Auto { OutputKind::Probabilities } else { declared }),
        (None, Some(l)) => (l, OutputKind::Logits),
        _ => return Err("reply must have exactly one of \"probabilities\" or \"logits\"".into()),
    };
    to_probabilities(vals, kind, expected_rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_limits() {
        let px: Vec<u8> = (0..2 * 3 * 3).map(|i| i as u8).collect();
        let body = serde_json::to_vec(&PredictRequest::new(&px, 2, 3, 3, 1)).unwrap();
        assert_eq!(PredictRequest::parse(&body, 8).unwrap().1, px);
        assert_eq!(PredictRequest::parse(&body, 1).unwrap_err().field, "shape");
        let lie = br#"{"shape":[1,4096,4096,3],"dtype":"uint8","data":"AAAA"}"#;
        assert_eq!(PredictRequest::parse(lie, 8).unwrap_err().field, "data");
        let huge = br#"{"shape":[18446744073709551615,1,1,1],"dtype":"uint8","data":""}"#;
        assert!(PredictRequest::parse(huge, usize::MAX).is_err());
        assert_eq!(PredictRequest::parse(b"{", 8).unwrap_err().field, "body");
        // n*h*w*c == usize::MAX exactly: the size check must not overflow.
        let max = br#"{"shape":[72340172838076673,5,17,3],"dtype":"uint8","data":""}"#;
        assert_eq!(PredictRequest::parse(max, usize::MAX).unwrap_err().field, "data");
    }

    #[test]
    fn replies_that_lie_are_refused() {
        let ok = br#"{"probabilities":[[0.25,0.75],[1,0]]}"#;
        assert_eq!(parse_reply(ok, OutputKind::Auto, 2).unwrap()[0], vec![0.25, 0.75]);
        assert!(parse_reply(ok, OutputKind::Auto, 3).unwrap_err().contains("2 rows"));
        assert!(parse_reply(br#"{"probabilities":[[0.5,0.7]]}"#, OutputKind::Auto, 1).unwrap_err().contains("not a probability"));
        assert!(parse_reply(br#"{"logits":[[1e999,0]]}"#, OutputKind::Auto, 1).is_err());
        assert!(parse_reply(br#"{"logits":[[1,0],[1]]}"#, OutputKind::Auto, 2).unwrap_err().contains("row 1"));
        assert!(parse_reply(br#"{"logits":[[1,0]],"probabilities":[[1,0]]}"#, OutputKind::Auto, 1).is_err());
        let p = parse_reply(br#"{"logits":[[0,0]]}"#, OutputKind::Auto, 1).unwrap();
        assert_eq!(p[0], vec![0.5, 0.5]);
    }
}
