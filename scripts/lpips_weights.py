#!/usr/bin/env python3
"""Build the LPIPS weights file `honeyimage eval --lpips-weights` reads.

LPIPS v0.1 with AlexNet needs two sets of weights, neither of which
honeyimage can download:
  * torchvision's ImageNet AlexNet (alexnet-owt-7be5be79.pth, from
    torchvision.models.AlexNet_Weights.IMAGENET1K_V1 on a networked machine);
  * the learned linear heads, shipped inside the `lpips` pip package
    (lpips/weights/v0.1/alex.pth), or any copy of that file.
This script merges them into one state dict with the names honeyimage uses
(`features.N.weight/bias`, `linK.model.1.weight`) and checks every shape.

Usage: lpips_weights.py --alexnet alexnet-owt-7be5be79.pth [--lin alex.pth] --out lpips-alex.pt
"""
import argparse
import importlib.util
import os

import torch

SHAPES = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "lin0.model.1.weight": (1, 64, 1, 1), "lin1.model.1.weight": (1, 192, 1, 1),
    "lin2.model.1.weight": (1, 384, 1, 1), "lin3.model.1.weight": (1, 256, 1, 1),
    "lin4.model.1.weight": (1, 256, 1, 1),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alexnet", required=True, help="torchvision AlexNet state dict")
    ap.add_argument("--lin", help="LPIPS v0.1 alex.pth (default: the installed lpips package's)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    lin = a.lin
    if lin is None:
        spec = importlib.util.find_spec("lpips")
        if spec is None:
            ap.error("--lin not given and the lpips package is not installed (pip install --no-deps lpips)")
        lin = os.path.join(os.path.dirname(spec.origin), "weights", "v0.1", "alex.pth")
    sd = {}
    for k, v in torch.load(a.alexnet, map_location="cpu", weights_only=True).items():
        if k.startswith("features."):
            sd[k] = v
    for k, v in torch.load(lin, map_location="cpu", weights_only=True).items():
        sd[k] = v
    for k, shape in SHAPES.items():
        if k not in sd:
            raise SystemExit(f"error: {k} missing (is {a.alexnet} torchvision's AlexNet and {lin} LPIPS v0.1 alex.pth?)")
        if tuple(sd[k].shape) != shape:
            raise SystemExit(f"error: {k} has shape {tuple(sd[k].shape)}, expected {shape}")
    out = {k: sd[k].float().contiguous() for k in SHAPES}
    tmp = a.out + ".tmp"
    torch.save(out, tmp)
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {len(out)} tensors")


if __name__ == "__main__":
    main()
