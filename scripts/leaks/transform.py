#!/usr/bin/env python3
"""What happens to a leaked copy: reads the training split of an IDX dataset
(gzip) and writes it as a folder of image files, shuffled and renamed, after
one transformation. Used by scripts/leaks/trace_all.sh to measure trace.

Usage: transform.py IDX_DIR OUT_DIR SPEC [SEED]
SPEC is one of
  png                lossless (the baseline: only renaming and shuffling)
  webp | bmp | tiff  other lossless formats
  jpeg:Q             JPEG at quality Q
  rgb                grey stored as an RGB image (PNG)
  jitter             brightness x1.1 and contrast x0.9 (PNG)
  resize:S           resized to S x S (PNG; bicubic)
  resize:S:back      resized to S x S and back to the original size (PNG)
  crop:P             P pixels cut from random sides, kept at the cropped size
  crop:P:back        the same, resized back to the original size
  blur:R             Gaussian blur of radius R (PNG)
  noise:S            Gaussian noise of standard deviation S grey levels (PNG)
OUT_DIR must not exist."""
import gzip
import os
import sys

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def read_idx(d):
    with gzip.open(os.path.join(d, "train-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw[16:], dtype=np.uint8).reshape(n, rows, cols)


def transform(img, spec, rng):
    parts = spec.split(":")
    kind = parts[0]
    ext, save = "png", {}
    if kind in ("webp", "bmp", "tiff"):
        ext = kind
        save = {"lossless": True} if kind == "webp" else {}
    elif kind == "jpeg":
        ext, save = "jpg", {"quality": int(parts[1])}
    elif kind == "rgb":
        img = img.convert("RGB")
    elif kind == "jitter":
        img = ImageEnhance.Contrast(ImageEnhance.Brightness(img).enhance(1.1)).enhance(0.9)
    elif kind == "resize":
        w, h = img.size
        s = int(parts[1])
        img = img.resize((s, s), Image.BICUBIC)
        if len(parts) > 2:
            img = img.resize((w, h), Image.BICUBIC)
    elif kind == "crop":
        w, h = img.size
        p = int(parts[1])
        cut = rng.multinomial(p, [0.25] * 4) if p > 0 else [0, 0, 0, 0]
        top, left, bottom, right = (int(c) for c in cut)
        img = img.crop((left, top, w - right, h - bottom))
        if len(parts) > 2:
            img = img.resize((w, h), Image.BILINEAR)
    elif kind == "blur":
        img = img.filter(ImageFilter.GaussianBlur(float(parts[1])))
    elif kind == "noise":
        a = np.asarray(img, dtype=np.float64) + rng.normal(0, float(parts[1]), size=np.asarray(img).shape)
        img = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    elif kind != "png":
        raise SystemExit(f"unknown transformation {spec!r}")
    return img, ext, save


def main():
    src, out, spec = sys.argv[1:4]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    rng = np.random.default_rng(seed)
    x = read_idx(src)
    order = rng.permutation(len(x))
    tmp = out + ".tmp"
    os.makedirs(tmp)
    for k, i in enumerate(order):
        img, ext, save = transform(Image.fromarray(x[i]), spec, rng)
        sub = os.path.join(tmp, f"{k // 10000:02d}")
        os.makedirs(sub, exist_ok=True)
        img.save(os.path.join(sub, f"{rng.integers(1 << 62):016x}.{ext}"), **save)
    os.rename(tmp, out)
    print(f"{spec}: {len(x)} images from {src} -> {out}")


if __name__ == "__main__":
    main()
