"""What one verification costs over each protocol: HTTP requests, seconds
spent in them, and the wall time of `honeyimage verify`, for the same
TorchScript suspect served by `honeyimage serve` (our protocol and V2),
MLServer (V2, over HTTP and over HTTPS + token behind nginx), and the TF
Serving and TorchServe stand-ins. Prints a Markdown table (BENCHMARKS.md).

usage: protocol_cost.py KEY SUSPECT.pt [--binary target/release/honeyimage] [--repeat 3]
"""
import argparse, json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "bench-token-5d1e"


def start(cmd, env=None):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline()
    if not line.strip():
        p.kill()
        sys.exit(f"{cmd} did not start")
    return p, line


def verify(binary, key, url, extra, env, repeat):
    best = None
    for _ in range(repeat):
        t = time.perf_counter()
        o = subprocess.run([binary, "--quiet", "verify", "--key", key, "--endpoint", url, "--json", *extra], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        if o.returncode not in (0, 1):
            sys.exit(f"verify {url}: {o.stderr.strip()}")
        d = json.loads(o.stdout)
        row = (d["http"]["requests"], d["http"]["seconds"], wall, d["queries"], d["p_value"])
        best = row if best is None or row[2] < best[2] else best
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("key")
    ap.add_argument("model")
    ap.add_argument("--binary", default="target/release/honeyimage")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONEYIMAGE_BEARER")}
    names = os.path.join(HERE, "fmnist_index_to_name.json")
    rows, procs = [], []
    try:
        serve, line = start([a.binary, "--quiet", "serve", "--model", a.model, "--port", "0"])
        procs.append(serve)
        predict = line.split()[-1]
        base = predict[: -len("/v1/predict")]
        rows.append(("honeyimage (serve)", verify(a.binary, a.key, predict, [], env, a.repeat)))
        rows.append(("v2 (honeyimage serve)", verify(a.binary, a.key, base + "/v2/models/suspect", [], env, a.repeat)))
        d = tempfile.mkdtemp()
        stack, line = start([sys.executable, os.path.join(HERE, "stack.py"), "--model", a.model, "--dir", d, "--tls"], env={**env, "HONEYIMAGE_TEST_TOKEN": TOKEN})
        procs.append(stack)
        info = json.loads(line)
        rows.append(("v2 (MLServer, HTTP)", verify(a.binary, a.key, info["http_url"], [], env, a.repeat)))
        rows.append(("v2 (MLServer behind nginx, HTTPS + token)", verify(a.binary, a.key, info["https_url"], ["--ca-cert", info["ca_cert"]], {**env, "HONEYIMAGE_BEARER_TOKEN": TOKEN}, a.repeat)))
        tfs, line = start([sys.executable, os.path.join(HERE, "standins.py"), "tfserving", "--model", a.model])
        procs.append(tfs)
        rows.append(("tfserving (stand-in)", verify(a.binary, a.key, json.loads(line)["model_url"], [], env, a.repeat)))
        ts, line = start([sys.executable, os.path.join(HERE, "standins.py"), "torchserve", "--model", a.model, "--topk", "10", "--index-to-name", names])
        procs.append(ts)
        rows.append(("torchserve (stand-in, all classes)", verify(a.binary, a.key, json.loads(line)["predictions_url"], ["--class-map", names], env, a.repeat)))
    finally:
        for p in procs:
            p.stdin.close()
            p.kill()
            p.wait()
    print("| protocol (server) | images queried | HTTP requests | seconds in requests | verify wall time (s) | p-value |")
    print("|---|---|---|---|---|---|")
    for name, (req, secs, wall, q, p) in rows:
        print(f"| {name} | {q} | {req} | {secs:.3f} | {wall:.2f} | {p:.3g} |")


if __name__ == "__main__":
    main()
