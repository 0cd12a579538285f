//! The Python package's training engine (`honeyimage_protect._engine`):
//! `protect` on arrays in memory and on datasets on disk, the library's own
//! pipeline ([`honeyimage::protect`]). It links libtorch, so it is a wheel
//! of its own: `honeyimage` (keys, verify) stays free of any torch version.
//! Runs without the GIL; progress events re-take it to reach the caller's
//! callback, and a Ctrl-C seen there stops the run at its next step.
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use honeyimage::protect::{ProtectConfig, ProtectEvent, ProtectOutcome};
use honeyimage::{Error, TrainEvent};
use honeyimage_data::{Dataset, Split};
use honeyimage_py::to_py;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // As the CLI does: keep freed activations for reuse (2x faster training
    // on glibc; honeyimage's allocator.rs says why). Process-wide, once.
    let _ = honeyimage::allocator::tune();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(default_config, m)?)?;
    m.add_function(wrap_pyfunction!(best_precision, m)?)?;
    m.add_function(wrap_pyfunction!(protect_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(protect_path, m)?)?;
    Ok(())
}

/// What `precision="auto"` means here: `"bf16"` on a CPU with bf16 units
/// (or a GPU), else `"fp32"`.
#[pyfunction]
fn best_precision() -> &'static str {
    honeyimage::precision::best_available(honeyimage::default_device()).name()
}

/// The default protection settings, as JSON.
#[pyfunction]
fn default_config() -> String {
    serde_json::to_string(&ProtectConfig::default()).expect("config serialises")
}

fn config(py: Python<'_>, json: &str) -> PyResult<ProtectConfig> {
    let c: ProtectConfig = serde_json::from_str(json).map_err(|e| to_py(py, Error::invalid("setting", e.to_string())))?;
    c.validate().map_err(|e| to_py(py, e))?;
    Ok(c)
}

/// A progress event as a dict for the caller.
fn event_dict<'py>(py: Python<'py>, e: &ProtectEvent) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match e {
        ProtectEvent::Stage { name } => {
            d.set_item("kind", "stage")?;
            d.set_item("name", name)?;
        }
        ProtectEvent::StageDone { name, seconds, peak_mib, cached } => {
            d.set_item("kind", "stage_done")?;
            d.set_item("name", name)?;
            d.set_item("seconds", seconds)?;
            d.set_item("peak_mib", peak_mib)?;
            d.set_item("cached", cached)?;
        }
        ProtectEvent::Train { label, event: TrainEvent::Step { epoch, step, total_steps, loss, accuracy, .. } } => {
            d.set_item("kind", "train")?;
            d.set_item("label", label)?;
            d.set_item("epoch", epoch)?;
            d.set_item("step", step)?;
            d.set_item("total", total_steps)?;
            d.set_item("loss", loss)?;
            d.set_item("accuracy", accuracy)?;
        }
        ProtectEvent::Pgd { label, iter, total } => {
            d.set_item("kind", "optimise")?;
            d.set_item("label", label)?;
            d.set_item("step", iter)?;
            d.set_item("total", total)?;
        }
        ProtectEvent::Train { .. } => {}
    }
    Ok(d)
}

/// Runs `job` without the GIL. Each event goes to `progress` (if any) with
/// the GIL; an exception there, or a Ctrl-C, stops the run at its next step
/// and is raised here.
fn run_detached<T: Send>(py: Python<'_>, progress: Option<Py<PyAny>>, job: impl FnOnce(&mut dyn FnMut(ProtectEvent)) -> honeyimage::Result<T> + Send) -> PyResult<T> {
    let stop: Mutex<Option<PyErr>> = Mutex::new(None);
    honeyimage::interrupt::clear();
    let result = py.detach(|| {
        job(&mut |event| {
            Python::attach(|py| {
                let outcome = py.check_signals().and_then(|()| match &progress {
                    Some(cb) => event_dict(py, &event).and_then(|d| if d.is_empty() { Ok(()) } else { cb.call1(py, (d,)).map(drop) }),
                    None => Ok(()),
                });
                if let Err(e) = outcome {
                    stop.lock().expect("not poisoned").get_or_insert(e);
                    honeyimage::interrupt::request();
                }
            })
        })
    });
    honeyimage::interrupt::clear();
    if let Some(e) = stop.into_inner().expect("not poisoned") {
        return Err(e);
    }
    result.map_err(|e| to_py(py, e))
}

