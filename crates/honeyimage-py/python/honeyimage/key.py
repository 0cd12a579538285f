"""The owner's secret key, opened or made by :func:`honeyimage.protect`."""

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _native

PathLike = Union[str, "os.PathLike[str]"]

PASSPHRASE_ENV = "HONEYIMAGE_KEY_PASSPHRASE"


class Key:
    """An owner key: the released HoneyImages (R), their withheld twins (W),
    the protection parameters and the public commitment.

    Open one with :meth:`Key.open`; :func:`honeyimage.protect` returns one.
    Keep it secret: whoever holds it can tell which samples are marked.
    """

    def __init__(self, native: "_native.Key"):
        self._k = native
        self._info: Dict[str, Any] = json.loads(native._info_json())

    @classmethod
    def open(cls, path: PathLike, passphrase: Optional[str] = None) -> "Key":
        """Opens and checks a key file. An encrypted key needs ``passphrase``
        (or the ``HONEYIMAGE_KEY_PASSPHRASE`` environment variable)."""
        if passphrase is None:
            passphrase = os.environ.get(PASSPHRASE_ENV) or None
        return cls(_native.Key.open(os.fspath(path), passphrase))

    def save(self, path: PathLike, passphrase: Optional[str] = None) -> None:
        """Writes the key (atomically, owner-only permissions; encrypted with
        ``passphrase`` when given). Refuses to overwrite a file."""
        self._k.save(os.fspath(path), passphrase)

    @property
    def path(self) -> Optional[Path]:
        """The file it was opened from (None: made in this session)."""
        p = self._k.path
        return None if p is None else Path(p)

    @property
    def shape(self) -> Tuple[int, int, int]:
        """(height, width, channels) of the images."""
        return self._k.shape

    @property
    def class_names(self) -> List[str]:
        """Class names, indexed by label."""
        return self._k.class_names

    @property
    def count(self) -> int:
        """N: HoneyImages released (as many are withheld)."""
        return int(self._info["released"])

    def _images(self, released: bool, honey: bool) -> np.ndarray:
        h, w, c = self.shape
        px = np.frombuffer(self._k._pixels(released, honey), dtype=np.uint8)
        return px.reshape(-1, h, w, c)

    @property
    def released_images(self) -> np.ndarray:
        """R's HoneyImages as released, uint8 (N, H, W, C)."""
        return self._images(True, True)

    @property
    def released_originals(self) -> np.ndarray:
        """R's original images, uint8 (N, H, W, C)."""
        return self._images(True, False)

    @property
    def withheld_images(self) -> np.ndarray:
        """W's perturbed images (never released: the controls), uint8 (N, H, W, C)."""
        return self._images(False, True)

    @property
    def withheld_originals(self) -> np.ndarray:
        """W's original images, uint8 (N, H, W, C)."""
        return self._images(False, False)

    @property
    def released_labels(self) -> np.ndarray:
        """R's labels, int64 (N,)."""
        return np.asarray(self._k._labels(True), dtype=np.int64)

    @property
    def withheld_labels(self) -> np.ndarray:
        """W's labels, int64 (N,)."""
        return np.asarray(self._k._labels(False), dtype=np.int64)

    @property
    def released_ids(self) -> List[str]:
        """R's sample ids in the original dataset."""
        return self._k._ids(True)

    @property
    def withheld_ids(self) -> List[str]:
        """W's sample ids in the original dataset (removed from the release)."""
        return self._k._ids(False)

    @property
    def commitment(self) -> str:
        """The public commitment (hex), published with the release."""
        return self._k.commitment

    def statement(self) -> str:
        """The public statement to publish with the release."""
        return self._k.statement()

    @property
    def recipient(self) -> Optional[str]:
        """Who this key's release went to (per-recipient releases), if anyone."""
        return self._k.recipient

    @property
    def parameters(self) -> Dict[str, Any]:
        """The protection parameters."""
        return self._info["params"]

    @property
    def dataset(self) -> Dict[str, Any]:
        """What the protected data was: format, source, shape, classes, fingerprint."""
        return self._info["dataset"]

    @property
    def release(self) -> Dict[str, Any]:
        """What was released: sample count and fingerprint."""
        return self._info["release"]

    @property
    def summary(self) -> Dict[str, Any]:
        """What protect measured: losses, gaps, SSIM and PSNR of the HoneyImages."""
        return self._info["summary"]

    def __repr__(self) -> str:
        h, w, c = self.shape
        src = self.dataset.get("source", "?")
        who = f", recipient {self.recipient!r}" if self.recipient else ""
        return f"<honeyimage.Key N={self.count} {h}x{w}x{c} from {src}{who}, commitment {self.commitment[:16]}...>"
