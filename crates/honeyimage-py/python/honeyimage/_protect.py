"""``honeyimage.protect`` and ``protect_path``: the owner's side, through the
training engine (the ``honeyimage-protect`` wheel, which links the libtorch
of one torch version and is loaded only when protecting)."""

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ._adapt import to_numpy
from .errors import DataError, EngineMissing, InvalidArgument
from .key import Key

Progress = Union[None, bool, Callable[[Dict[str, Any]], None]]


def _engine():
    """The engine, after checking that the installed torch is the one it links."""
    try:
        import honeyimage_protect
    except ImportError as e:
        raise EngineMissing("honeyimage.protect needs the training engine: pip install 'honeyimage[protect]' (it brings torch " "2.13.0)") from e
    want = honeyimage_protect.TORCH_VERSION
    try:
        import torch  # loads the libtorch the engine links against
    except ImportError as e:
        raise EngineMissing(f"honeyimage.protect needs torch=={want} (pip install torch=={want})") from e
    have = torch.__version__.split("+")[0]
    if have != want:
        raise EngineMissing(f"the honeyimage-protect engine is built against torch {want}, but this Python has torch {have}: pip install torch=={want}, or rebuild the engine")
    from honeyimage_protect import _engine as engine

    return engine


def _settings(settings: Dict[str, Any], proxy_epochs: Optional[int], precision: Optional[str] = None) -> str:
    """Protection settings (fields of the key's ``parameters``) as JSON."""
    s = dict(settings)
    if proxy_epochs is not None:
        s["proxy_train"] = {**s.get("proxy_train", {}), "epochs": proxy_epochs}
    if precision is None and "precision" not in s.get("proxy_train", {}):
        precision = "auto"  # as `honeyimage protect`: the machine's fastest arithmetic
    if precision is not None:
        if precision == "auto":
            precision = _engine().best_precision()
        if precision not in ("fp32", "bf16"):
            raise InvalidArgument(f"precision {precision!r}: expected 'fp32', 'bf16' or 'auto'")
        s["proxy_train"] = {**s.get("proxy_train", {}), "precision": precision}
    if "proxy_train" in s:
        defaults = json.loads(_engine().default_config())["proxy_train"]
        s["proxy_train"] = {**defaults, **s["proxy_train"]}
    return json.dumps(s)


def _progress(progress: Progress) -> Optional[Callable[[Dict[str, Any]], None]]:
    """The event sink: a callable, a tqdm bar (True, or None when tqdm is
    installed), or nothing (False)."""
    if callable(progress):
        return progress
    if progress is False:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress:
            raise EngineMissing("progress=True needs tqdm (pip install tqdm)") from None
        return None
    bar = tqdm(total=0, unit="step", leave=False)

    def show(e: Dict[str, Any]) -> None:
        if e["kind"] == "stage":
            bar.set_description(e["name"])
        elif "total" in e:
            if bar.total != e["total"]:
                bar.reset(total=e["total"])
            bar.n = e["step"]
            bar.set_postfix_str(e.get("label", ""))
            bar.refresh()
        elif e["kind"] == "stage_done" and e["name"] == "key":
            bar.close()

    return show


def _images(images: Any, labels: Any, layout: str):
    """uint8 NHWC pixels and int labels from any array type, checked."""
    x = to_numpy(images)
    y = to_numpy(labels)
    if x.dtype != np.uint8:
        raise DataError(f"images: dtype {x.dtype}; expected uint8 pixels (0-255) as the dataset stores them")
    if x.ndim == 3:
        x = x[..., None] if layout == "nhwc" else x[:, None]
    if x.ndim != 4:
        raise DataError(f"images: shape {x.shape}; expected (N, H, W), (N, H, W, C) or, with layout='nchw', (N, C, H, W)")
    if layout == "nchw":
        x = x.transpose(0, 2, 3, 1)
    elif layout != "nhwc":
        raise ValueError(f"layout {layout!r}: expected 'nhwc' or 'nchw'")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"labels: shape {y.shape}; expected ({len(x)},), one per image")
    if y.dtype.kind not in "iu":
        raise DataError(f"labels: dtype {y.dtype}; expected integers")
    if len(y) and (y.min() < 0 or y.max() >= 2**31):
        bad = int(np.argmax((y < 0) | (y >= 2**31)))
        raise DataError(f"labels: sample {bad} has label {y[bad]}; expected 0 <= label < number of classes")
    if x.shape[3] not in (1, 3):
        raise DataError(f"images: {x.shape[3]} channels; expected 1 (grey) or 3 (RGB)")
    return np.ascontiguousarray(x), y.astype(np.uint32)


