"""MLServer custom runtime serving a TorchScript image classifier.

Why it exists: the integration tests of `honeyimage verify --protocol v2` need
a real server speaking the Open Inference Protocol (KServe "V2") that nobody
here wrote. MLServer (Seldon) is that server; it has no built-in TorchScript
runtime, so this is the documented way to plug one in: a subclass of
`mlserver.MLModel` with `load()` and `predict()`, named in model-settings.json
as "implementation": "mlserver_runtime.TorchScriptRuntime" (scripts/oip/stack.py
puts this folder on PYTHONPATH and writes those settings).

Model settings used:
  parameters.uri  path of the TorchScript file (input [n,1,28,28] float in
                  [0,1], output [n,10] logits; scripts/train_torch_suspect.py)
  inputs          one tensor "images", FP32, shape [-1,1,28,28] (NCHW, already
                  scaled to [0,1] by the client)
  outputs         one tensor "logits", FP32, shape [-1,10]
"""
import numpy as np
import torch

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

torch.set_num_threads(1)  # the test machines have 2 cores shared with cargo

INPUT, OUTPUT = "images", "logits"


class TorchScriptRuntime(MLModel):
    async def load(self) -> bool:
        # get_model_uri resolves parameters.uri relative to model-settings.json.
        path = await get_model_uri(self._settings)
        self._model = torch.jit.load(path, map_location="cpu").eval()
        return True  # MLServer marks the model ready from this

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inputs = [i for i in payload.inputs if i.name == INPUT]
        if len(inputs) != 1:
            names = [i.name for i in payload.inputs]
            raise InferenceError(f"expected one input named {INPUT!r}, got {names}")
        inp = inputs[0]
        if inp.datatype != "FP32":
            raise InferenceError(f"input {INPUT!r} must be FP32, got {inp.datatype}")
        # NumpyCodec turns the V2 tensor (flat or nested "data" + "shape") into
        # an ndarray of that shape and dtype.
        try:
            x = self.decode(inp, default_codec=NumpyCodec)
        except ValueError as e:  # data does not fit the shape
            raise InferenceError(f"input {INPUT!r}: {e}") from None
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise InferenceError(f"input {INPUT!r} must have shape [n,1,28,28], got {list(x.shape)}")
        requested = [o.name for o in payload.outputs or []]
        if any(n != OUTPUT for n in requested):
            raise InferenceError(f"unknown output(s) {requested}; this model has {OUTPUT!r}")
        with torch.no_grad():
            logits = self._model(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
        return InferenceResponse(
            id=payload.id,
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(OUTPUT, logits.astype(np.float32))],
        )
