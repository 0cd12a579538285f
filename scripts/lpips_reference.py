#!/usr/bin/env python3
"""Reference LPIPS distances from the official `lpips` package (v0.1, AlexNet),
for the test that checks honeyimage's implementation against it.

The learned linear heads are the package's own (lpips/weights/v0.1/alex.pth).
AlexNet's pretrained weights cannot be downloaded here, so the backbone is
random (seeded): the comparison checks the computation, tensor for tensor.
torchvision, scipy and tqdm are not needed for this and are stubbed.

Writes OUT/weights.pt (a state dict honeyimage loads with --lpips-weights),
OUT/a.u8, OUT/b.u8 (N HWC u8 images each) and OUT/expected.json.

Usage: lpips_reference.py OUT [--size H W C] [--count N] [--seed S]
"""
import argparse
import json
import os
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F


def alexnet_features():
    """torchvision's AlexNet `features` layout."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def stub_modules():
    class AlexNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = alexnet_features()

    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    models.alexnet = lambda pretrained=False, **kw: AlexNet()
    tv.models = models
    sys.modules["torchvision"] = tv
    sys.modules["torchvision.models"] = models
    scipy = types.ModuleType("scipy")
    ndimage = types.ModuleType("scipy.ndimage")
    ndimage.zoom = None
    scipy.ndimage = ndimage
    sys.modules["scipy"] = scipy
    sys.modules["scipy.ndimage"] = ndimage
    tqdm = types.ModuleType("tqdm")
    tqdm.tqdm = lambda x, *a, **k: x
    sys.modules["tqdm"] = tqdm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", nargs=3, type=int, default=[28, 28, 1])
    ap.add_argument("--count", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    stub_modules()
    import lpips  # noqa: E402  (after the stubs)

    torch.manual_seed(a.seed)
    net = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False).eval()
    h, w, c = a.size
    g = torch.Generator().manual_seed(a.seed + 1)
    x = torch.randint(0, 256, (a.count, h, w, c), generator=g, dtype=torch.uint8)
    # Pairs at growing distances: identical, then more and more noise.
    noise = torch.randint(-40, 41, x.shape, generator=g)
    scale = torch.linspace(0, 1, a.count).view(-1, 1, 1, 1)
    y = (x.long() + (noise * scale).round().long()).clamp(0, 255).to(torch.uint8)

    def prep(t):
        t = t.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        if t.shape[1] == 1:
            t = t.repeat(1, 3, 1, 1)
        short = min(h, w)
        if short < 64:
            t = F.interpolate(t, size=(h * 64 // short, w * 64 // short), mode="bilinear", align_corners=False)
        return t

    with torch.no_grad():
        d = net(prep(x), prep(y), normalize=False).flatten().double().tolist()
    os.makedirs(a.out, exist_ok=True)
    sd = {}
    # Map the package's slices back to torchvision's `features.N` names.
    for sl in [net.net.slice1, net.net.slice2, net.net.slice3, net.net.slice4, net.net.slice5]:
        for name, mod in sl.named_children():
            if isinstance(mod, nn.Conv2d):
                sd[f"features.{name}.weight"] = mod.weight.detach().clone()
                sd[f"features.{name}.bias"] = mod.bias.detach().clone()
    for i, lin in enumerate(net.lins):
        sd[f"lin{i}.model.1.weight"] = lin.model[1].weight.detach().clone()
    torch.save(sd, os.path.join(a.out, "weights.pt"))
    x.numpy().tofile(os.path.join(a.out, "a.u8"))
    y.numpy().tofile(os.path.join(a.out, "b.u8"))
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump({"shape": [a.count, h, w, c], "distances": d, "lpips_version": lpips.__version__ if hasattr(lpips, "__version__") else "0.1.4"}, f)
    print(json.dumps({"distances": d}))


if __name__ == "__main__":
    main()
