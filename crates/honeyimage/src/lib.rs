//! HoneyImage (arXiv 2508.00892): dataset ownership verification for image
//! classifiers. This crate holds the method itself — models, training on
//! libtorch, hardness scoring, bi-level HoneyImage generation, the secret key,
//! black-box model queries and the verification tests. It never prints: the
//! CLI renders what it reports through callbacks and return values.
#![deny(missing_docs)]

pub mod attribution;
pub mod config;
pub mod error;
pub mod eval;
pub mod fsio;
pub mod key;
pub mod lpips;
pub mod model;
pub mod protect;
pub mod query;
pub mod tensors;
pub mod trace;
pub mod train;
pub mod verify;
pub mod watermark;

pub use error::{Error, Result};
pub use model::{Arch, Model, ModelConfig};
pub use train::{TrainConfig, TrainEvent, TrainReport};

/// The device this process computes on: the first CUDA GPU when libtorch
/// sees one, the CPU otherwise. `HONEYIMAGE_DEVICE=cpu` forces the CPU.
pub fn default_device() -> tch::Device {
    match std::env::var("HONEYIMAGE_DEVICE").as_deref() {
        Ok("cpu") => tch::Device::Cpu,
        _ => tch::Device::cuda_if_available(),
    }
}
