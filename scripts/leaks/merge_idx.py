#!/usr/bin/env python3
"""Merges two IDX releases (gzip) into one training set, dropping exact
duplicate (image, label) pairs: what an infringer holding two leaked copies
would train on. Usage: merge_idx.py A B OUT (OUT must not exist)."""
import gzip
import os
import shutil
import sys

import numpy as np


def read(path, header):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    return raw[:header], np.frombuffer(raw[header:], dtype=np.uint8)


def main():
    a, b, out = sys.argv[1:4]
    os.makedirs(out)
    imgs, labs = [], []
    for d in (a, b):
        hi, x = read(os.path.join(d, "train-images-idx3-ubyte.gz"), 16)
        rows, cols = int.from_bytes(hi[8:12], "big"), int.from_bytes(hi[12:16], "big")
        _, y = read(os.path.join(d, "train-labels-idx1-ubyte.gz"), 8)
        imgs.append(x.reshape(-1, rows * cols))
        labs.append(y)
    x, y = np.concatenate(imgs), np.concatenate(labs)
    _, keep = np.unique(np.concatenate([x, y[:, None]], axis=1), axis=0, return_index=True)
    keep.sort()
    x, y = x[keep], y[keep]
    n = len(y)
    with gzip.open(os.path.join(out, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write((2051).to_bytes(4, "big") + n.to_bytes(4, "big") + rows.to_bytes(4, "big") + cols.to_bytes(4, "big") + x.tobytes())
    with gzip.open(os.path.join(out, "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + y.tobytes())
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(os.path.join(a, name), os.path.join(out, name))
    print(f"merged {a} and {b}: {n} distinct samples -> {out}")


if __name__ == "__main__":
    main()
