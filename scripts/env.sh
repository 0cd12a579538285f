# Sourced by the scripts: where the PyTorch venv is, and how tch finds libtorch.
export HONEYIMAGE_TORCH_VENV="${HONEYIMAGE_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/honeyimage/torch-venv}"
export PATH="$HONEYIMAGE_TORCH_VENV/bin:$PATH"
export LIBTORCH_USE_PYTORCH=1
# Two threads is what the target machines have; libtorch would otherwise
# oversubscribe when cargo runs tests in parallel.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
