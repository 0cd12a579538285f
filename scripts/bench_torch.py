"""PyTorch side of `cargo bench -p honeyimage --bench train_step`: the same
networks, optimiser and batch as the Rust benchmark, images/s as JSON.
With --bf16, the steps also run under torch.autocast("cpu", bfloat16)
(rows ending in _bf16)."""
import gzip, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH = 128
FMNIST = "/usr/share/datasets/fashion-mnist"


class SmallCnn(nn.Module):
    def __init__(self, c=1, hw=28, k=10, w=32):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w)
        self.conv2, self.bn2 = nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w)
        self.fc1, self.fc2 = nn.Linear(2 * w * (hw // 4) ** 2, 128), nn.Linear(128, k)
        self.register_buffer("mean", torch.tensor([0.286]).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor([0.353]).view(1, 1, 1, 1))

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2).flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (self.sc(x) if self.sc is not None else x))


class ResNet18(nn.Module):
    def __init__(self, c=1, k=10, w=64):
        super().__init__()
        layers = [nn.Conv2d(c, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        cin = w
        for mult, stride in [(1, 1), (2, 2), (4, 2), (8, 2)]:
            for b in range(2):
                layers.append(Block(cin, w * mult, stride if b == 0 else 1))
                cin = w * mult
        self.body, self.fc = nn.Sequential(*layers), nn.Linear(cin, k)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


def opt(m):
    return torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def timed(steps, f):
    for _ in range(2):
        f()
    t = time.perf_counter()
    for _ in range(steps):
        f()
    return steps * BATCH / (time.perf_counter() - t)


def main():
    torch.manual_seed(0)
    x, y = torch.rand(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    out = {}
    precisions = (False, True) if "--bf16" in sys.argv else (False,)
    for name, cls, steps in [("small-cnn", SmallCnn, 60), ("resnet18", ResNet18, 6)]:
        for bf16 in precisions:
            suffix = "_bf16" if bf16 else ""
            m = cls()
            o = opt(m)

            def train_step():
                m.train()
                o.zero_grad()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = F.cross_entropy(m(x), y)
                loss.backward()
                o.step()

            out[f"{name}/train_step{suffix}"] = timed(steps, train_step)

            def grad_step():
                m.eval()
                xi = x.detach().requires_grad_(True)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = F.cross_entropy(m(xi), y)
                g, = torch.autograd.grad(loss, xi)
                (xi + g.sign() * (0.4 / 255)).clamp(0, 1)

            out[f"{name}/input_grad_step{suffix}"] = timed(steps, grad_step)
    for bf16 in precisions if os.path.isdir(FMNIST) else ():
        t = time.perf_counter()
        with gzip.open(f"{FMNIST}/train-images-idx3-ubyte.gz") as f:
            imgs = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        with gzip.open(f"{FMNIST}/train-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        xs = torch.from_numpy(imgs[:10000].astype(np.float32) / 255)
        ys = torch.from_numpy(labels[:10000].astype(np.int64))
        m = SmallCnn()
        o = opt(m)
        m.train()
        perm = torch.randperm(10000)
        for i in range(0, 10000, BATCH):
            idx = perm[i:i + BATCH]
            o.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(m(xs[idx]), ys[idx])
            loss.backward()
            o.step()
        out["small-cnn/end_to_end_epoch_10k" + ("_bf16" if bf16 else "")] = 10000 / (time.perf_counter() - t)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
