"""Train the suspects of issue #12's goal regime in PyTorch, as an infringer
with a GPU would: the full 60k Fashion-MNIST release, ResNet-18, VGG-11 (BN)
and a small CNN, random crop + flip, to realistic test accuracy. The models
never leave the machine: each one's outputs on every query image of every
key come back (`answers` rows), and `honeyimage verify --answers` decides
offline (scripts/regime_experiment.sh runs the whole thing).

Input: a folder made by scripts/regime_prepare.py (the base Fashion-MNIST IDX
files, `regime.npz` with each release as a difference from the base, the
query images, and `jobs.json`).

usage: regime_suspects.py IN_DIR OUT_DIR [--workers 3] [--deadline 420]
       [--epochs 12] [--device cuda] [--limit 0] [--jobs-matching SUBSTR]
       [--seed-offset K [--with-clean]]

The workers share one queue (the jobs' order is their priority). Every job
writes one JSON line (name, arch, seed, release, accuracies,
seconds, logits on the queries) to OUT_DIR/w{worker}.jsonl as it finishes;
a worker starts no job after the deadline (seconds from the start), so a
run cut short still returns whole jobs.
"""
import argparse, json, os, subprocess, sys, tempfile, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import find, read_idx  # noqa: E402

MEAN, STD = 0.286, 0.353


# ---- architectures (written here, not honeyimage's: the suspects are foreign)

class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(y)) + self.short(x))


class ResNet18(nn.Module):
    """The CIFAR-style ResNet-18 (3x3 stem, no max-pool), one input channel."""

    def __init__(self, k=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, k)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


class VGG11(nn.Module):
    """VGG-11 with batch norm; 28x28 input, so the fifth pool is dropped."""

    def __init__(self, k=10):
        super().__init__()
        cfg, layers, cin = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512], [], 1
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(nn.Dropout(0.3), nn.Linear(512, k))

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class SmallCNN(nn.Module):
    def __init__(self, k=10):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.c2, self.b2 = nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64)
        self.fc1, self.fc2 = nn.Linear(64 * 7 * 7, 128), nn.Linear(128, k)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.b1(self.c1(x))), 2)
        x = F.max_pool2d(F.relu(self.b2(self.c2(x))), 2).flatten(1)
        return self.fc2(F.relu(self.fc1(x)))


ARCHS = {"resnet18": (ResNet18, 0.1), "vgg11": (VGG11, 0.05), "smallcnn": (SmallCNN, 0.05)}


# ---- data

def release(base_x, base_y, npz, rel):
    """The release `rel` rebuilt from the base set: W dropped, R replaced."""
    x = base_x.copy()
    if f"{rel}_ridx" in npz.files:
        x[npz[f"{rel}_ridx"]] = npz[f"{rel}_rpix"]
    keep = np.ones(len(x), bool)
    keep[npz[f"{rel}_drop"]] = False
    return x[keep], base_y[keep]


