//! The Python package's native core (`honeyimage._native`): keys, and
//! verification of a suspect that is any Python callable. It links no
//! libtorch (the `honeyimage` crate without its `torch` feature), so
//! verifying needs no particular torch, or none. The decision is the CLI's
//! own code, [`honeyimage::verify::verify`]; this crate only adapts Python
//! values to it. Arrays cross as `bytes` with their shape (abi3 before
//! Python 3.11 has no buffer protocol); `python/honeyimage` gives them their
//! numpy form, types and docs.
use pyo3::prelude::*;

pub mod errors;
mod key;
mod oracle;

pub use errors::to_py;
pub use key::PyKey;

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyKey>()?;
    m.add_function(wrap_pyfunction!(oracle::verify, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    Ok(())
}

/// Count, shape, classes and per-class counts of each split of a dataset
/// (any format `honeyimage inspect` reads), as JSON.
#[pyfunction]
#[pyo3(signature = (path, format = None))]
fn inspect(py: Python<'_>, path: std::path::PathBuf, format: Option<String>) -> PyResult<String> {
    use honeyimage_data::{DataSource, Format, Split};
    let fmt = format.map(|f| f.parse::<Format>()).transpose().map_err(|e| to_py(py, e.into()))?;
    let src = DataSource::open(&path, fmt).map_err(|e| to_py(py, e.into()))?;
    let mut splits = Vec::new();
    for split in [Split::Train, Split::Test].into_iter().filter(|&s| src.has_split(s)) {
        let ds = src.load(split).map_err(|e| to_py(py, e.into()))?;
        splits.push(serde_json::json!({
            "split": split.to_string(),
            "count": ds.len(),
            "shape": [ds.height, ds.width, ds.channels],
            "classes": ds.class_names,
            "class_counts": ds.class_counts(),
        }));
    }
    if splits.is_empty() {
        let e = honeyimage::Error::invalid("dataset", format!("{}: no train or test split with both images and labels", src.path().display()));
        return Err(to_py(py, e));
    }
    // The same document as `honeyimage inspect --json`.
    let doc = serde_json::json!({ "path": src.path(), "format": src.format().to_string(), "splits": splits });
    Ok(doc.to_string())
}
