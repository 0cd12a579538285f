//! Every setting the library takes, as plain serde types with their range
//! checks, in one leaf module: the key, the pipelines and the CLI all read
//! them from here, and nothing here depends on the pipelines.
mod attack;
mod eval;
mod model;
mod protect;
mod train;
mod verify;

pub use attack::{Attack, AttackFamily};
pub use eval::{ArchSpec, BadNets, Baselines, EvalConfig, ExternalModel, Sweep, SweepParameter};
pub use model::{Arch, ModelConfig};
pub use protect::{Eot, Objective, ProtectConfig, Selection, Step};
pub use train::{Precision, TrainConfig};
pub use verify::{Tta, VerifyConfig};
