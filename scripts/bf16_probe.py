"""How much bf16 autocast speeds up PyTorch's CPU training and input-gradient
steps on this machine, for the networks of `cargo bench --bench train_step`
(bench_torch.py's SmallCnn and ResNet18, batch 128): the ceiling that a
`--precision bf16` in honeyimage could reach (issue #15). Prints the CPU's
bf16 units, then JSON: images/s in fp32 and bf16 and their ratio.

usage: OMP_NUM_THREADS=2 python3 scripts/bf16_probe.py
"""
import json, os, sys
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import BATCH, ResNet18, SmallCnn, opt, timed  # noqa: E402


def units():
    flags = open("/proc/cpuinfo").read().split("flags")[1].split("\n")[0].split()
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


def steps(m, x, y, bf16):
    o = opt(m)

    def train():
        m.train()
        o.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(m(x), y)
        loss.backward()
        o.step()

    def grad():
        m.eval()
        xi = x.detach().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(m(xi), y)
        g, = torch.autograd.grad(loss, xi)
        (xi + g.sign() * (0.4 / 255)).clamp(0, 1)

    return train, grad


def main():
    torch.manual_seed(0)
    x, y = torch.rand(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "bf16_units": units()}
    for name, cls, n in [("small-cnn", SmallCnn, 60), ("resnet18", ResNet18, 6)]:
        for kind in ("train_step", "input_grad_step"):
            r = {}
            for bf16 in (False, True):
                torch.manual_seed(0)
                train, grad = steps(cls(), x, y, bf16)
                r["bf16" if bf16 else "fp32"] = timed(n, train if kind == "train_step" else grad)
            r["ratio"] = r["bf16"] / r["fp32"]
            out[f"{name}/{kind}"] = {k: round(v, 2) for k, v in r.items()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
