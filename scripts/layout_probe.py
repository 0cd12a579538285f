"""The small CNN's training step in PyTorch, four ways, on the same inputs:
one model at a time in the default (NCHW) layout, channels-last, and K
models as one grouped computation (grouped convolutions, batched linear
layers: the "batched proxies" of issue #15), in fp32 and bf16 autocast.
Rounds alternate between the variants so that a noisy machine hits them
alike; prints the median and range of images per second per model
(K models stepping on 128 images each count K * 128).

With --profile, instead prints torch.profiler's top operators (self CPU
time) over 20 training steps of one small CNN in each layout and precision:
where a step's time goes.

Usage: OMP_NUM_THREADS=2 python3 scripts/layout_probe.py [--rounds 8] [--k 2] [--profile]
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import SmallCnn  # noqa: E402


class GroupedSmallCnn(nn.Module):
    """K small CNNs as one network: input [B, K, 28, 28] (model k reads
    channel k), grouped convolutions, per-model batch norm channels, and
    batched matrix products for the linear layers; logits [K, B, 10]."""

    def __init__(self, k_models, w=32, classes=10, hw=28):
        super().__init__()
        self.k = k_models
        self.conv1, self.bn1 = nn.Conv2d(k_models, k_models * w, 3, padding=1, groups=k_models), nn.BatchNorm2d(k_models * w)
        self.conv2, self.bn2 = nn.Conv2d(k_models * w, k_models * 2 * w, 3, padding=1, groups=k_models), nn.BatchNorm2d(k_models * 2 * w)
        flat = 2 * w * (hw // 4) ** 2
        self.fc1 = nn.Parameter(torch.randn(k_models, flat, 128) / flat**0.5)
        self.b1 = nn.Parameter(torch.zeros(k_models, 1, 128))
        self.fc2 = nn.Parameter(torch.randn(k_models, 128, classes) / 128**0.5)
        self.b2 = nn.Parameter(torch.zeros(k_models, 1, classes))

    def forward(self, x):
        x = (x - 0.286) / 0.353
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = x.reshape(x.shape[0], self.k, -1).transpose(0, 1)
        return torch.baddbmm(self.b2, F.relu(torch.baddbmm(self.b1, x, self.fc1)), self.fc2)


def sgd(m):
    return torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)


def variants(k, bf16):
    x, y = torch.rand(128, 1, 28, 28), torch.randint(0, 10, (128,))
    xg, yg = torch.rand(128, k, 28, 28), torch.randint(0, 10, (k, 128))
    cast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def separate(channels_last):
        models = [SmallCnn() for _ in range(k)]
        if channels_last:
            models = [m.to(memory_format=torch.channels_last) for m in models]
        opts = [sgd(m) for m in models]

        def step():
            for m, o in zip(models, opts):
                o.zero_grad()
                with cast():
                    loss = F.cross_entropy(m(x), y)
                loss.backward()
                o.step()
        return step

    def grouped():
        g = GroupedSmallCnn(k)
        o = sgd(g)

        def step():
            o.zero_grad()
            with cast():
                loss = F.cross_entropy(g(xg).reshape(-1, 10), yg.reshape(-1), reduction="sum") / 128
            loss.backward()
            o.step()
        return step

    return {"separate, default layout": separate(False), "separate, channels-last": separate(True), f"{k} grouped as one": grouped()}


def profile():
    from torch.profiler import profile as prof

    for bf16 in (False, True):
        for name, step in list(variants(1, bf16).items())[:2]:
            for _ in range(3):
                step()
            with prof() as p:
                for _ in range(20):
                    step()
            total = sum(e.self_cpu_time_total for e in p.key_averages())
            print(f"## {'bf16' if bf16 else 'fp32'}, {name}: {total / 20 / 1000:.1f} ms per step (self CPU, all operators)")
            for e in sorted(p.key_averages(), key=lambda e: -e.self_cpu_time_total)[:6]:
                print(f"  {e.key:<45} {100 * e.self_cpu_time_total / total:5.1f}%")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--k", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if a.profile:
        return profile()
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}, K = {a.k}, {a.rounds} rounds of {a.steps} steps")
    print("| precision | variant | images/s per model (median) | range |")
    print("|---|---|---:|---:|")
    for bf16 in (False, True):
        vs = variants(a.k, bf16)
        for f in vs.values():
            f()
            f()
        rates = {name: [] for name in vs}
        for _ in range(a.rounds):
            for name, f in vs.items():
                t = time.perf_counter()
                for _ in range(a.steps):
                    f()
                rates[name].append(a.k * 128 * a.steps / (time.perf_counter() - t))
        for name, r in rates.items():
            print(f"| {'bf16' if bf16 else 'fp32'} | {name} | {statistics.median(r):.0f} | {min(r):.0f}-{max(r):.0f} |", flush=True)


if __name__ == "__main__":
    main()
