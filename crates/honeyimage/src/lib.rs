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
/// Sets the number of threads libtorch computes with in this process (a
/// job sharing a machine with others takes its share of the cores).
pub fn set_threads(n: usize) {
    tch::set_num_threads(n.clamp(1, i32::MAX as usize) as i32);
}