/// What protect on arrays hands back: released pixels and labels, the key's
/// plain encoding and the summary JSON.
type Released<'py> = (Bound<'py, PyBytes>, Vec<u32>, Bound<'py, PyBytes>, String);

/// Protects arrays: `pixels` N*H*W*C uint8 (NHWC), `labels` one per image.
/// Returns (released pixels, released labels, plain key bytes, summary JSON).
#[pyfunction]
#[pyo3(signature = (pixels, shape, labels, class_names, config_json, work, name, progress = None))]
#[allow(clippy::too_many_arguments)]
fn protect_arrays<'py>(
    py: Python<'py>,
    pixels: &[u8],
    shape: (usize, usize, usize, usize),
    labels: Vec<u32>,
    class_names: Vec<String>,
    config_json: &str,
    work: PathBuf,
    name: String,
    progress: Option<Py<PyAny>>,
) -> PyResult<Released<'py>> {
    let cfg = config(py, config_json)?;
    let (n, height, width, channels) = shape;
    let ids = (0..n).map(|i| format!("train:{i:05}")).collect();
    let ds = Dataset { images: pixels.to_vec(), labels, height, width, channels, class_names, ids };
    ds.validate().map_err(|e| to_py(py, e.into()))?;
    let outcome: ProtectOutcome = run_detached(py, progress, |ev| honeyimage::protect::protect_memory(&ds, &name, &work, &cfg, ev))?;
    let released = outcome.released.expect("an in-memory input gives its release");
    let summary = serde_json::to_string(&outcome.summary).expect("summary serialises");
    let key = honeyimage::key::encode(&outcome.key);
    Ok((PyBytes::new(py, &released.images), released.labels, PyBytes::new(py, &key), summary))
}

/// Protects a dataset on disk like `honeyimage protect`: the release in
/// the input's format at `out`, the key at `key` (encrypted with
/// `passphrase` when given) and the commitment beside the release.
/// Returns the summary JSON.
#[pyfunction]
#[pyo3(signature = (data, out, key, config_json, work, split = "train", format = None, passphrase = None, progress = None))]
#[allow(clippy::too_many_arguments)]
fn protect_path(
    py: Python<'_>,
    data: PathBuf,
    out: PathBuf,
    key: PathBuf,
    config_json: &str,
    work: PathBuf,
    split: &str,
    format: Option<String>,
    passphrase: Option<String>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let cfg = config(py, config_json)?;
    let split: Split = split.parse().map_err(|e: honeyimage_data::Error| to_py(py, e.into()))?;
    let format = format.map(|f| f.parse()).transpose().map_err(|e: honeyimage_data::Error| to_py(py, e.into()))?;
    let src = honeyimage_data::DataSource::open(&data, format).map_err(|e| to_py(py, e.into()))?;
    if key.exists() {
        return Err(to_py(py, Error::invalid("key", format!("{} already exists", key.display()))));
    }
    let pass = passphrase.map(honeyimage::key::SecretString::from);
    let outputs = honeyimage::protect::Outputs { release: &out, key: &key, work: &work };
    let outcome = run_detached(py, progress, |ev| honeyimage::protect::protect(&src, split, outputs, &cfg, pass.as_ref(), ev))?;
    if pass.is_some() {
        remove_work(py, &work)?;
    }
    Ok(serde_json::to_string(&outcome.summary).expect("summary serialises"))
}

/// The work folder holds the key's secrets in the clear: gone once the key
/// is encrypted (as the command line does).
fn remove_work(py: Python<'_>, work: &Path) -> PyResult<()> {
    std::fs::remove_dir_all(work).map_err(|e| to_py(py, Error::io(work, e)))
}
