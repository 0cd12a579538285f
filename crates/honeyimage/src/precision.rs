//! bf16 mixed precision. The method's cost is training (proxies, in-models,
//! suspects) and input gradients, and on CPUs with bf16 units (AVX512-BF16,
//! AMX-BF16) libtorch's bf16 convolutions and matrix products run about
//! twice as fast as fp32 (BENCHMARKS.md). tch 0.26 exposes autocast for
//! CUDA only, so a small C++ shim (`cpp/autocast.cpp`, built by `build.rs`
//! against the headers of the libtorch we link) enters and leaves libtorch's
//! own autocast regions: the same casts as `torch.autocast("cpu",
//! torch.bfloat16)` in PyTorch, on the same fp32 weights.
use tch::{Device, Kind, Tensor};

pub use crate::config::Precision;

extern "C" {
    fn honeyimage_autocast_enter(cuda: bool) -> bool;
    fn honeyimage_autocast_exit(cuda: bool, was: bool);
}

/// Leaves the autocast region on drop, so that a panic inside restores the
/// thread's state.
struct Region {
    cuda: bool,
    was: bool,
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: closes the region opened in `run` on this thread.
        unsafe { honeyimage_autocast_exit(self.cuda, self.was) }
    }
}

/// Runs `f` (a forward pass on `device`) in `precision`: for bf16, inside a
/// bf16 autocast region, so that its convolutions and matrix products run
/// in bfloat16 while the weights, batch norm's running statistics and
/// anything on autocast's fp32 list stay fp32. Autograd records the casts,
/// so a backward pass run later (outside the region, as in PyTorch)
/// returns fp32 gradients. Autocast state is per thread; regions nest.
pub fn run<T>(precision: Precision, device: Device, f: impl FnOnce() -> T) -> T {
    if precision == Precision::Fp32 {
        return f();
    }
    let cuda = device.is_cuda();
    // SAFETY: plain calls into libtorch's thread-local autocast state.
    let was = unsafe { honeyimage_autocast_enter(cuda) };
    let _region = Region { cuda, was };
    f()
}

/// `logits` as fp32 (autocast leaves a linear layer's output in bf16).
pub fn to_fp32(logits: Tensor) -> Tensor {
    if logits.kind() == Kind::Float { logits } else { logits.to_kind(Kind::Float) }
}

/// The CPU's bf16 units, as `/proc/cpuinfo` names them (`avx512_bf16`,
/// `amx_bf16`); empty where it has none or does not say (off Linux).
pub fn bf16_units() -> Vec<&'static str> {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = info.lines().find(|l| l.starts_with("flags")).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    ["avx512_bf16", "amx_bf16"].into_iter().filter(|u| flags.contains(u)).collect()
}

/// What `--precision auto` means on `device`: bf16 on a GPU and on a CPU
/// with bf16 units, fp32 elsewhere (libtorch would emulate bf16 there, more
/// slowly than fp32).
pub fn best_available(device: Device) -> Precision {
    if device.is_cuda() || !bf16_units().is_empty() {
        Precision::Bf16
    } else {
        Precision::Fp32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bf16_region_runs_matrix_products_in_bf16_and_closes() {
        let (a, b) = crate::seeded(1, || (Tensor::randn([8, 16], (Kind::Float, Device::Cpu)), Tensor::randn([16, 4], (Kind::Float, Device::Cpu))));
        let fp32 = run(Precision::Fp32, Device::Cpu, || a.matmul(&b));
        assert_eq!(fp32.kind(), Kind::Float);
        let bf16 = run(Precision::Bf16, Device::Cpu, || a.matmul(&b));
        assert_eq!(bf16.kind(), Kind::BFloat16);
        // Close to fp32 (bf16 keeps 8 significant bits), and not equal to it.
        let diff = (to_fp32(bf16) - &fp32).abs().max().double_value(&[]);
        assert!(diff > 0.0 && diff < 0.1 * fp32.abs().max().double_value(&[]), "{diff}");
        // The region is closed: the same product is fp32 again.
        assert_eq!(a.matmul(&b).kind(), Kind::Float);
    }

    #[test]
    fn regions_nest_and_restore_the_outer_state() {
        let a = crate::seeded(2, || Tensor::randn([4, 4], (Kind::Float, Device::Cpu)));
        run(Precision::Bf16, Device::Cpu, || {
            assert_eq!(run(Precision::Bf16, Device::Cpu, || a.matmul(&a)).kind(), Kind::BFloat16);
            assert_eq!(a.matmul(&a).kind(), Kind::BFloat16, "inner exit must leave the outer region on");
        });
        assert_eq!(a.matmul(&a).kind(), Kind::Float);
    }

    #[test]
    fn precision_names_round_trip() {
        for p in [Precision::Fp32, Precision::Bf16] {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert!("fp16".parse::<Precision>().is_err());
    }
}
