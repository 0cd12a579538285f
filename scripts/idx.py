"""IDX files (MNIST's format, gzipped or not) for the Python scripts."""
import gzip
import os

import numpy as np


def read_idx(path):
    """The array in an IDX file (.gz or plain)."""
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(folder, stem):
    """FOLDER/STEM.gz or FOLDER/STEM (IDX files come both ways)."""
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(folder, name)):
            return os.path.join(folder, name)
    raise SystemExit(f"{folder}: no {stem}[.gz]")
