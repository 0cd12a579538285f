"""PyTorch reference of `honeyimage protect`: the same stages with the same
default settings, written as a PyTorch engineer would, to measure the Rust
pipeline against (scripts/bench_protect.sh runs both and prints the ratio).

Stages (ProtectConfig defaults): K = 2 folds, one small-CNN proxy per fold
trained 4 epochs on the other fold (SGD, Nesterov momentum 0.9, lr 0.05,
weight decay 5e-4, 0.5 epoch warm-up then cosine, batch 128); hardness =
out-of-fold cross-entropy; the 2N hardest, class-stratified; the bi-level
optimisation (T = 20 outer steps; per step 2 in-model SGD steps at lr 0.01
on the candidates plus 128 ordinary samples, then one signed-gradient step
of 0.4/255 on the out-minus-in loss gap, projected to the 4/255 ball, [0, 1]
and SSIM >= 0.99 by bisection on the perturbation's scale), run four times
like protect (HoneyImages, the unperturbed reference, and both on random
samples); 8-bit quantisation; the release (IDX, gzip) and a key (npz).

Same work, not the same numbers: weights are initialised by PyTorch's RNG.
With --precision bf16, the training and input-gradient forward passes run
under torch.autocast("cpu", torch.bfloat16), as honeyimage's `--precision
bf16` does; hardness losses stay fp32 in both.

With --channels-last, every model is moved to torch.channels_last (what
honeyimage's convolutions do, BENCHMARKS.md "Channels-last"): the reference
an engineer who knows that trick would write. Run it with the allocator
settings honeyimage sets (scripts/bench_protect.sh passes GLIBC_TUNABLES)
to see how much of honeyimage's lead is layout and allocator.

Data: Fashion-MNIST's IDX files, or CIFAR-10 binary batches (data_batch_*.bin:
scripts/cifar_shaped.py makes a 50k colour set); the release is written in
the input's format. --arch resnet18 trains CIFAR-style ResNet-18 proxies
(protect --proxy-arch resnet18), --proxy-epochs as protect's.

Usage: protect_torch.py DATA_DIR OUT_DIR [--count N] [--threads T] [--limit N] [--precision fp32|bf16] [--channels-last] [--arch small-cnn|resnet18] [--proxy-epochs E]
Prints one JSON line: stage times (s), peak RSS (MiB).
"""
import argparse
import gzip
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import ResNet18, SmallCnn  # noqa: E402  honeyimage's small-cnn and CIFAR-style ResNet-18


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw[4 + 4 * dims :], dtype=np.uint8).reshape(shape)


def read_cifar(folder, names):
    """CIFAR-10 binary batches: records of a label byte and a planar 3x32x32 image."""
    raw = np.concatenate([np.fromfile(os.path.join(folder, n), dtype=np.uint8).reshape(-1, 1 + 3 * 32 * 32) for n in names])
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


BF16 = False  # set by --precision
CHANNELS_LAST = False  # set by --channels-last
SHAPE = dict(arch="small-cnn", c=1, hw=28, k=10, mean=[0.286], std=[0.353])  # set from the data


