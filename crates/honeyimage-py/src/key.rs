//! `honeyimage._native.Key`: an owner key opened (and decrypted) or made by
//! protect, with the fields Python shows and the samples as bytes.
use std::path::PathBuf;

use honeyimage::key::{self, KeyBody, SecretString};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;

/// An owner key.
#[pyclass(name = "Key", module = "honeyimage._native", frozen)]
pub struct PyKey {
    pub(crate) body: KeyBody,
    path: Option<PathBuf>,
}

impl PyKey {
    /// Wraps a checked key body.
    pub fn new(body: KeyBody, path: Option<PathBuf>) -> Self {
        PyKey { body, path }
    }
}

/// The key is encrypted and no passphrase came.
fn needs_passphrase(path: &std::path::Path) -> honeyimage::Error {
    let message = "the key is encrypted: pass passphrase= (or set HONEYIMAGE_KEY_PASSPHRASE)".into();
    honeyimage::Error::Key { path: path.into(), message }
}

fn samples_bytes<'py>(py: Python<'py>, s: &[honeyimage::key::KeySample], honey: bool) -> Bound<'py, PyBytes> {
    let px: Vec<u8> = s.iter().flat_map(|k| if honey { &k.honey.0 } else { &k.original.0 }.iter().copied()).collect();
    PyBytes::new(py, &px)
}

#[pymethods]
impl PyKey {
    /// Opens a key file, decrypting it with `passphrase` when it is encrypted.
    #[staticmethod]
    #[pyo3(signature = (path, passphrase = None))]
    fn open(py: Python<'_>, path: PathBuf, passphrase: Option<String>) -> PyResult<Self> {
        let bytes = key::read_bytes(&path).map_err(|e| to_py(py, e))?;
        if key::is_encrypted(&bytes) && passphrase.is_none() {
            return Err(to_py(py, needs_passphrase(&path)));
        }
        let pass = passphrase.map(SecretString::from);
        let body = key::open_bytes(&bytes, pass.as_ref(), &path).map_err(|e| to_py(py, e))?;
        Ok(PyKey::new(body, Some(path)))
    }

    /// A key from its plain encoding (as protect hands it over).
    #[staticmethod]
    fn _from_bytes(py: Python<'_>, bytes: &[u8]) -> PyResult<Self> {
        let body = key::decode(bytes, std::path::Path::new("<protect>")).map_err(|e| to_py(py, e))?;
        Ok(PyKey::new(body, None))
    }

    /// Writes the key atomically, readable by its owner only, encrypted
    /// when a passphrase is given. An existing file is not overwritten.
    #[pyo3(signature = (path, passphrase = None))]
    fn save(&self, py: Python<'_>, path: PathBuf, passphrase: Option<String>) -> PyResult<()> {
        if path.exists() {
            let e = honeyimage::Error::invalid("key path", format!("{} already exists", path.display()));
            return Err(to_py(py, e));
        }
        let pass = passphrase.map(SecretString::from);
        key::save_with(&self.body, &path, pass.as_ref()).map_err(|e| to_py(py, e))
    }

    /// The file it was opened from (None: made in this session).
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }
    /// (height, width, channels) of the images.
    #[getter]
    fn shape(&self) -> (usize, usize, usize) {
        let d = &self.body.dataset;
        (d.height, d.width, d.channels)
    }
    /// Class names, indexed by label.
    #[getter]
    fn class_names(&self) -> Vec<String> {
        self.body.dataset.class_names.clone()
    }
    /// Labels of R (released) and W (withheld), in key order.
    fn _labels(&self, released: bool) -> Vec<u32> {
        let s = if released { &self.body.released } else { &self.body.withheld };
        s.iter().map(|k| k.label).collect()
    }
    /// Sample ids of R or W.
    fn _ids(&self, released: bool) -> Vec<String> {
        let s = if released { &self.body.released } else { &self.body.withheld };
        s.iter().map(|k| k.id.clone()).collect()
    }
    /// Pixels (HWC per sample) of R or W: HoneyImages or originals.
    fn _pixels<'py>(&self, py: Python<'py>, released: bool, honey: bool) -> Bound<'py, PyBytes> {
        samples_bytes(py, if released { &self.body.released } else { &self.body.withheld }, honey)
    }
    /// The public commitment (hex) published with the release.
    #[getter]
    fn commitment(&self) -> String {
        key::commitment(&self.body).hex().to_string()
    }
    /// The public statement (what `protect` writes beside the release).
    fn statement(&self) -> String {
        key::public_statement(&self.body)
    }
    /// The recipient this key's release went to, for per-recipient releases.
    #[getter]
    fn recipient(&self) -> Option<String> {
        self.body.recipient.clone()
    }
    /// The key's records as JSON: protection parameters, dataset, release,
    /// summary (not the samples or the commitment nonce).
    fn _info_json(&self) -> String {
        let b = &self.body;
        serde_json::json!({
            "tool_version": b.tool_version, "params": b.params, "split": b.split.as_str(),
            "dataset": b.dataset, "release": b.release, "summary": b.summary, "recipient": b.recipient,
            "released": b.released.len(), "withheld": b.withheld.len(),
        })
        .to_string()
    }
}
