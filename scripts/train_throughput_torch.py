"""Images/s of 120 small-CNN training steps (batch 128, SGD Nesterov) in
PyTorch on a random training tensor of N rows: a single-run probe of this
machine's run-to-run spread (BENCHMARKS.md, "protect end to end vs its
PyTorch reference"). Usage: OMP_NUM_THREADS=2 python train_throughput_torch.py N
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import SmallCnn  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
torch.manual_seed(0)
N = int(sys.argv[1])
m = SmallCnn().train()
opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
x, y = torch.rand(N, 1, 28, 28), torch.randint(0, 10, (N,))
perm = torch.randperm(N)
steps = 120
t = time.time()
for s in range(steps):
    idx = perm[s * 128 : (s + 1) * 128]
    opt.zero_grad()
    torch.nn.functional.cross_entropy(m(x[idx]), y[idx]).backward()
    opt.step()
print(N, round(steps * 128 / (time.time() - t)), "img/s")