class Normalised(torch.nn.Module):
    """The network behind the per-channel input normalisation honeyimage's models apply."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def new_model():
    c, k = SHAPE["c"], SHAPE["k"]
    if SHAPE["arch"] == "resnet18":
        m = Normalised(ResNet18(c=c, k=k), SHAPE["mean"], SHAPE["std"])
    else:
        m = SmallCnn(c=c, hw=SHAPE["hw"], k=k)
        m.mean, m.std = (torch.tensor(v).view(1, -1, 1, 1) for v in (SHAPE["mean"], SHAPE["std"]))
    return m.to(memory_format=torch.channels_last) if CHANNELS_LAST else m


def mixed():
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=BF16)


def lr_at(step, total, warmup, lr):
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min((step - warmup) / max(total - warmup, 1), 1.0)
    return 0.5 * lr * (1 + math.cos(math.pi * t))


def train(x, y, epochs, seed, batch=128, lr=0.05):
    torch.manual_seed(seed)
    model = new_model()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    per_epoch = math.ceil(len(x) / batch)
    total, warmup = epochs * per_epoch, round(0.5 * per_epoch)
    g = torch.Generator().manual_seed(seed)
    step = 0
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, lr)
            opt.zero_grad(set_to_none=True)
            with mixed():
                loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            step += 1
    return model.eval()


@torch.no_grad()
def losses(model, x, y, batch=128):
    return torch.cat([F.cross_entropy(model(x[i : i + batch]), y[i : i + batch], reduction="none") for i in range(0, len(x), batch)])


def hardest(scores, labels, total, k):
    """total samples, split over classes in proportion to their counts, hardest first."""
    counts = np.bincount(labels, minlength=k)
    quota = np.floor(counts / counts.sum() * total).astype(int)
    quota[np.argsort(-counts)[: total - quota.sum()]] += 1
    out = []
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        out.extend(idx[np.argsort(-scores[idx], kind="stable")][: quota[c]])
    return np.array(sorted(out))


def gaussian_window(size=11, sigma=1.5):
    g = torch.exp(-((torch.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


WINDOW = gaussian_window()


def ssim(a, b):
    """Mean SSIM per image (over pixels and channels) of uint8-valued float images (N, C, H, W), valid 11x11 Gaussian window."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    f = lambda t: F.conv2d(t, WINDOW.to(t.dtype).expand(t.shape[1], 1, -1, -1), groups=t.shape[1])
    ma, mb = f(a), f(b)
    saa, sbb, sab = f(a * a) - ma * ma, f(b * b) - mb * mb, f(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma * ma + mb * mb + c1) * (saa + sbb + c2))
    return s.flatten(1).mean(1)


def quantise(x0, x, eps):
    budget = math.floor(eps * 255 + 1e-6)
    x0q = (x0 * 255).round()
    return (x * 255).round().clamp(x0q - budget, x0q + budget).clamp(0, 255) / 255


def project_ssim(x0, x, eps, floor):
    """Scales each perturbation down (8 bisection steps) until SSIM >= floor."""
    d = x - x0
    orig = (x0 * 255).round()
    ok = ssim(orig, quantise(x0, x, eps) * 255) >= floor
    if bool(ok.all()):
        return x
    lo, hi = torch.zeros(len(x)), torch.ones(len(x))
    for _ in range(8):
        mid = (lo + hi) / 2
        good = ssim(orig, quantise(x0, x0 + d * mid.view(-1, 1, 1, 1), eps) * 255) >= floor
        lo, hi = torch.where(good, mid, lo), torch.where(good, hi, mid)
    scale = torch.where(ok, torch.ones(len(x)), lo)
    return x0 + d * scale.view(-1, 1, 1, 1)


