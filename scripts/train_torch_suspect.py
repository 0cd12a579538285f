"""Train a PyTorch model on an IDX dataset (e.g. a honeyimage release) the
way a third party would, and export it as TorchScript and ONNX: the foreign
suspects of the verification tests. Prints a JSON line with train accuracy.

usage: train_torch_suspect.py IDX_DIR OUT_PREFIX [--epochs 30] [--seed 0] [--limit N]
"""
import argparse, json, os, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import find, read_idx  # noqa: E402


class Net(nn.Module):
    """A small CNN (not the same code as honeyimage's): the suspect is foreign."""

    def __init__(self, k=10):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.c2, self.b2 = nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64)
        self.fc1, self.fc2 = nn.Linear(64 * 7 * 7, 128), nn.Linear(128, k)

    def forward(self, x):  # x: [n, 1, 28, 28] in [0, 1]
        x = (x - 0.286) / 0.353
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2).flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(2)
    x = read_idx(find(a.data, "train-images-idx3-ubyte")).astype(np.float32)[:, None] / 255
    y = read_idx(find(a.data, "train-labels-idx1-ubyte")).astype(np.int64)
    if a.limit:
        x, y = x[: a.limit], y[: a.limit]
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    m = Net(int(y.max()) + 1)
    steps = a.epochs * ((len(y) + 127) // 128)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.05, total_steps=steps, pct_start=0.05)
    for _ in range(a.epochs):
        m.train()
        perm = torch.randperm(len(y))
        for i in range(0, len(y), 128):
            idx = perm[i: i + 128]
            opt.zero_grad()
            F.cross_entropy(m(x[idx]), y[idx]).backward()
            opt.step()
            sched.step()
    m.eval()
    with torch.no_grad():
        acc = float((m(x).argmax(1) == y).float().mean())
    example = torch.rand(4, 1, 28, 28)
    torch.jit.trace(m, example).save(a.out + ".pt")
    torch.onnx.export(m, (example,), a.out + ".onnx", input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
    print(json.dumps({"train_accuracy": acc, "samples": len(y), "epochs": a.epochs}))


if __name__ == "__main__":
    main()
