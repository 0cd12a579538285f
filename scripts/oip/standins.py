"""STAND-INS for TensorFlow Serving's and TorchServe's REST APIs, serving a
TorchScript image classifier, for the integration tests of `honeyimage verify`.

These are NOT the real servers. Each follows the documented REST API of the
real one (URLs, request and reply JSON, error envelopes and status codes),
because the real servers cannot be installed here: TF Serving ships as a C++
binary / Docker image, TorchServe needs a Java runtime (its frontend is Java).
What they prove is that honeyimage speaks those wire formats; the Open
Inference Protocol is tested against a real server (MLServer, stack.py).

usage:
  standins.py tfserving  --model suspect.pt [--name suspect]
  standins.py torchserve --model suspect.pt [--name suspect] [--topk 5]
                         [--index-to-name scripts/oip/fmnist_index_to_name.json]

The model is the TorchScript suspect of scripts/train_torch_suspect.py (input
[n,1,28,28] float in [0,1], output [n,10] logits). Each listens on a free
127.0.0.1 port, prints ONE JSON line on stdout ({"url": "http://127.0.0.1:P",
...}) and serves until SIGTERM/SIGINT, its parent's death, or EOF on its
stdin when stdin is a pipe.

tfserving (TF Serving REST API, model version "1"):
  GET  /v1/models/NAME[/versions/1]           model status (AVAILABLE)
  GET  /v1/models/NAME[/versions/1]/metadata  signature "serving_default":
       input "images" DT_FLOAT [-1,28,28,1] (NHWC, TF convention), output
       "probabilities" DT_FLOAT [-1,10]
  POST /v1/models/NAME[/versions/1]:predict
       {"instances": [n x [28][28][1]]} (or [{"images": ...}])
         -> {"predictions": [n x [10 softmax probabilities]]}
       {"inputs": [n][28][28][1]} (or {"images": ...})
         -> {"outputs": [n x [10]]}
  errors: {"error": "..."} with 400 / 404, as TF Serving.

torchserve (TorchServe inference API, image_classifier-like handler with a
Fashion-MNIST transform: grayscale, 28x28, ToTensor; model version "1.0"):
  GET  /ping                          {"status": "Healthy"}
  POST|PUT /predictions/NAME[/1.0]    body: ONE image (PNG/JPEG), raw bytes
       or multipart form field "data"/"body"
         -> {"<class name>": prob, ...} top-k (default 5), most probable
            first; names from index_to_name.json, else the index as a string
  errors: {"code": N, "type": "...Exception", "message": "..."} as TorchServe.
"""
import argparse, io, json, os, re, select, signal, stat, sys, threading
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import torch

torch.set_num_threads(1)


class Stop(Exception):
    pass


class Model:
    """TorchScript classifier; one inference at a time (the server is threaded)."""

    def __init__(self, path):
        self.m = torch.jit.load(path, map_location="cpu").eval()
        self.lock = threading.Lock()

    def probabilities(self, x_nchw):
        with self.lock, torch.no_grad():
            return torch.softmax(self.m(torch.from_numpy(x_nchw)), dim=1).numpy()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real servers
    server_version = "standin"

    def log_message(self, fmt, *args):  # quiet unless --verbose
        if self.server.verbose:
            super().log_message(fmt, *args)

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, code, obj, indent):
        data = json.dumps(obj, indent=indent).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------- TF Serving

def _dims(shape):
    return {"dim": [{"size": str(s), "name": ""} for s in shape], "unknown_rank": False}