def optimise(x, y, groups, perturb, seed, eps=4 / 255, alpha=0.4 / 255, steps=20, inner_steps=2, inner_lr=0.01, inner_batch=128, min_ssim=0.99):
    rng = np.random.default_rng(seed)
    images = {}
    for cands, pool, out_model in groups:
        x0, yc = x[cands], y[cands]
        xc = x0.clone()
        inm = new_model()
        inm.load_state_dict(out_model.state_dict())
        inm.train()
        opt = torch.optim.SGD(inm.parameters(), lr=inner_lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
        for p in out_model.parameters():
            p.requires_grad_(False)
        for _ in range(steps):
            for _ in range(inner_steps):
                ord_ = rng.choice(pool, size=min(inner_batch, len(pool)), replace=False)
                opt.zero_grad(set_to_none=True)
                with mixed():
                    loss = F.cross_entropy(inm(torch.cat([xc, x[ord_]])), torch.cat([yc, y[ord_]]))
                loss.backward()
                opt.step()
            xg = xc.detach().requires_grad_(True)
            inm.eval()
            with mixed():
                lo, li = out_model(xg), inm(xg)
            gap = F.cross_entropy(lo.float(), yc, reduction="sum") - F.cross_entropy(li.float(), yc, reduction="sum")
            inm.train()
            if perturb:
                (grad,) = torch.autograd.grad(gap, [xg])
                xc = torch.minimum(torch.maximum(xg.detach() + alpha * grad.sign(), x0 - eps), x0 + eps).clamp(0, 1)
                xc = project_ssim(x0, xc, eps, min_ssim)
        for p in out_model.parameters():
            p.requires_grad_(True)
        q = quantise(x0, xc.detach(), eps)
        for i, img in zip(cands, (q * 255).round().to(torch.uint8)):
            images[int(i)] = img
    return images


def write_idx(folder, images, labels):
    os.makedirs(folder, exist_ok=True)
    n, h, w = images.shape
    with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + images.tobytes())
    with gzip.open(os.path.join(folder, "train-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


def write_cifar(folder, images, labels, per_batch=10000):
    """CIFAR-10 binary batches data_batch_1.bin, ... of (N, 3, 32, 32) images."""
    os.makedirs(folder, exist_ok=True)
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    for b, start in enumerate(range(0, len(records), per_batch)):
        records[start : start + per_batch].tofile(os.path.join(folder, f"data_batch_{b + 1}.bin"))


def load(folder, limit):
    """(uint8 images (N, C, H, W), labels, writer of a release in the same format)."""
    if os.path.exists(os.path.join(folder, "data_batch_1.bin")):
        names = sorted((n for n in os.listdir(folder) if n.startswith("data_batch_")), key=lambda n: int(n[11:-4]))
        raw, labels = read_cifar(folder, names)
        writer = write_cifar
    else:
        raw = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"))[:, None]
        labels = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz")).astype(np.int64)
        writer = lambda out, images, y: write_idx(out, images[:, 0], y)
    return raw[:limit], labels[:limit], writer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--limit", type=int, default=None, help="first N images only (smoke runs)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--arch", choices=["small-cnn", "resnet18"], default="small-cnn", help="proxies' architecture (protect --proxy-arch)")
    ap.add_argument("--proxy-epochs", type=int, default=4)
    a = ap.parse_args()
    global BF16, CHANNELS_LAST
    BF16 = a.precision == "bf16"
    CHANNELS_LAST = a.channels_last
    torch.set_num_threads(a.threads)
    times, t0 = {}, time.time()
    raw, labels, writer = load(a.data, a.limit)
    x = torch.from_numpy(raw.copy()).float().div_(255)
    y = torch.from_numpy(labels)
    n, k = len(x), int(labels.max()) + 1
    SHAPE.update(arch=a.arch, c=x.shape[1], hw=x.shape[2], k=k, mean=x.mean((0, 2, 3)).tolist(), std=x.std((0, 2, 3)).tolist())
    perm = np.random.default_rng(0).permutation(n)
    folds = [np.sort(perm[i::2]) for i in range(2)]
    t = time.time()
    proxies = [train(x[folds[1 - f]], y[folds[1 - f]], epochs=a.proxy_epochs, seed=f) for f in range(2)]
    times["proxies"] = time.time() - t
    t = time.time()
    scores = np.zeros(n)
    for f in range(2):
        scores[folds[f]] = losses(proxies[f], x[folds[f]], y[folds[f]]).numpy()
    times["hardness"] = time.time() - t
    t = time.time()
    cands = hardest(scores, labels, 2 * a.count, k)
    rand = np.sort(np.random.default_rng(1).choice(np.setdiff1d(np.arange(n), cands), 2 * a.count, replace=False))
    fold_of = np.zeros(n, dtype=int)
    fold_of[folds[1]] = 1

    def groups(c, exclude):
        out = []
        for f in range(2):
            pool = np.setdiff1d(folds[1 - f], np.concatenate([c, exclude]))
            out.append((c[fold_of[c] == f], pool, proxies[f]))
        return out

    honey = optimise(x, y, groups(cands, []), True, 0)
    optimise(x, y, groups(cands, []), False, 0)
    optimise(x, y, groups(rand, cands), True, 0)
    optimise(x, y, groups(rand, cands), False, 0)
    times["optimisation"] = time.time() - t
    t = time.time()
    split = np.random.default_rng(2).permutation(cands)
    released, withheld = np.sort(split[: a.count]), np.sort(split[a.count :])
    out = raw.copy()
    for i in released:
        out[i] = honey[int(i)].numpy()
    keep = np.setdiff1d(np.arange(n), withheld)
    writer(a.out, out[keep], labels[keep])
    np.savez(os.path.join(a.out + ".key.npz"), released=released, withheld=withheld, honey=np.stack([honey[int(i)].numpy() for i in cands]))
    times["release+key"] = time.time() - t
    times["total"] = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": {s: round(v, 2) for s, v in times.items()}, "peak_mib": round(peak), "threads": a.threads, "precision": a.precision, "channels_last": a.channels_last, "arch": a.arch, "proxy_epochs": a.proxy_epochs, "images": list(raw.shape), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
