//! The HTTP JSON query protocol (docs/HTTP_PROTOCOL.md) and the checks on
//! what a suspect model returns. A server parses requests with
//! [`PredictRequest::parse`] and answers with a [`PredictReply`] in one of
//! four forms (probabilities, logits, top-k scores or labels); a client
//! checks replies with [`parse_reply_any`] (every form) or [`parse_reply`]
//! (the two forms that give every class a value).
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

/// The JSON reply: exactly one of the four fields, one row per image. Build
/// it with [`PredictReply::probabilities`], [`PredictReply::logits`],
/// [`PredictReply::top_k`] or [`PredictReply::labels`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PredictReply {
    /// Probability rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<Vec<Vec<f64>>>,
    /// Logit rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logits: Option<Vec<Vec<f64>>>,
    /// The k most probable classes of each image with their (possibly
    /// rounded) probabilities, most probable first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<Vec<Vec<TopKEntry>>>,
    /// The most probable class of each image (label-only mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<u32>>,
}

/// One entry of a `top_k` row: `{"label": 3, "score": 0.91}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopKEntry {
    /// Class index.
    pub label: u32,
    /// Its probability, in [0, 1], possibly rounded.
    pub score: f64,
}

/// Largest number of decimals [`PredictReply::top_k`] rounds to; more is
/// the same as no rounding.
pub const MAX_DECIMALS: u32 = 15;

impl PredictReply {
    /// A `{"probabilities": ...}` reply.
    pub fn probabilities(rows: Vec<Vec<f64>>) -> Self {
        PredictReply { probabilities: Some(rows), ..Self::default() }
    }

    /// A `{"logits": ...}` reply.
    pub fn logits(rows: Vec<Vec<f64>>) -> Self {
        PredictReply { logits: Some(rows), ..Self::default() }
    }

    /// A `{"labels": ...}` reply (label-only mode, `serve --labels-only`).
    pub fn labels(labels: Vec<u32>) -> Self {
        PredictReply { labels: Some(labels), ..Self::default() }
    }

    /// A `{"labels": ...}` reply with the most probable class of each row
    /// (the lowest index among ties).
    pub fn labels_of(probabilities: &[Vec<f64>]) -> Self {
        Self::labels(probabilities.iter().map(|r| top_classes(r, 1).first().map_or(0, |e| e.label)).collect())
    }

    /// A `{"top_k": ...}` reply (`serve --top-k K`): for each probability row
    /// (as [`to_probabilities`] returns them), its `k` most probable classes,
    /// most probable first (ties: lower index first), each score clamped to
    /// [0, 1] and rounded to `decimals` places if given (at most
    /// [`MAX_DECIMALS`]). `k` is clamped to 1..=row length.
    pub fn top_k(probabilities: &[Vec<f64>], k: usize, decimals: Option<u32>) -> Self {
        let round = |v: f64| match decimals {
            Some(d) if d <= MAX_DECIMALS => {
                let scale = 10f64.powi(d as i32);
                (v * scale).round() / scale
            }
            _ => v,
        };
        let rows = probabilities
            .iter()
            .map(|r| {
                let mut top = top_classes(r, k);
                top.iter_mut().for_each(|e| e.score = round(e.score.clamp(0.0, 1.0)));
                top
            })
            .collect();
        PredictReply { top_k: Some(rows), ..Self::default() }
    }
}

/// The `k` (clamped to 1..=len, and 0 for an empty row) largest values of a
/// row with their indices, largest first, lower index first among ties.
fn top_classes(row: &[f64], k: usize) -> Vec<TopKEntry> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    order.truncate(k.clamp(1, row.len().max(1)));
    order.into_iter().map(|j| TopKEntry { label: j as u32, score: row[j] }).collect()
}

/// A request that does not follow the protocol: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadRequest {
    /// The field at fault ("body", "shape", "data", ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

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

