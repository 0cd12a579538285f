"""honeyimage: prove that a model was trained on your image dataset.

HoneyImage (arXiv 2508.00892) from Python, with the command line's own Rust
core:

- :func:`verify` queries any model (a Python function, or a PyTorch module
  through :func:`honeyimage.torch.verify`) with a key's HoneyImages and
  decides, with an exact p-value, whether it trained on the release;
- :func:`protect` marks a dataset held in numpy arrays (and
  :func:`protect_path` one on disk) and returns the release and the key;
  it needs the training engine: ``pip install honeyimage[protect]``;
- :class:`Key` opens keys; :func:`inspect` describes a dataset on disk.
"""

import json
import os
from typing import Any, Callable, Dict, Optional

import numpy as np

from . import _native, errors
from ._adapt import adapter
from ._protect import Protected, protect, protect_path
from .errors import HoneyImageError
from .key import Key
from .verdict import Verdict

__version__: str = _native.__version__
__all__ = ["verify", "protect", "protect_path", "inspect", "Key", "Verdict", "Protected", "HoneyImageError", "errors"]


def verify(
    key: Key,
    predict: Callable[[np.ndarray], Any],
    *,
    layout: str = "nhwc",
    output: str = "auto",
    alpha: float = 0.001,
    label_only: bool = False,
    batch: int = 64,
    tta: Optional[int] = None,
    tta_flip: bool = True,
    calibrate: bool = False,
    tau: Optional[float] = None,
    permutations: int = 200_000,
    seed: int = 0,
    name: Optional[str] = None,
) -> Verdict:
    """Decides whether the suspect behind ``predict`` trained on the release.

    ``predict`` takes a uint8 batch of the key's images (``layout`` "nhwc",
    as datasets store them, or "nchw") and returns class scores ``[batch,
    classes]`` (logits or probabilities: ``output`` "auto" decides over all
    answers, as the command line does) or top-1 labels ``[batch]`` (then
    ``label_only=True``). Any array type works: numpy, torch (any device),
    or anything with ``__array__``/DLPack. R and W are queried together in
    one seeded random order.

    ``tta=PAD`` averages each image's loss over its shifts by up to PAD
    pixels (and mirror images unless ``tta_flip=False``), for suspects
    trained with random crop + flip. ``calibrate=True`` tests each image's
    loss minus the key's proxy loss on it (``honeyimage verify
    --calibrate``: part of the per-image difficulty cancels; still exact). Raises :class:`errors.SuspectError`
    when the model raises or answers wrongly.
    """
    if not isinstance(key, Key):
        raise TypeError(f"key must be a honeyimage.Key (Key.open(path)), not {type(key).__name__}")
    if not callable(predict):
        raise TypeError(f"predict must be callable, not {type(predict).__name__}")
    name = name or getattr(predict, "__qualname__", None) or type(predict).__name__
    text = _native.verify(key._k, adapter(predict, layout), name, output, alpha, label_only, permutations, seed, tau, batch, tta, tta_flip, calibrate)
    return Verdict.from_json(text)


def inspect(path: "os.PathLike[str] | str", format: Optional[str] = None) -> Dict[str, Any]:
    """What a dataset on disk holds: format, and per split the count,
    shape, classes and per-class counts (``honeyimage inspect --json``)."""
    return json.loads(_native.inspect(os.fspath(path), format))