@dataclass
class Protected:
    """What :func:`protect` made: the release (publish it) and the key (keep it)."""

    images: np.ndarray
    """The released images, uint8 (M, H, W, C): the input without W, R replaced by HoneyImages."""
    labels: np.ndarray
    """The released labels, int64 (M,)."""
    key: Key
    """The secret key: save it with ``key.save(path, passphrase=...)``."""
    summary: Dict[str, Any] = field(repr=False)
    """What protect measured: stage times, losses, loss gaps, SSIM, PSNR."""

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"<honeyimage.Protected {len(self.images)} images released, N={self.key.count}, "
            f"max change {s['linf_max']}/255, SSIM min {s['ssim_min']:.4f}, PSNR {s['psnr_mean']:.1f} dB, "
            f"loss gap {s['gap_before']:.3f} -> {s['gap_after']:.3f}; key commitment {self.key.commitment[:16]}...>"
        )


def protect(
    images: Any,
    labels: Any,
    *,
    class_names: Optional[Sequence[str]] = None,
    layout: str = "nhwc",
    work: Union[str, "os.PathLike[str]", None] = None,
    name: str = "arrays",
    progress: Progress = None,
    proxy_epochs: Optional[int] = None,
    precision: Optional[str] = None,
    **settings: Any,
) -> Protected:
    """Protects a dataset held in arrays and returns the release and the key.

    ``images``: uint8 (N, H, W) or (N, H, W, C) (or (N, C, H, W) with
    ``layout='nchw'``), numpy, torch or anything with ``__array__``;
    ``labels``: N integers. The released pixels equal those of
    ``honeyimage protect`` on the same samples written as a dataset.

    ``settings`` are the protection parameters (the fields of
    ``Key.parameters``: ``count=100``, ``epsilon=4``, ``steps=20``,
    ``seed=0``, ...; ``proxy_epochs`` sets ``proxy_train['epochs']``;
    ``precision`` is ``'auto'`` (the default, as ``honeyimage protect``:
    bf16 where the CPU has bf16 units, fp32 elsewhere), ``'bf16'`` (mixed
    precision for the proxies, in-models and input gradients; reported
    losses stay fp32) or ``'fp32'``, recorded in the key as
    ``proxy_train['precision']`` (absent for fp32).
    ``work`` keeps intermediate results so an interrupted run resumes (by
    default a temporary folder, removed afterwards). ``progress`` is a
    callable receiving event dicts, True for a tqdm bar, False for none
    (default: tqdm when installed). Ctrl-C stops within one training step.
    """
    x, y = _images(images, labels, layout)
    if class_names is None:
        class_names = [str(c) for c in range(int(y.max()) + 1 if len(y) else 0)]
    engine = _engine()
    config = _settings(settings, proxy_epochs, precision)
    with tempfile.TemporaryDirectory(prefix="honeyimage-work-") as tmp:
        folder = os.fspath(work) if work is not None else os.path.join(tmp, "work")
        px, out_labels, key_bytes, summary = engine.protect_arrays(x.tobytes(), x.shape, y.tolist(), list(class_names), config, folder, name, _progress(progress))
    h, w, c = x.shape[1:]
    return Protected(
        images=np.frombuffer(px, dtype=np.uint8).reshape(-1, h, w, c).copy(),
        labels=np.asarray(out_labels, dtype=np.int64),
        key=Key(_native_key(key_bytes)),
        summary=json.loads(summary),
    )


def _native_key(key_bytes: bytes):
    from . import _native

    return _native.Key._from_bytes(key_bytes)


def protect_path(
    data: Union[str, "os.PathLike[str]"],
    out: Union[str, "os.PathLike[str]"],
    key: Union[str, "os.PathLike[str]"],
    *,
    split: str = "train",
    format: Optional[str] = None,
    passphrase: Optional[str] = None,
    work: Union[str, "os.PathLike[str]", None] = None,
    progress: Progress = None,
    proxy_epochs: Optional[int] = None,
    precision: Optional[str] = None,
    **settings: Any,
) -> Dict[str, Any]:
    """Protects a dataset on disk exactly as ``honeyimage protect`` does:
    the release in the input's own format at ``out``, the key at ``key``
    (encrypted with ``passphrase`` when given), the public commitment beside the release. ``work`` defaults to
    ``OUT.work`` (resumable; removed when the key is encrypted);
    ``settings`` and ``precision`` as for :func:`protect`. Returns the
    summary."""
    engine = _engine()
    folder = os.fspath(work) if work is not None else os.fspath(out) + ".work"
    config = _settings(settings, proxy_epochs, precision)
    text = engine.protect_path(os.fspath(data), os.fspath(out), os.fspath(key), config, folder, split, format, passphrase, _progress(progress))
    return json.loads(text)


__all__: List[str] = ["protect", "protect_path", "Protected"]