/// A model's output rows (or a server's reply) that [`to_probabilities`] or
/// [`parse_reply`] refuses. Rows are images of the batch, 0-based. The
/// messages do not name the model or URL, which the caller adds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplyError {
    /// The reply body is not the reply's JSON (the JSON parser's message).
    /// Only from [`parse_reply`].
    #[error("malformed JSON reply: {0}")]
    Malformed(String),
    /// The reply has neither or both of "probabilities" and "logits" (or one
    /// of them and another form). Only from [`parse_reply`].
    #[error("reply must have exactly one of \"probabilities\" or \"logits\"")]
    NeitherOrBoth,
    /// The reply has another form than [`parse_reply`] reads ("top_k" or
    /// "labels"): the client needs a value for every class.
    #[error("reply has {form:?}, but this client needs \"probabilities\" or \"logits\"")]
    NotDense {
        /// The reply's field.
        form: &'static str,
    },
    /// The reply has none or several of the four forms. Only from
    /// [`parse_reply_any`].
    #[error("reply must have exactly one of \"probabilities\", \"logits\", \"top_k\" or \"labels\" (it has {found})")]
    NotExactlyOneForm {
        /// How many of the four fields it has.
        found: usize,
    },
    /// A "probabilities" or "logits" row's length is not the number of
    /// classes. Only from [`parse_reply_any`].
    #[error("{field} row {row} has {got} values for {classes} classes")]
    ClassCount {
        /// The reply's field.
        field: &'static str,
        /// The row (image).
        row: usize,
        /// Its length.
        got: usize,
        /// The number of classes.
        classes: usize,
    },
    /// A "top_k" or "labels" row names a class that does not exist.
    #[error("{field} row {row}: label {label} out of range ({classes} classes)")]
    LabelOutOfRange {
        /// The reply's field.
        field: &'static str,
        /// The row (image).
        row: usize,
        /// The label.
        label: u32,
        /// The number of classes.
        classes: usize,
    },
    /// A "top_k" row with no entry.
    #[error("top_k row {row} is empty")]
    EmptyTopK {
        /// The row (image).
        row: usize,
    },
    /// A "top_k" row names a class twice.
    #[error("top_k row {row}: label {label} appears twice")]
    DuplicateLabel {
        /// The row (image).
        row: usize,
        /// The label.
        label: u32,
    },
    /// A "top_k" score is not a probability.
    #[error("top_k row {row}: score {score} for label {label} is not in [0, 1]")]
    BadScore {
        /// The row (image).
        row: usize,
        /// The entry's label.
        label: u32,
        /// The score.
        score: f64,
    },
    /// Not one row per image.
    #[error("returned {got} rows for {expected} images")]
    RowCount {
        /// Rows returned.
        got: usize,
        /// Images sent.
        expected: usize,
    },
    /// The first row has fewer than two values.
    #[error("returned {classes} classes per image")]
    TooFewClasses {
        /// Values in the first row.
        classes: usize,
    },
    /// A row's length differs from the first row's.
    #[error("row {row} has {got} values, row 0 has {expected}")]
    RowLength {
        /// The row at fault.
        row: usize,
        /// Its length.
        got: usize,
        /// The first row's length.
        expected: usize,
    },
    /// A value is NaN or infinite.
    #[error("non-finite output {value} at image {row}, class {class}")]
    NonFinite {
        /// The row (image).
        row: usize,
        /// The column (class).
        class: usize,
        /// The value.
        value: f64,
    },
    /// A field of a foreign protocol's reply (Open Inference Protocol, TF
    /// Serving, TorchServe) is missing or of the wrong shape or type.
    #[error("{field}: {message}")]
    Field {
        /// The field, as a JSON path ("outputs[0].shape").
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The server answered with its own error document instead of a reply.
    #[error("server error: {0}")]
    Server(String),
    /// Outputs declared (or replied) as probabilities include a row with a
    /// negative value or a sum away from 1.
    #[error("row {row} is not a probability vector (sum {sum:.4})")]
    NotProbabilities {
        /// The first such row.
        row: usize,
        /// Its sum.
        sum: f64,
    },
}

/// A string that names no [`OutputKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("output kind {value:?}; expected auto, logits or probabilities")]
pub struct OutputKindError {
    /// The text given.
    pub value: String,
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
    type Err = OutputKindError;
    fn from_str(s: &str) -> Result<Self, OutputKindError> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(OutputKind::Auto),
            "logits" => Ok(OutputKind::Logits),
            "probabilities" | "probs" => Ok(OutputKind::Probabilities),
            _ => Err(OutputKindError { value: s.to_string() }),
        }
    }
}