def crop_flip(x, pad, gen):
    """Random crop after zero-padding (black) by `pad`, and random horizontal
    flip, of images in [0, 1], on the device (torchvision's RandomCrop +
    RandomHorizontalFlip, batched)."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (n,), device=x.device, generator=gen)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]
    out = xp[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols][:, None]
    flip = torch.rand(n, device=x.device, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(3), out)


def norm(x_u8):
    return (x_u8.float() / 255 - MEAN) / STD


@torch.no_grad()
def logits_of(model, x_u8, bs=2000):
    model.eval()
    return torch.cat([model(norm(x_u8[i: i + bs])).float() for i in range(0, len(x_u8), bs)])


def accuracy(model, x, y):
    return float((logits_of(model, x).argmax(1) == y).float().mean())


def train_one(job, data, args, dev):
    x, y = data["releases"][job["release"]]
    cls, lr = ARCHS[job["arch"]]
    torch.manual_seed(job["seed"])
    gen = torch.Generator(device=dev)
    gen.manual_seed(job["seed"])
    model = cls().to(dev).to(memory_format=torch.channels_last)
    bs = args.batch
    steps = args.epochs * ((len(y) + bs - 1) // bs)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.15)
    amp = dev.type == "cuda"
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(len(y), device=dev, generator=gen)
        for i in range(0, len(y), bs):
            idx = perm[i: i + bs]
            xb = (crop_flip(x[idx].float() / 255, args.pad, gen) - MEAN) / STD
            xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    out = logits_of(model, data["queries"])
    return {
        "train_accuracy": accuracy(model, x, y),
        "test_accuracy": accuracy(model, data["test_x"], data["test_y"]),
        "logits": [[round(float(v), 5) for v in row] for row in out.cpu().tolist()],
    }


def load(args, dev, needed):
    d = args.input
    npz = np.load(os.path.join(d, "regime.npz"))
    bx = read_idx(find(d, "train-images-idx3-ubyte"))
    by = read_idx(find(d, "train-labels-idx1-ubyte")).astype(np.int64)
    tx = read_idx(find(d, "t10k-images-idx3-ubyte"))
    ty = read_idx(find(d, "t10k-labels-idx1-ubyte")).astype(np.int64)
    lim = slice(0, args.limit or None)  # --limit: a quick check on the first images
    tx, ty = tx[lim], ty[lim]
    gpu = lambda a: torch.from_numpy(np.array(a)).to(dev)
    releases = {}
    for rel in needed:
        rx, ry = release(bx, by, npz, rel)
        releases[rel] = (gpu(rx[lim, None]), gpu(ry[lim]))
    return {"releases": releases, "queries": gpu(npz["queries"][:, None]), "test_x": gpu(tx[:, None]), "test_y": gpu(ty)}


def worker(args):
    t0 = float(os.environ["REGIME_T0"])
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    else:
        torch.set_num_threads(1)
    jobs = json.load(open(os.path.join(args.input, "jobs.json")))
    if args.jobs_matching:
        jobs = [j for j in jobs if args.jobs_matching in j["name"]]
    if args.seed_offset:
        # More suspects of the same releases: other seeds, still paired across releases.
        jobs = [dict(j, seed=j["seed"] + args.seed_offset, name=f"{j['name']}-o{args.seed_offset}") for j in jobs if j["release"] != "clean" or args.with_clean]
    data = load(args, dev, sorted({j["release"] for j in jobs}))
    claims = os.path.join(tempfile.gettempdir(), f"regime-claims-{os.environ['REGIME_T0']}")
    os.makedirs(claims, exist_ok=True)
    done = finished(args.out)
    with open(os.path.join(args.out, f"w{args.worker}.jsonl"), "a") as out:
        for job in jobs:
            if job["name"] in done or not claim(claims, job["name"]):
                continue
            if time.time() - t0 > args.deadline:
                print(f"worker {args.worker}: deadline, skipping {job['name']}", flush=True)
                continue
            t = time.time()
            res = train_one(job, data, args, dev)
            res.update(job, seconds=round(time.time() - t, 1), epochs=args.epochs, pad=args.pad, batch=args.batch)
            out.write(json.dumps(res) + "\n")
            out.flush()
            print(f"worker {args.worker}: {job['name']} test {res['test_accuracy']:.4f} train {res['train_accuracy']:.4f} "
                  f"{res['seconds']} s (at {time.time() - t0:.0f} s)", flush=True)


def finished(out):
    """Jobs a killed earlier run already wrote (a rerun resumes after them)."""
    names = set()
    for f in os.listdir(out):
        if f.startswith("w") and f.endswith(".jsonl"):
            for line in open(os.path.join(out, f)):
                try:
                    names.add(json.loads(line)["name"])
                except (ValueError, KeyError):
                    pass  # a line cut short by the kill
    return names


def claim(folder, name):
    """True for the one worker that claims job `name` first (the workers share
    one queue in the jobs' order, so the next free worker takes the next job)."""
    try:
        os.close(os.open(os.path.join(folder, name), os.O_CREAT | os.O_EXCL))
        return True
    except FileExistsError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--worker", type=int, default=-1)
    ap.add_argument("--deadline", type=float, default=420)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--pad", type=int, default=4)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--jobs-matching", default="")
    ap.add_argument("--seed-offset", type=int, default=0)
    ap.add_argument("--with-clean", action="store_true", help="with --seed-offset: clean models too")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.worker >= 0:
        return worker(args)
    os.environ.setdefault("REGIME_T0", str(time.time()))
    procs = [subprocess.Popen([sys.executable] + sys.argv + ["--worker", str(i)]) for i in range(args.workers)]
    sys.exit(max(p.wait() for p in procs))


if __name__ == "__main__":
    main()
