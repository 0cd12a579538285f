"""A CIFAR-shaped colour data set for speed benchmarks (issue #15): 50,000
training and 10,000 test images of 32x32x3 in CIFAR-10's binary format,
made from Debian's Fashion-MNIST (nothing can be downloaded here). Each
garment is padded to 32x32 and painted with a random foreground and
background colour, plus a little noise, so the images are colour, the
classes stay learnable, and the proxies train as they would on real
data. Speed does not depend on content; accuracy numbers on this set say
nothing about CIFAR-10.

Usage: cifar_shaped.py OUT_DIR [--fmnist DIR] [--train 50000] [--seed 0]
Writes data_batch_1.bin ... data_batch_5.bin, test_batch.bin and
batches.meta.txt (`honeyimage inspect --data OUT_DIR` reads it as CIFAR-10).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from protect_torch import read_idx, write_cifar  # noqa: E402

NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def colourise(grey, rng):
    """(N, 28, 28) uint8 -> (N, 3, 32, 32) uint8: random fore- and background colours, noise."""
    mask = np.pad(grey, ((0, 0), (2, 2), (2, 2))).astype(np.float32)[:, None] / 255
    fg = rng.uniform(0, 255, (len(grey), 3, 1, 1)).astype(np.float32)
    bg = rng.uniform(0, 255, (len(grey), 3, 1, 1)).astype(np.float32)
    noise = rng.normal(0, 6, (len(grey), 3, 32, 32)).astype(np.float32)
    return np.clip(bg * (1 - mask) + fg * mask + noise, 0, 255).round().astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--train", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    for split, prefix, count in [("train", "train", a.train), ("test", "t10k", 10000)]:
        images = read_idx(os.path.join(a.fmnist, f"{prefix}-images-idx3-ubyte.gz"))[:count]
        labels = read_idx(os.path.join(a.fmnist, f"{prefix}-labels-idx1-ubyte.gz"))[:count]
        colour = colourise(images, rng)
        if split == "train":
            write_cifar(a.out, colour, labels)
        else:
            records = np.concatenate([labels.astype(np.uint8)[:, None], colour.reshape(len(colour), -1)], axis=1)
            records.tofile(os.path.join(a.out, "test_batch.bin"))
    with open(os.path.join(a.out, "batches.meta.txt"), "w") as f:
        f.write("\n".join(NAMES) + "\n")
    print(f"{a.out}: {a.train} training and 10000 test images, 32x32x3, CIFAR-10 binary")


if __name__ == "__main__":
    main()
