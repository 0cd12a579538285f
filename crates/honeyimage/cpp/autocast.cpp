// Autocast regions for the Rust side (src/precision.rs). tch exposes
// libtorch's autocast for CUDA in fp16 only; these two calls do what
// `torch.autocast(device, torch.bfloat16)` does on entering and leaving its
// block (torch/amp/autocast_mode.py), on the CPU or a CUDA device.
#include <ATen/autocast_mode.h>

extern "C" {

// Enters a bf16 autocast region; returns whether autocast was already on.
bool honeyimage_autocast_enter(bool cuda) {
  auto device = cuda ? at::kCUDA : at::kCPU;
  bool was = at::autocast::is_autocast_enabled(device);
  at::autocast::set_autocast_dtype(device, at::kBFloat16);
  at::autocast::set_autocast_enabled(device, true);
  at::autocast::increment_nesting();
  return was;
}

// Leaves the region entered last and restores the state `was`. The weights
// cast inside are cached; the cache is dropped once the outermost region
// closes, so that the next region sees the optimiser's updates.
void honeyimage_autocast_exit(bool cuda, bool was) {
  if (at::autocast::decrement_nesting() == 0) {
    at::autocast::clear_cache();
  }
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, was);
}

}
