"""Calls a user's predict function for the native verifier: the batch goes
in as a uint8 numpy array in the asked layout, and the answer (numpy, torch,
anything with ``__array__`` or DLPack) comes back as ``(bytes, shape, kind)``
with kind ``"f8"`` for scores or ``"i8"`` for integer labels. Every check of
the scores themselves is done by the native code, as for any model."""

from typing import Any, Callable, Tuple

import numpy as np


def to_numpy(out: Any) -> np.ndarray:
    """An array from whatever a model returned."""
    if isinstance(out, np.ndarray):
        return out
    detach = getattr(out, "detach", None)
    if callable(detach):  # a torch tensor: maybe on a GPU, maybe with grad
        t = detach().cpu()
        return (t.double() if t.is_floating_point() else t).numpy()
    if hasattr(out, "__array__"):
        return np.asarray(out)
    if hasattr(out, "__dlpack__"):
        return np.from_dlpack(out)
    if isinstance(out, (list, tuple)):
        return np.asarray(out)
    raise TypeError(f"returned {type(out).__name__}, not an array (numpy, torch, or anything with __array__ or __dlpack__)")


def adapter(predict: Callable[[np.ndarray], Any], layout: str) -> Callable[[bytes, Tuple[int, int, int, int]], Tuple[bytes, Tuple[int, ...], str]]:
    """The callable the native verifier queries."""
    if layout not in ("nhwc", "nchw"):
        raise ValueError(f"layout {layout!r}: expected 'nhwc' or 'nchw'")

    def call(pixels: bytes, shape: Tuple[int, int, int, int]):
        batch = np.frombuffer(pixels, dtype=np.uint8).reshape(shape)
        if layout == "nchw":
            batch = batch.transpose(0, 3, 1, 2)
        batch = np.ascontiguousarray(batch)
        batch.flags.writeable = False
        out = to_numpy(predict(batch))
        if out.ndim == 1 and out.dtype.kind in "iu":
            return out.astype(np.int64).tobytes(), out.shape, "i8"
        if out.dtype.kind not in "fiub":
            raise TypeError(f"returned an array of dtype {out.dtype}, not numbers")
        return np.ascontiguousarray(out, dtype=np.float64).tobytes(), out.shape, "f8"

    return call
