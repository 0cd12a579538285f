"""Queries an Open Inference Protocol ("V2") server with NVIDIA's own client,
`tritonclient.http`, and prints what it got as one JSON line.

Why it exists: `honeyimage serve` speaks the V2 REST routes; a client nobody
here wrote must be able to use them. The integration test runs this against
`honeyimage serve` (UINT8 NHWC input "images", FP32 output "probabilities");
it was checked against MLServer (scripts/oip/stack.py) with
`--datatype FP32 --scale --layout NCHW`.

usage: triton_query.py --url 127.0.0.1:PORT --model NAME --images FILE.npy
         [--json-inputs] [--json-outputs] [--datatype UINT8|FP32] [--scale]
         [--layout NHWC|NCHW] [--input-name images] [--output NAME]
         [--model-version V] [--ca-cert ca.pem] [--bearer-env VAR]

--images: a uint8 array [n,h,w,c]. It is sent as input --input-name with
datatype --datatype (FP32: cast, /255 with --scale) in layout --layout
(NCHW: transposed to [n,c,h,w]). Inputs go as the binary tensor extension
(tritonclient's default, binary_data=True) unless --json-inputs; the output
is asked for in binary unless --json-outputs. The output is --output, else
the first output the model metadata lists, else "probabilities".
--url: host:port as tritonclient wants it; an https:// prefix (or --ca-cert)
switches to TLS, verified against --ca-cert. --bearer-env VAR: send
`Authorization: Bearer $VAR` (the token never goes through argv).

Prints {"outputs": [[...], ...], "output_name": ..., "output_datatype": ...,
"output_shape": [...], "model_metadata": {...}, "server_live": true,
"server_ready": true, "model_ready": true, "binary_inputs": bool,
"binary_outputs": bool}; exits non-zero with the client's error otherwise.
"""
import argparse, json, os, sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="host:port (or https://host:port)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--model-version", default="")
    ap.add_argument("--images", required=True, help=".npy, uint8 [n,h,w,c]")
    ap.add_argument("--json-inputs", action="store_true", help="inputs as JSON, not binary")
    ap.add_argument("--json-outputs", action="store_true", help="ask for JSON outputs, not binary")
    ap.add_argument("--datatype", default="UINT8", choices=["UINT8", "FP32"])
    ap.add_argument("--scale", action="store_true", help="FP32: divide by 255")
    ap.add_argument("--layout", default="NHWC", choices=["NHWC", "NCHW"])
    ap.add_argument("--input-name", default="images")
    ap.add_argument("--output", help="output name (default: first in the model metadata)")
    ap.add_argument("--ca-cert", help="CA certificate (PEM) for https")
    ap.add_argument("--bearer-env", help="environment variable holding a bearer token")
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    url, use_ssl = a.url, bool(a.ca_cert)
    for scheme in ("http://", "https://"):
        if url.startswith(scheme):
            url, use_ssl = url[len(scheme):], use_ssl or scheme == "https://"
    headers = {}
    if a.bearer_env:
        token = os.environ.get(a.bearer_env)
        if not token:
            sys.exit(f"triton_query.py: ${a.bearer_env} is empty")
        headers["Authorization"] = f"Bearer {token}"

    x = np.load(a.images)
    if x.dtype != np.uint8 or x.ndim != 4:
        sys.exit(f"triton_query.py: {a.images}: want uint8 [n,h,w,c], got {x.dtype} {list(x.shape)}")
    if a.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    if a.datatype == "FP32":
        x = x.astype(np.float32) / (255.0 if a.scale else 1.0)
    x = np.ascontiguousarray(x)

    client = httpclient.InferenceServerClient(
        url, ssl=use_ssl, ssl_options={"ca_certs": a.ca_cert} if a.ca_cert else None,
        connection_timeout=a.timeout, network_timeout=a.timeout)
    try:
        live = client.is_server_live(headers=headers)
        ready = client.is_server_ready(headers=headers)
        model_ready = client.is_model_ready(a.model, a.model_version, headers=headers)
        meta = client.get_model_metadata(a.model, a.model_version, headers=headers)
        out_name = a.output or next((o["name"] for o in meta.get("outputs") or []), "probabilities")

        inp = httpclient.InferInput(a.input_name, list(x.shape), a.datatype)
        inp.set_data_from_numpy(x, binary_data=not a.json_inputs)
        out = httpclient.InferRequestedOutput(out_name, binary_data=not a.json_outputs)
        res = client.infer(a.model, [inp], model_version=a.model_version, outputs=[out],
                           headers=headers)
        y = res.as_numpy(out_name)
        if y is None:
            sys.exit(f"triton_query.py: no output {out_name!r} in {res.get_response()}")
        info = res.get_output(out_name)
    except (InferenceServerException, OSError) as e:  # OSError: refused, TLS verification
        sys.exit(f"triton_query.py: {type(e).__name__}: {e}")
    finally:
        client.close()
    print(json.dumps({
        "outputs": y.tolist(), "output_name": out_name, "output_datatype": info["datatype"],
        "output_shape": info["shape"], "model_metadata": meta, "server_live": live,
        "server_ready": ready, "model_ready": model_ready,
        "binary_inputs": not a.json_inputs, "binary_outputs": not a.json_outputs}), flush=True)


if __name__ == "__main__":
    main()
