//! HoneyImage (arXiv 2508.00892): dataset ownership verification for image
//! classifiers. This crate holds the method itself — models, training on
//! libtorch, hardness scoring, bi-level HoneyImage generation, the secret key,
//! black-box model queries and the verification tests. It never prints: the
//! CLI renders what it reports through callbacks and return values.
#![deny(missing_docs)]

pub mod allocator;
pub mod attribution;
pub mod config;
pub mod error;
#[cfg(feature = "torch")]
pub mod eval;
pub mod fsio;
pub mod interrupt;
pub mod key;
#[cfg(feature = "torch")]
pub mod lpips;
#[cfg(feature = "torch")]
pub mod model;
#[cfg(feature = "torch")]
pub mod precision;
#[cfg(feature = "torch")]
pub mod protect;
pub mod query;
#[cfg(feature = "torch")]
pub mod tensors;
#[cfg(feature = "torch")]
pub mod trace;
#[cfg(feature = "torch")]
pub mod train;
pub mod verify;
pub mod watermark;

pub use error::{Error, Result};
#[cfg(feature = "torch")]
pub use model::{Arch, Model, ModelConfig};
#[cfg(feature = "torch")]
pub use train::{TrainConfig, TrainEvent, TrainReport};

#[cfg(feature = "torch")]
/// The device this process computes on: the first CUDA GPU when libtorch
/// sees one, the CPU otherwise. `HONEYIMAGE_DEVICE=cpu` forces the CPU.
pub fn default_device() -> tch::Device {
    match std::env::var("HONEYIMAGE_DEVICE").as_deref() {
        Ok("cpu") => tch::Device::Cpu,
        _ => tch::Device::cuda_if_available(),
    }
}

#[cfg(feature = "torch")]
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(feature = "torch")]
/// Runs `f` right after seeding libtorch's default generator with `seed`,
/// with no other thread of this process seeding or drawing from it in
/// between (it is one per process): two models built at once from two
/// threads (tests, the Python package) each get their seed's weights.
pub fn seeded<T>(seed: u64, f: impl FnOnce() -> T) -> T {
    with_global_rng(|| {
        tch::manual_seed(seed as i64);
        f()
    })
}

#[cfg(feature = "torch")]
/// Runs `f`, which draws from libtorch's default generator, while no other
/// thread seeds or draws from it through [`seeded`].
pub(crate) fn with_global_rng<T>(f: impl FnOnce() -> T) -> T {
    let _only = GLOBAL_RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f()
}

#[cfg(feature = "torch")]
/// Sets the number of threads libtorch computes with in this process (a
/// job sharing a machine with others takes its share of the cores).
pub fn set_threads(n: usize) {
    tch::set_num_threads(n.clamp(1, i32::MAX as usize) as i32);
}
