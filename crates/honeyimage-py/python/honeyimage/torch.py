"""Verify a PyTorch ``nn.Module`` in-process: ``honeyimage.torch.verify(key, module)``.

Any torch version works: this only calls the module. Images reach it as the
command line gives them to a TorchScript file: float32, NCHW, in [0, 1]
(``uint8 * float32(1/255)``), then through ``transform`` if given (e.g. your
normalisation), so the verdict equals ``honeyimage verify --model model.pt``
on the module's TorchScript export.
"""

from typing import Any, Callable, Optional, Union

import numpy as np

from .key import Key
from .verdict import Verdict


def predictor(module: Any, transform: Optional[Callable[[Any], Any]] = None, device: Union[str, Any, None] = None) -> Callable[[np.ndarray], np.ndarray]:
    """A predict function for :func:`honeyimage.verify` from a module: eval
    mode, no gradients, batches moved to ``device`` (default: where the
    module's parameters are)."""
    import torch

    if device is None:
        p = next(iter(module.parameters()), None)
        device = p.device if p is not None else "cpu"
    scale = float(np.float32(1.0 / 255.0))

    def predict(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.array(batch, copy=True)).to(device=device, dtype=torch.float32) * scale
        if transform is not None:
            x = transform(x)
        was_training = module.training
        module.eval()
        try:
            with torch.inference_mode():
                out = module(x)
        finally:
            module.train(was_training)
        return out.detach().float().cpu().numpy()

    return predict


def verify(
    key: Key,
    module: Any,
    *,
    transform: Optional[Callable[[Any], Any]] = None,
    device: Union[str, Any, None] = None,
    batch: int = 64,
    name: Optional[str] = None,
    **options: Any,
) -> Verdict:
    """Verifies a PyTorch module; ``options`` are those of :func:`honeyimage.verify`."""
    from . import verify as _verify

    name = name or f"torch module {type(module).__name__}"
    return _verify(key, predictor(module, transform, device), layout="nchw", batch=batch, name=name, **options)
