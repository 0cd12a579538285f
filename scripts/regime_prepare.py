"""Pack what scripts/regime_suspects.py needs to train suspects elsewhere (a
GPU machine) without carrying whole releases: the base Fashion-MNIST IDX
files, each release as its difference from the base (W's indices dropped,
R's indices and released pixels), a clean set (every key's candidates
dropped), the query images of every key (deduplicated), and the job list.

Each release is rebuilt here from its key and compared byte for byte with
the release folder `protect` wrote, so the suspects train on exactly the
released data.

usage: regime_prepare.py OUT_DIR BASE_DIR NAME=KEY:RELEASE_DIR... \
         [--archs resnet18,vgg11,smallcnn] [--clean-seeds 2] [--late NAME,...]

Release NAMEs look like KIND-kJ (e.g. honey-k0, plain-k0): J is the key's
index, which is also the suspect's seed, so the releases of one key are
paired (the same seed, the same batch order). Releases named in --late are
trained after the clean models.
"""
import argparse, base64, hashlib, json, os, shutil, sys
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from idx import find, read_idx  # noqa: E402

BASE = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def read_key(path):
    with open(path, "rb") as f:
        header = json.loads(f.readline())
        body = f.read()
    if header.get("format") != "honeyimage-key":
        raise SystemExit(f"{path}: not a plain honeyimage key (decrypt it with `honeyimage key decrypt` first)")
    if hashlib.sha256(body).hexdigest() != header["body_sha256"]:
        raise SystemExit(f"{path}: body does not match its checksum")
    return json.loads(body)


def pixels(sample, h, w):
    return np.frombuffer(base64.b64decode(sample["honey"]), np.uint8).reshape(h, w)


def release_images(folder):
    return read_idx(find(folder, BASE[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("base")
    ap.add_argument("releases", nargs="+")
    ap.add_argument("--archs", default="resnet18,vgg11,smallcnn")
    ap.add_argument("--clean-seeds", type=int, default=2)
    ap.add_argument("--late", default="")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for stem in BASE:
        src = find(a.base, stem)
        shutil.copyfile(src, os.path.join(a.out, os.path.basename(src)))
    base = read_idx(find(a.base, BASE[0]))
    arrays, queries, names, candidates, rels = {}, {}, {}, set(), []
    for spec in a.releases:
        name, rest = spec.split("=", 1)
        key_path, folder = rest.split(":", 1)
        key = read_key(key_path)
        h, w = key["dataset"]["height"], key["dataset"]["width"]
        drop = np.array([s["index"] for s in key["withheld"]], np.int64)
        ridx = np.array([s["index"] for s in key["released"]], np.int64)
        rpix = np.stack([pixels(s, h, w) for s in key["released"]])
        x = base.copy()
        x[ridx] = rpix
        keep = np.ones(len(x), bool)
        keep[drop] = False
        if not np.array_equal(x[keep], release_images(folder)):
            raise SystemExit(f"{name}: the release rebuilt from {key_path} differs from {folder}")
        arrays.update({f"{name}_drop": drop, f"{name}_ridx": ridx, f"{name}_rpix": rpix})
        candidates.update(drop.tolist() + ridx.tolist())
        for s in key["released"] + key["withheld"]:
            img = pixels(s, h, w)
            digest = hashlib.sha256(img.tobytes()).hexdigest()
            queries.setdefault(digest, img)
        rels.append(name)
        print(f"{name}: {len(ridx)} released, {len(drop)} withheld; rebuilt release matches {folder}")
    arrays["clean_drop"] = np.array(sorted(candidates), np.int64)
    digests = sorted(queries)
    arrays["queries"] = np.stack([queries[d] for d in digests])
    np.savez_compressed(os.path.join(a.out, "regime.npz"), **arrays)
    with open(os.path.join(a.out, "queries.json"), "w") as f:
        json.dump(digests, f)
    archs, late = a.archs.split(","), set(filter(None, a.late.split(",")))
    key_of = lambda rel: int(rel.rsplit("-k", 1)[1])
    jobs = []
    first = [r for r in rels if r not in late]
    for k in sorted({key_of(r) for r in first}):
        for arch in archs:
            jobs += [{"name": f"{r}-{arch}", "release": r, "arch": arch, "seed": k} for r in first if key_of(r) == k]
    for s in range(a.clean_seeds):
        jobs += [{"name": f"clean-s{s}-{arch}", "release": "clean", "arch": arch, "seed": 100 + s} for arch in archs]
    for r in [r for r in rels if r in late]:
        jobs += [{"name": f"{r}-{arch}", "release": r, "arch": arch, "seed": key_of(r)} for arch in archs]
    with open(os.path.join(a.out, "jobs.json"), "w") as f:
        json.dump(jobs, f, indent=1)
    print(f"{len(digests)} query images, {len(candidates)} candidates dropped from the clean set, {len(jobs)} jobs")


if __name__ == "__main__":
    main()
