//! Replies of the two other model servers a suspect is commonly deployed
//! behind: TensorFlow Serving's REST API (`POST /v1/models/{name}:predict`,
//! <https://www.tensorflow.org/tfx/serving/api_rest>) and TorchServe's
//! inference API (`POST /predictions/{name}`, one encoded image per request,
//! <https://pytorch.org/serve/inference_api.html>). Both return whatever the
//! model or handler returns, so the readers accept every usual form (score
//! rows, labels, class names, `{name: score}` objects) and check it.
use serde_json::Value;

use crate::classes::{gather, label_of, ClassMap, Row};
use crate::protocol::{ReplyError, Scores};

fn field(f: impl Into<String>, m: impl Into<String>) -> ReplyError {
    ReplyError::Field { field: f.into(), message: m.into() }
}

fn parse(body: &[u8]) -> Result<Value, ReplyError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ReplyError::Malformed(e.to_string()))?;
    match v.get("error").or_else(|| v.get("message").filter(|_| v.get("code").is_some())) {
        Some(e) => Err(ReplyError::Server(e.as_str().map_or_else(|| e.to_string(), str::to_string).chars().take(300).collect())),
        None => Ok(v),
    }
}

/// All numbers of a (possibly nested) array, or None if anything else is in it.
fn numbers(v: &Value) -> Option<Vec<f64>> {
    match v {
        Value::Number(n) => n.as_f64().map(|x| vec![x]),
        Value::Array(a) => a.iter().map(numbers).collect::<Option<Vec<_>>>().map(|v| v.concat()),
        _ => None,
    }
}

/// One image's prediction in any usual form. `at` names it in errors.
fn row(v: &Value, output: Option<&str>, map: Option<&ClassMap>, at: &str) -> Result<Row, ReplyError> {
    match v {
        Value::String(name) => Ok(Row::Label(label_of(name, map, at)?)),
        Value::Number(n) => match n.as_u64().and_then(|l| u32::try_from(l).ok()) {
            Some(l) => Ok(Row::Label(l)),
            None => Err(field(at, format!("{n} is neither a label nor a row of scores"))),
        },
        Value::Array(a) if a.len() == 1 && !a[0].is_number() => row(&a[0], output, map, at),
        Value::Array(_) => numbers(v).map(Row::Dense).ok_or_else(|| field(at, "an array that is not all numbers")),
        Value::Object(o) => {
            let pick = match output {
                Some(k) => o.get(k).map(|x| (k.to_string(), x)),
                None if o.len() == 1 => o.iter().next().map(|(k, x)| (k.clone(), x)),
                None => None,
            };
            match pick {
                Some((k, inner)) if !inner.is_number() => row(inner, None, map, &format!("{at}.{k}")),
                // {class: score, ...}: a top-k (or full) dictionary of scores.
                _ if o.values().all(Value::is_number) && output.is_none() => {
                    let mut entries = o
                        .iter()
                        .map(|(name, s)| Ok((label_of(name, map, at)?, s.as_f64().unwrap_or(f64::NAN))))
                        .collect::<Result<Vec<_>, ReplyError>>()?;
                    entries.sort_by(|a, b| b.1.total_cmp(&a.1));
                    Ok(Row::TopK(entries))
                }
                _ => Err(field(at, format!("an object with keys {:?}: choose the output with --output-name", o.keys().collect::<Vec<_>>()))),
            }
        }
        _ => Err(field(at, format!("{v} is not a prediction"))),
    }
}

/// Reads TF Serving's reply to `rows` instances: `{"predictions": [...]}`
/// (row format) or `{"outputs": ...}` (columnar format, an array of rows or
/// an object of named outputs), each row a list of scores, a label, a class
/// name or an object of named outputs (`output` picks one).
pub fn read_tfserving(body: &[u8], output: Option<&str>, rows: usize, classes: usize, map: Option<&ClassMap>) -> Result<Scores, ReplyError> {
    let v = parse(body)?;
    let (name, preds) = match (v.get("predictions"), v.get("outputs")) {
        (Some(p), None) => ("predictions", p.clone()),
        (None, Some(Value::Object(o))) => {
            let pick = match output {
                Some(k) => o.get(k),
                None if o.len() == 1 => o.values().next(),
                None => return Err(field("outputs", format!("several outputs {:?}: choose one with --output-name", o.keys().collect::<Vec<_>>()))),
            };
            ("outputs", pick.cloned().ok_or_else(|| field("outputs", format!("no output named {:?}", output.unwrap_or_default())))?)
        }
        (None, Some(o)) => ("outputs", o.clone()),
        _ => return Err(field("body", "a reply needs exactly one of \"predictions\" and \"outputs\"")),
    };
    let Value::Array(items) = preds else { return Err(field(name, "not an array")) };
    if items.len() != rows {
        return Err(ReplyError::RowCount { got: items.len(), expected: rows });
    }
    let parsed = items.iter().enumerate().map(|(i, it)| row(it, output, map, &format!("{name}[{i}]"))).collect::<Result<Vec<_>, _>>()?;
    gather(parsed, classes)
}