class TFServing(Handler):
    VERSION = "1"
    # /v1/models/NAME[/versions/V|/labels/L][/metadata | :verb]
    PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/([^/:]+)|/labels/([^/:]+))?(/metadata|:[a-z]+)?$")

    def send(self, code, obj):
        super().send(code, obj, 4)  # TF Serving pretty-prints its replies

    def error(self, code, msg):
        self.send(code, {"error": msg})

    def route(self, method, tails):
        """The URL's tail ("", "/metadata", ":predict", ...) if it names our
        model and one of `tails`; else sends TF Serving's error and returns None."""
        m = self.PATH.match(self.path.split("?")[0])
        if not m or (m.group(4) or "") not in tails:
            return self.error(404, f"Malformed request: {method} {self.path}")
        name, version, label, tail = m.groups()
        if name != self.server.name or label is not None or version not in (None, self.VERSION):
            spec = (f"Specific({name}, {version})" if version else
                    f"Label({name}, {label})" if label else f"Latest({name})")
            return self.error(404, f"Servable not found for request: {spec}")
        return tail or ""

    def do_GET(self):
        tail = self.route("GET", ("", "/metadata"))
        if tail is None:
            return
        if tail == "":
            return self.send(200, {"model_version_status": [{
                "version": self.VERSION, "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""}}]})
        n = self.server.name
        self.send(200, {
            "model_spec": {"name": n, "signature_name": "", "version": self.VERSION},
            "metadata": {"signature_def": {"signature_def": {
                "serving_default": {
                    "inputs": {"images": {"dtype": "DT_FLOAT", "tensor_shape": _dims([-1, 28, 28, 1]),
                                          "name": "serving_default_images:0"}},
                    "outputs": {"probabilities": {"dtype": "DT_FLOAT", "tensor_shape": _dims([-1, 10]),
                                                  "name": "StatefulPartitionedCall:0"}},
                    "method_name": "tensorflow/serving/predict"},
                "__saved_model_init_op": {
                    "inputs": {},
                    "outputs": {"__saved_model_init_op": {
                        "dtype": "DT_INVALID", "tensor_shape": {"dim": [], "unknown_rank": True},
                        "name": "NoOp"}},
                    "method_name": ""}}}}})

    def do_POST(self):
        raw = self.body()
        tail = self.route("POST", (":predict", ":classify", ":regress"))
        if tail is None:
            return
        if tail != ":predict":
            return self.error(400, f"Expected {tail[1:]} signature method_name to be "
                                   f"tensorflow/serving/{tail[1:]}. Was: tensorflow/serving/predict")
        try:
            req = json.loads(raw)
        except ValueError as e:
            return self.error(400, f"JSON Parse error: {e}")
        if not isinstance(req, dict):
            return self.error(400, "JSON Value: not an object. Is not an object")
        sig = req.get("signature_name", "serving_default")
        if sig != "serving_default":
            return self.error(400, f"Serving signature key \"{sig}\" not found.")
        if ("instances" in req) == ("inputs" in req):
            return self.error(400, "Missing 'inputs' or 'instances' key" if "instances" not in req
                              else "Not both 'inputs' and 'instances' can be specified")
        row = "instances" in req
        x = req["instances"] if row else req["inputs"]
        # Named forms: [{"images": t}, ...] (row) and {"images": t} (columnar).
        if row and isinstance(x, list) and x and all(isinstance(i, dict) for i in x):
            if any(set(i) != {"images"} for i in x):
                return self.error(400, "Failed to process element: 0 key: not a named input: expected 'images'")
            x = [i["images"] for i in x]
        elif not row and isinstance(x, dict):
            if set(x) != {"images"}:
                return self.error(400, f"input tensor alias not found in signature: {sorted(x)}")
            x = x["images"]
        try:
            a = np.asarray(x, dtype=np.float32)
        except (ValueError, TypeError):
            return self.error(400, "Failed to process element: expected a list of numbers of equal lengths "
                                   "(ragged or non-numeric tensor)")
        if a.ndim != 4 or a.shape[1:] != (28, 28, 1) or a.shape[0] == 0:
            return self.error(400, f"input must be 4-dimensional [-1,28,28,1], got {list(a.shape)}")
        p = self.server.model.probabilities(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))
        self.send(200, {"predictions": p.tolist()} if row else {"outputs": p.tolist()})


# ---------------------------------------------------------------- TorchServe

class TorchServe(Handler):
    VERSION = "1.0"

    def send(self, code, obj):
        super().send(code, obj, 2)  # TorchServe pretty-prints with indent 2

    def error(self, code, kind, msg):
        self.send(code, {"code": code, "type": kind, "message": msg})

    def not_found(self):
        self.error(404, "ResourceNotFoundException",
                   "Requested resource is not found, please refer to API document.")

    def do_GET(self):
        if self.path.split("?")[0] == "/ping":
            return self.send(200, {"status": "Healthy"})
        if self.path.startswith("/predictions/"):
            return self.error(405, "MethodNotAllowedException", "Requested method is not allowed, "
                              "please refer to API document.")
        self.not_found()

    def image_bytes(self, raw):
        """The request's one image: raw body, or form field "data"/"body" (as the handler)."""
        ctype = self.headers.get("Content-Type", "")
        if ctype.lower().startswith("multipart/form-data"):
            msg = BytesParser().parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
            fields = {p.get_param("name", header="content-disposition"): p.get_payload(decode=True)
                      for p in msg.get_payload() or []}
            return fields.get("data") or fields.get("body")
        return raw

    def do_POST(self):
        raw = self.body()
        m = re.match(r"^/predictions/([^/?]+)(?:/([^/?]+))?/?$", self.path.split("?")[0])
        if not m:
            return self.not_found()
        name, version = m.groups()
        if name != self.server.name:
            return self.error(404, "ModelNotFoundException", f"Model not found: {name}")
        if version not in (None, self.VERSION):
            return self.error(404, "ModelVersionNotFoundException",
                              f"Model version: {version} does not exist for model: {name}")
        from PIL import Image
        try:
            img = Image.open(io.BytesIO(self.image_bytes(raw) or b"")).convert("L")
            if img.size != (28, 28):
                img = img.resize((28, 28), Image.BILINEAR)
            x = (np.asarray(img, dtype=np.float32) / 255.0)[None, None]
        except Exception:  # TorchServe: the handler raised
            return self.error(503, "InternalServerException", "Prediction failed")
        p = self.server.model.probabilities(x)[0]
        k = min(self.server.topk, len(p))
        top = np.argsort(-p, kind="stable")[:k]
        names = self.server.index_to_name
        self.send(200, {(names[str(i)] if names else str(i)): float(p[i]) for i in top})

    do_PUT = do_POST  # TorchServe's own examples send images with `curl -T` (a PUT)


def load_index_to_name(path):
    """As TorchServe's load_label_mapping: values str, or lists whose last item is the name."""
    if not path:
        return None
    with open(path) as f:
        mapping = json.load(f)
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in mapping.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["tfserving", "torchserve"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--name", default="suspect")
    ap.add_argument("--topk", type=int, default=5, help="torchserve: classes in a reply")
    ap.add_argument("--index-to-name", help="torchserve: index_to_name.json")
    ap.add_argument("--port", type=int, default=0, help="default: a free port")
    ap.add_argument("--verbose", action="store_true", help="log requests on stderr")
    a = ap.parse_args()

    def on_signal(sig, _frame):
        raise Stop(signal.Signals(sig).name)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)

    srv = ThreadingHTTPServer(("127.0.0.1", a.port), TFServing if a.kind == "tfserving" else TorchServe)
    srv.daemon_threads = True
    srv.model, srv.name, srv.verbose = Model(a.model), a.name, a.verbose
    srv.topk, srv.index_to_name = a.topk, load_index_to_name(a.index_to_name)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    info = {"url": base, "kind": a.kind, "name": a.name, "standin": True}
    if a.kind == "tfserving":
        info.update(model_url=f"{base}/v1/models/{a.name}",
                    predict_url=f"{base}/v1/models/{a.name}:predict")
    else:
        info.update(predictions_url=f"{base}/predictions/{a.name}", ping_url=f"{base}/ping")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(json.dumps(info), flush=True)

    ppid = os.getppid()
    watch = [0] if stat.S_ISFIFO(os.fstat(0).st_mode) else []  # stdin EOF = test gone
    try:
        while True:
            ready, _, _ = select.select(watch, [], [], 0.5)
            if ready and not os.read(0, 65536):
                raise Stop("stdin closed")
            if os.getppid() != ppid:
                raise Stop("parent died")
    except Stop:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        srv.shutdown()
        srv.server_close()


if __name__ == "__main__":
    main()
