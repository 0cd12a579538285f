//! A Python callable as a suspect: `honeyimage._native.verify` runs the
//! CLI's verification ([`honeyimage::verify::verify`]) against it. The
//! callable is wrapped by `honeyimage._adapt.call`, which gives it the
//! batch as numpy in the asked layout and hands back the answer as
//! `(bytes, shape, kind)`; every check of the answer (row count, width,
//! finiteness, logits or probabilities) is the library's, as for any model.
use honeyimage::query::{Answer, Oracle, OutputKind};
use honeyimage::verify::{Tta, VerifyConfig};
use honeyimage::{Error, Result};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;
use crate::key::PyKey;

/// The callable and what it said last.
struct PyOracle<'py> {
    call: Bound<'py, PyAny>,
    name: String,
    output: OutputKind,
    /// The exception the callable raised, re-raised as the cause.
    raised: Option<PyErr>,
}

impl PyOracle<'_> {
    fn fail(&self, message: impl Into<String>) -> Error {
        Error::model(&self.name, message)
    }

    /// Turns the adapter's `(bytes, shape, kind)` into an answer.
    fn answer(&self, data: &[u8], shape: &[usize], kind: &str) -> Result<Answer> {
        match (shape, kind) {
            ([rows, cols], "f8") => {
                let v: Vec<f64> = data.chunks_exact(8).map(|b| f64::from_ne_bytes(b.try_into().expect("8 bytes"))).collect();
                Ok(Answer::Scores { rows: v.chunks(*cols.max(&1)).take(*rows).map(<[f64]>::to_vec).collect(), kind: self.output })
            }
            ([_], "i8") => {
                let labels = data.chunks_exact(8).map(|b| i64::from_ne_bytes(b.try_into().expect("8 bytes")));
                labels.map(|l| u32::try_from(l).map_err(|_| self.fail(format!("answered class label {l}")))).collect::<Result<_>>().map(Answer::Labels)
            }
            _ => Err(self.fail(format!("answered an array of shape {shape:?}; expected [batch, classes] scores or [batch] integer labels"))),
        }
    }
}

impl Oracle for PyOracle<'_> {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn query(&mut self, images: &[u8], n: usize, h: usize, w: usize, c: usize) -> Result<Answer> {
        let py = self.call.py();
        let got = self.call.call1((PyBytes::new(py, images), (n, h, w, c)));
        let got = match got.and_then(|t| t.extract::<(Vec<u8>, Vec<usize>, String)>()) {
            Ok(t) => t,
            Err(e) => {
                let what = e.to_string();
                self.raised = Some(e);
                return Err(self.fail(format!("predict raised {what}")));
            }
        };
        self.answer(&got.0, &got.1, &got.2)
    }
}

/// Verifies `key` against a Python suspect (see `honeyimage.verify`);
/// returns the verdict as the CLI's JSON.
#[pyfunction]
#[pyo3(signature = (key, call, name, output, alpha, label_only, permutations, seed, tau, batch, tta_pad, tta_flip, calibrate))]
#[allow(clippy::too_many_arguments)]
pub fn verify(
    py: Python<'_>,
    key: &PyKey,
    call: Bound<'_, PyAny>,
    name: String,
    output: &str,
    alpha: f64,
    label_only: bool,
    permutations: usize,
    seed: u64,
    tau: Option<f64>,
    batch: usize,
    tta_pad: Option<usize>,
    tta_flip: bool,
    calibrate: bool,
) -> PyResult<String> {
    let output = output.parse::<OutputKind>().map_err(|e| to_py(py, Error::invalid("output", e.to_string())))?;
    if batch == 0 {
        return Err(to_py(py, Error::invalid("batch", "must be >= 1")));
    }
    let cfg = VerifyConfig { alpha, label_only, permutations, seed, tau, batch, tta: tta_pad.map(|pad| Tta { pad, flip: tta_flip }), calibrate };
    let mut oracle = PyOracle { call, name, output, raised: None };
    match honeyimage::verify::verify(&key.body, &mut oracle, &cfg) {
        Ok(v) => Ok(serde_json::to_string(&v).expect("verdict serialises")),
        Err(e) => {
            let err = to_py(py, e);
            if let Some(cause) = oracle.raised.take() {
                err.set_cause(py, Some(cause));
            }
            Err(err)
        }
    }
}
