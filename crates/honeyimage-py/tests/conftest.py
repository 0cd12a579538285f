"""Shared fixtures: a small real Fashion-MNIST subset, protected once
through the package (interrupted by a real SIGINT and resumed), a suspect
trained on its release with PyTorch and a clean one trained without it."""

import gzip
import os
import signal
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import honeyimage

ROOT = Path(__file__).resolve().parents[3]
CLI = ROOT / "target" / "release" / "honeyimage"
FASHION = Path("/usr/share/datasets/fashion-mnist")
# Settings small enough for CI; the CLI comparison passes the same flags.
SETTINGS = dict(count=30, steps=10, proxy_epochs=3)
CLI_FLAGS = ["--count", "30", "--steps", "10", "--proxy-epochs", "3"]


def read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw[4 + 4 * dims :], dtype=np.uint8).reshape(shape)


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n, h, w = images.shape
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, h, w) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def fashion():
    """The first 6,000 training images of Fashion-MNIST (N, 28, 28) and labels."""
    x = read_idx(FASHION / "train-images-idx3-ubyte.gz")[:6000]
    y = read_idx(FASHION / "train-labels-idx1-ubyte.gz")[:6000].astype(np.int64)
    return x, y


@pytest.fixture(scope="session")
def subset(fashion):
    """What is protected: 3,000 images."""
    return fashion[0][:3000], fashion[1][:3000]


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("work") / "protect.work"


@pytest.fixture(scope="session")
def protected(subset, work):
    """Protect the subset; Ctrl-C (a real SIGINT) at the first optimisation
    step, then resume from the work folder."""
    x, y = subset
    seen = []

    def interrupt(event):
        seen.append(event)
        if event["kind"] == "optimise" and not any(e["kind"] == "optimise" for e in seen[:-1]):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        honeyimage.protect(x, y, work=work, progress=interrupt, **SETTINGS)
    assert {e["kind"] for e in seen} >= {"stage", "train", "optimise"}
    assert (work / "hardness.json").exists(), "the stages before the interruption are kept"
    events = []
    result = honeyimage.protect(x, y, work=work, progress=events.append, **SETTINGS)
    done = {e["name"]: e["cached"] for e in events if e["kind"] == "stage_done"}
    assert done["hardness"] is True, f"resumed, not recomputed: {done}"
    return result


class SmallCNN:
    """A PyTorch network of our own, not one the package knows."""

    @staticmethod
    def make():
        import torch.nn as nn

        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
        )


def train_torch(images: np.ndarray, labels: np.ndarray, epochs: int = 30, seed: int = 0):
    """Trains SmallCNN as an infringer would (plain SGD, many epochs)."""
    import torch

    torch.manual_seed(seed)
    model = SmallCNN.make()
    x = torch.from_numpy(np.array(images.reshape(-1, 1, 28, 28))).float() * float(np.float32(1 / 255))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def infringer(protected):
    return train_torch(protected.images, protected.labels)


@pytest.fixture(scope="session")
def clean(fashion):
    """Trained on 3,000 other images: never saw the release."""
    return train_torch(fashion[0][3000:], fashion[1][3000:])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=1800)