/// Reads TorchServe's reply to one image: a `{class: score}` object (the
/// stock `image_classifier` handler's top 5, or all classes), a list of
/// scores, a label or a class name, possibly wrapped in a one-element list.
pub fn read_torchserve(body: &[u8], output: Option<&str>, map: Option<&ClassMap>) -> Result<Row, ReplyError> {
    row(&parse(body)?, output, map, "reply")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_serving_forms() {
        let r = |b: &str| read_tfserving(b.as_bytes(), None, 2, 2, None);
        assert_eq!(r(r#"{"predictions":[[0.2,0.8],[1,0]]}"#).unwrap(), Scores::Probabilities(vec![vec![0.2, 0.8], vec![1.0, 0.0]]));
        assert_eq!(r(r#"{"outputs":[[0.2,0.8],[1,0]]}"#).unwrap(), r(r#"{"predictions":[[0.2,0.8],[1,0]]}"#).unwrap());
        assert_eq!(r(r#"{"predictions":[1,0]}"#).unwrap(), Scores::Labels(vec![1, 0]));
        let named = r#"{"predictions":[{"probs":[0.2,0.8],"cls":1},{"probs":[1,0],"cls":0}]}"#;
        assert!(r(named).unwrap_err().to_string().contains("--output-name"));
        assert_eq!(read_tfserving(named.as_bytes(), Some("probs"), 2, 2, None).unwrap(), Scores::Probabilities(vec![vec![0.2, 0.8], vec![1.0, 0.0]]));
        let col = r#"{"outputs":{"probs":[[0.2,0.8],[1,0]],"cls":[1,0]}}"#;
        assert_eq!(read_tfserving(col.as_bytes(), Some("cls"), 2, 2, None).unwrap(), Scores::Labels(vec![1, 0]));
        assert!(matches!(r(r#"{"error":"Input size does not match"}"#), Err(ReplyError::Server(_))));
        assert!(matches!(r(r#"{"predictions":[[0.2,0.8]]}"#), Err(ReplyError::RowCount { .. })));
        assert!(r(r#"{"predictions":[[0.2,"x"],[1,0]]}"#).unwrap_err().to_string().contains("predictions[0]"));
    }

    #[test]
    fn torchserve_forms() {
        let map = ClassMap::parse("Top\nTrouser\nBag").unwrap();
        let r = |b: &str| read_torchserve(b.as_bytes(), None, Some(&map)).unwrap();
        assert_eq!(r(r#"{"Trouser":0.1,"Bag":0.9}"#), Row::TopK(vec![(2, 0.9), (1, 0.1)]));
        assert_eq!(r(r#"[{"Bag":0.9,"Top":0.05,"Trouser":0.05}]"#), Row::TopK(vec![(2, 0.9), (0, 0.05), (1, 0.05)]));
        assert_eq!(r(r#"[0.1,0.2,0.7]"#), Row::Dense(vec![0.1, 0.2, 0.7]));
        assert_eq!(r(r#""Bag""#), Row::Label(2));
        assert_eq!(r("2"), Row::Label(2));
        assert!(read_torchserve(br#"{"Dress":1}"#, None, Some(&map)).unwrap_err().to_string().contains("not in the class map"));
        assert!(matches!(read_torchserve(br#"{"code":404,"type":"ModelNotFoundException","message":"Model not found: x"}"#, None, None), Err(ReplyError::Server(_))));
        // A full dictionary is a dense row once gathered.
        assert_eq!(gather(vec![r(r#"{"Bag":0.7,"Top":0.2,"Trouser":0.1}"#)], 3).unwrap(), Scores::Probabilities(vec![vec![0.2, 0.1, 0.7]]));
    }
}