/// Checks a model's output rows and turns them into probabilities: exactly
/// `expected_rows` rows, the same number (>= 2) of finite values in each, and
/// for `Probabilities` every row a probability vector.
pub fn to_probabilities(rows: Vec<Vec<f64>>, kind: OutputKind, expected_rows: usize) -> Result<Vec<Vec<f64>>, ReplyError> {
    if rows.len() != expected_rows {
        return Err(ReplyError::RowCount { got: rows.len(), expected: expected_rows });
    }
    let k = rows.first().map_or(0, |r| r.len());
    if k < 2 {
        return Err(ReplyError::TooFewClasses { classes: k });
    }
    for (i, r) in rows.iter().enumerate() {
        if r.len() != k {
            return Err(ReplyError::RowLength { row: i, got: r.len(), expected: k });
        }
        if let Some(j) = r.iter().position(|v| !v.is_finite()) {
            return Err(ReplyError::NonFinite { row: i, class: j, value: r[j] });
        }
    }
    let is_prob = |r: &Vec<f64>| r.iter().all(|&v| v >= 0.0) && (r.iter().sum::<f64>() - 1.0).abs() < 1e-3;
    let softmax = match kind {
        OutputKind::Logits => true,
        OutputKind::Probabilities => {
            if let Some(i) = rows.iter().position(|r| !is_prob(r)) {
                return Err(ReplyError::NotProbabilities { row: i, sum: rows[i].iter().sum::<f64>() });
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

/// Parses and checks a server's reply to a batch of `expected_rows` images,
/// in one of the two forms that give every class a value ("top_k" and
/// "labels" are refused with [`ReplyError::NotDense`]). `declared` is what
/// the user said the outputs are; a reply's own field name
/// ("probabilities" or "logits") settles `Auto`.
pub fn parse_reply(body: &[u8], declared: OutputKind, expected_rows: usize) -> Result<Vec<Vec<f64>>, ReplyError> {
    let reply = parse_body(body)?;
    let (vals, kind) = match (reply.probabilities, reply.logits, reply.top_k, reply.labels) {
        (Some(p), None, None, None) => (p, if declared == OutputKind::Auto { OutputKind::Probabilities } else { declared }),
        (None, Some(l), None, None) => (l, OutputKind::Logits),
        (None, None, Some(_), None) => return Err(ReplyError::NotDense { form: "top_k" }),
        (None, None, None, Some(_)) => return Err(ReplyError::NotDense { form: "labels" }),
        _ => return Err(ReplyError::NeitherOrBoth),
    };
    to_probabilities(vals, kind, expected_rows)
}

fn parse_body(body: &[u8]) -> Result<PredictReply, ReplyError> {
    serde_json::from_slice(body).map_err(|e| ReplyError::Malformed(e.to_string()))
}

/// A checked reply in any of the four forms, rows in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum Scores {
    /// One value per class for each image, as the server sent them (finite;
    /// not yet checked to be probability vectors: [`to_probabilities`] does
    /// that, with the kind the user declared).
    Probabilities(Vec<Vec<f64>>),
    /// One finite value per class for each image.
    Logits(Vec<Vec<f64>>),
    /// For each image, one or more `(label, score)` pairs: distinct labels,
    /// scores in [0, 1], in the server's order. Their sum may exceed 1 by
    /// rounding, so a caller that spreads the rest mass over the unlisted
    /// classes should clamp it at 0.
    TopK(Vec<Vec<(u32, f64)>>),
    /// The top-1 class of each image.
    Labels(Vec<u32>),
}

impl Scores {
    /// The reply field this form comes from: "probabilities", "logits",
    /// "top_k" or "labels".
    pub fn form(&self) -> &'static str {
        match self {
            Scores::Probabilities(_) => "probabilities",
            Scores::Logits(_) => "logits",
            Scores::TopK(_) => "top_k",
            Scores::Labels(_) => "labels",
        }
    }

    /// Number of rows (images).
    pub fn len(&self) -> usize {
        match self {
            Scores::Probabilities(r) | Scores::Logits(r) => r.len(),
            Scores::TopK(r) => r.len(),
            Scores::Labels(r) => r.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Parses and checks a server's reply in any of the four forms to a batch of
/// `expected_rows` images of a dataset with `num_classes` classes: exactly
/// one form, one row per image, and per form: "probabilities"/"logits" rows
/// of `num_classes` finite values; "top_k" rows of at least one entry, with
/// distinct labels below `num_classes` and scores in [0, 1]; "labels" below
/// `num_classes`. Every error names the row (0-based) and the field.
pub fn parse_reply_any(body: &[u8], expected_rows: usize, num_classes: usize) -> Result<Scores, ReplyError> {
    let reply = parse_body(body)?;
    let found = [reply.probabilities.is_some(), reply.logits.is_some(), reply.top_k.is_some(), reply.labels.is_some()];
    let found = found.iter().filter(|&&f| f).count();
    if found != 1 {
        return Err(ReplyError::NotExactlyOneForm { found });
    }
    let scores = if let Some(p) = reply.probabilities {
        Scores::Probabilities(p)
    } else if let Some(l) = reply.logits {
        Scores::Logits(l)
    } else if let Some(t) = reply.top_k {
        Scores::TopK(t.into_iter().map(|r| r.into_iter().map(|e| (e.label, e.score)).collect()).collect())
    } else {
        Scores::Labels(reply.labels.unwrap_or_default())
    };
    if scores.len() != expected_rows {
        return Err(ReplyError::RowCount { got: scores.len(), expected: expected_rows });
    }
    match &scores {
        Scores::Probabilities(rows) | Scores::Logits(rows) => check_dense(scores.form(), rows, num_classes)?,
        Scores::TopK(rows) => check_top_k(rows, num_classes)?,
        Scores::Labels(labels) => {
            if let Some(row) = labels.iter().position(|&l| l as usize >= num_classes) {
                return Err(ReplyError::LabelOutOfRange { field: "labels", row, label: labels[row], classes: num_classes });
            }
        }
    }
    Ok(scores)
}

/// Rows of exactly `classes` finite values.
pub(crate) fn check_dense(field: &'static str, rows: &[Vec<f64>], classes: usize) -> Result<(), ReplyError> {
    for (row, r) in rows.iter().enumerate() {
        if r.len() != classes {
            return Err(ReplyError::ClassCount { field, row, got: r.len(), classes });
        }
        if let Some(class) = r.iter().position(|v| !v.is_finite()) {
            return Err(ReplyError::NonFinite { row, class, value: r[class] });
        }
    }
    Ok(())
}

/// Non-empty rows of distinct labels below `classes` with scores in [0, 1].
pub(crate) fn check_top_k(rows: &[Vec<(u32, f64)>], classes: usize) -> Result<(), ReplyError> {
    let mut seen = vec![false; classes];
    for (row, r) in rows.iter().enumerate() {
        if r.is_empty() {
            return Err(ReplyError::EmptyTopK { row });
        }
        for &(label, score) in r {
            let Some(s) = seen.get_mut(label as usize) else {
                return Err(ReplyError::LabelOutOfRange { field: "top_k", row, label, classes });
            };
            if std::mem::replace(s, true) {
                return Err(ReplyError::DuplicateLabel { row, label });
            }
            if !(0.0..=1.0).contains(&score) {
                return Err(ReplyError::BadScore { row, label, score });
            }
        }
        // Every label of the row was marked, and is below `classes`.
        r.iter().for_each(|&(label, _)| seen[label as usize] = false);
    }
    Ok(())
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
        let reply = |body: &[u8], kind, rows| parse_reply(body, kind, rows);
        let ok = br#"{"probabilities":[[0.25,0.75],[1,0]]}"#;
        assert_eq!(reply(ok, OutputKind::Auto, 2).unwrap()[0], vec![0.25, 0.75]);
        assert_eq!(reply(ok, OutputKind::Auto, 3).unwrap_err(), ReplyError::RowCount { got: 2, expected: 3 });
        assert!(matches!(
            reply(br#"{"probabilities":[[0.5,0.7]]}"#, OutputKind::Auto, 1).unwrap_err(),
            ReplyError::NotProbabilities { row: 0, sum } if (sum - 1.2).abs() < 1e-12
        ));
        // A negative value is not a probability, even when the row sums to 1.
        assert!(matches!(
            reply(br#"{"probabilities":[[1,0],[1.5,-0.5]]}"#, OutputKind::Probabilities, 2).unwrap_err(),
            ReplyError::NotProbabilities { row: 1, .. }
        ));
        // JSON has no non-finite numbers (serde_json refuses 1e999), so only
        // a model's tensor outputs can carry one.
        assert!(matches!(reply(br#"{"logits":[[0,1e999]]}"#, OutputKind::Auto, 1).unwrap_err(), ReplyError::Malformed(_)));
        assert_eq!(
            to_probabilities(vec![vec![0.0, 0.0], vec![0.0, f64::INFINITY]], OutputKind::Auto, 2).unwrap_err(),
            ReplyError::NonFinite { row: 1, class: 1, value: f64::INFINITY }
        );
        assert!(matches!(
            to_probabilities(vec![vec![f64::NAN, 0.0]], OutputKind::Logits, 1).unwrap_err(),
            ReplyError::NonFinite { row: 0, class: 0, value } if value.is_nan()
        ));
        assert_eq!(
            reply(br#"{"logits":[[1,0],[1]]}"#, OutputKind::Auto, 2).unwrap_err(),
            ReplyError::RowLength { row: 1, got: 1, expected: 2 }
        );
        assert_eq!(reply(br#"{"logits":[[1]]}"#, OutputKind::Auto, 1).unwrap_err(), ReplyError::TooFewClasses { classes: 1 });
        assert_eq!(reply(br#"{"logits":[]}"#, OutputKind::Auto, 0).unwrap_err(), ReplyError::TooFewClasses { classes: 0 });
        assert_eq!(reply(br#"{"logits":[[1,0]],"probabilities":[[1,0]]}"#, OutputKind::Auto, 1).unwrap_err(), ReplyError::NeitherOrBoth);
        assert_eq!(reply(br#"{}"#, OutputKind::Auto, 1).unwrap_err(), ReplyError::NeitherOrBoth);
        assert!(matches!(reply(b"{", OutputKind::Auto, 1).unwrap_err(), ReplyError::Malformed(_)));
        let p = reply(br#"{"logits":[[0,0]]}"#, OutputKind::Auto, 1).unwrap();
        assert_eq!(p[0], vec![0.5, 0.5]);
        // Rows that are probabilities, declared as logits, get a softmax.
        let p = to_probabilities(vec![vec![1.0, 0.0]], OutputKind::Logits, 1).unwrap();
        assert!((p[0][0] - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn dense_replies_in_any_form() {
        let any = |body: &str, rows, classes| parse_reply_any(body.as_bytes(), rows, classes);
        let p = any(r#"{"probabilities":[[0.25,0.75],[1,0]]}"#, 2, 2).unwrap();
        assert_eq!((p.form(), p.len()), ("probabilities", 2));
        assert_eq!(p, Scores::Probabilities(vec![vec![0.25, 0.75], vec![1.0, 0.0]]));
        assert_eq!(any(r#"{"logits":[[3,-1,0]]}"#, 1, 3).unwrap(), Scores::Logits(vec![vec![3.0, -1.0, 0.0]]));
        assert_eq!(any(r#"{"logits":[[3,-1,0]]}"#, 2, 3).unwrap_err(), ReplyError::RowCount { got: 1, expected: 2 });
        assert_eq!(
            any(r#"{"logits":[[3,-1,0],[1,2]]}"#, 2, 3).unwrap_err(),
            ReplyError::ClassCount { field: "logits", row: 1, got: 2, classes: 3 }
        );
        assert_eq!(
            any(r#"{"probabilities":[[0.5,0.5]]}"#, 1, 3).unwrap_err(),
            ReplyError::ClassCount { field: "probabilities", row: 0, got: 2, classes: 3 }
        );
        assert_eq!(check_dense("logits", &[vec![0.0, f64::NAN]], 2).unwrap_err().to_string(), "non-finite output NaN at image 0, class 1");
        for (body, found) in [("{}", 0), (r#"{"labels":[1],"top_k":[[{"label":1,"score":1}]]}"#, 2), (r#"{"labels":[1],"logits":[[0,1]]}"#, 2)] {
            assert_eq!(any(body, 1, 2).unwrap_err(), ReplyError::NotExactlyOneForm { found });
        }
        assert!(matches!(any("[", 1, 2).unwrap_err(), ReplyError::Malformed(_)));
    }

    #[test]
    fn label_and_top_k_replies() {
        let any = |body: &str, rows, classes| parse_reply_any(body.as_bytes(), rows, classes);
        let l = any(r#"{"labels":[3,0,9]}"#, 3, 10).unwrap();
        assert_eq!((l.form(), &l), ("labels", &Scores::Labels(vec![3, 0, 9])));
        assert_eq!(any(r#"{"labels":[3,0,10]}"#, 3, 10).unwrap_err(), ReplyError::LabelOutOfRange { field: "labels", row: 2, label: 10, classes: 10 });
        assert_eq!(any(r#"{"labels":[3]}"#, 2, 10).unwrap_err(), ReplyError::RowCount { got: 1, expected: 2 });
        for bad in [r#"{"labels":[-1]}"#, r#"{"labels":[1.5]}"#, r#"{"labels":[4294967296]}"#, r#"{"top_k":[[{"label":1}]]}"#] {
            assert!(matches!(any(bad, 1, 10).unwrap_err(), ReplyError::Malformed(_)), "{bad}");
        }
        let t = any(r#"{"top_k":[[{"label":3,"score":0.91},{"label":1,"score":0.05}],[{"label":0,"score":1}]]}"#, 2, 4).unwrap();
        assert_eq!(t, Scores::TopK(vec![vec![(3, 0.91), (1, 0.05)], vec![(0, 1.0)]]));
        let err = |body: &str| any(body, 2, 4).unwrap_err();
        assert_eq!(err(r#"{"top_k":[[{"label":3,"score":0.9}],[]]}"#), ReplyError::EmptyTopK { row: 1 });
        assert_eq!(
            err(r#"{"top_k":[[{"label":3,"score":0.9}],[{"label":4,"score":0.9}]]}"#),
            ReplyError::LabelOutOfRange { field: "top_k", row: 1, label: 4, classes: 4 }
        );
        assert_eq!(err(r#"{"top_k":[[{"label":3,"score":0.5},{"label":3,"score":0.4}],[{"label":1,"score":1}]]}"#), ReplyError::DuplicateLabel { row: 0, label: 3 });
        assert_eq!(err(r#"{"top_k":[[{"label":3,"score":0.5}],[{"label":1,"score":1.01}]]}"#), ReplyError::BadScore { row: 1, label: 1, score: 1.01 });
        assert_eq!(err(r#"{"top_k":[[{"label":3,"score":-0.1}],[{"label":1,"score":1}]]}"#), ReplyError::BadScore { row: 0, label: 3, score: -0.1 });
        // The same label in two rows is fine.
        assert!(any(r#"{"top_k":[[{"label":3,"score":0.5}],[{"label":3,"score":0.5}]]}"#, 2, 4).is_ok());
        // The dense-only parser names the form it cannot use.
        assert_eq!(parse_reply(br#"{"labels":[1]}"#, OutputKind::Auto, 1).unwrap_err(), ReplyError::NotDense { form: "labels" });
        assert_eq!(parse_reply(br#"{"top_k":[[]]}"#, OutputKind::Auto, 1).unwrap_err(), ReplyError::NotDense { form: "top_k" });
        assert_eq!(parse_reply(br#"{"labels":[1],"logits":[[0,1]]}"#, OutputKind::Auto, 1).unwrap_err(), ReplyError::NeitherOrBoth);
    }

    #[test]
    fn server_replies_parse_back() {
        let probs = vec![vec![0.1, 0.6, 0.3], vec![0.3334, 0.3333, 0.3333], vec![0.0, 0.0, 1.0000000001]];
        let body = |r: &PredictReply| serde_json::to_vec(r).unwrap();
        let labels = PredictReply::labels_of(&probs);
        assert_eq!(labels, PredictReply::labels(vec![1, 0, 2]));
        assert_eq!(String::from_utf8(body(&labels)).unwrap(), r#"{"labels":[1,0,2]}"#);
        assert_eq!(parse_reply_any(&body(&labels), 3, 3).unwrap(), Scores::Labels(vec![1, 0, 2]));
        let top = PredictReply::top_k(&probs, 2, Some(2));
        assert_eq!(
            String::from_utf8(body(&top)).unwrap(),
            r#"{"top_k":[[{"label":1,"score":0.6},{"label":2,"score":0.3}],[{"label":0,"score":0.33},{"label":1,"score":0.33}],[{"label":2,"score":1.0},{"label":0,"score":0.0}]]}"#
        );
        assert_eq!(parse_reply_any(&body(&top), 3, 3).unwrap().form(), "top_k");
        // k is clamped to 1..=classes; no rounding keeps the values (clamped to [0, 1]).
        let all = PredictReply::top_k(&probs, 9, None).top_k.unwrap();
        assert_eq!(all[0].iter().map(|e| (e.label, e.score)).collect::<Vec<_>>(), vec![(1, 0.6), (2, 0.3), (0, 0.1)]);
        assert_eq!(all[2][0].score, 1.0);
        assert_eq!(PredictReply::top_k(&probs, 0, Some(40)).top_k.unwrap()[1], vec![TopKEntry { label: 0, score: 0.3334 }]);
        for r in [PredictReply::probabilities(probs.clone()), PredictReply::logits(probs.clone())] {
            assert_eq!(parse_reply(&body(&r), OutputKind::Auto, 3).unwrap().len(), 3);
        }
        assert_eq!(String::from_utf8(body(&PredictReply::logits(vec![vec![0.5, 1.0]]))).unwrap(), r#"{"logits":[[0.5,1.0]]}"#);
    }

    #[test]
    fn output_kinds_parse() {
        assert_eq!("Probs".parse(), Ok(OutputKind::Probabilities));
        assert_eq!("LOGITS".parse(), Ok(OutputKind::Logits));
        assert_eq!("auto".parse(), Ok(OutputKind::Auto));
        assert_eq!("soft".parse::<OutputKind>(), Err(OutputKindError { value: "soft".into() }));
    }

    #[test]
    fn messages_are_unchanged() {
        // Other crates and their tests match on these texts.
        let cases = [
            (ReplyError::Malformed("eof".into()), "malformed JSON reply: eof"),
            (ReplyError::NeitherOrBoth, r#"reply must have exactly one of "probabilities" or "logits""#),
            (ReplyError::RowCount { got: 2, expected: 3 }, "returned 2 rows for 3 images"),
            (ReplyError::TooFewClasses { classes: 1 }, "returned 1 classes per image"),
            (ReplyError::RowLength { row: 1, got: 1, expected: 2 }, "row 1 has 1 values, row 0 has 2"),
            (ReplyError::NonFinite { row: 1, class: 0, value: f64::NAN }, "non-finite output NaN at image 1, class 0"),
            (ReplyError::NotProbabilities { row: 0, sum: 1.2 }, "row 0 is not a probability vector (sum 1.2000)"),
            (ReplyError::NotDense { form: "labels" }, r#"reply has "labels", but this client needs "probabilities" or "logits""#),
            (
                ReplyError::NotExactlyOneForm { found: 0 },
                r#"reply must have exactly one of "probabilities", "logits", "top_k" or "labels" (it has 0)"#,
            ),
            (ReplyError::ClassCount { field: "logits", row: 1, got: 2, classes: 3 }, "logits row 1 has 2 values for 3 classes"),
            (
                ReplyError::LabelOutOfRange { field: "top_k", row: 0, label: 7, classes: 3 },
                "top_k row 0: label 7 out of range (3 classes)",
            ),
            (ReplyError::EmptyTopK { row: 2 }, "top_k row 2 is empty"),
            (ReplyError::DuplicateLabel { row: 0, label: 3 }, "top_k row 0: label 3 appears twice"),
            (ReplyError::BadScore { row: 0, label: 3, score: 1.5 }, "top_k row 0: score 1.5 for label 3 is not in [0, 1]"),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
        assert_eq!(OutputKindError { value: "x".into() }.to_string(), r#"output kind "x"; expected auto, logits or probabilities"#);
        assert_eq!(BadRequest { field: "shape", message: "m".into() }.to_string(), "shape: m");
    }
}
