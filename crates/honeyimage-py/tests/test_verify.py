"""verify in-process: the same verdict as `honeyimage verify` on the
TorchScript export, any array type back, and a clear error for every way a
predict function can misbehave."""

import json

import numpy as np
import pytest

import honeyimage
import honeyimage.torch
from honeyimage.errors import SuspectError

from conftest import run_cli


def test_infringer_flagged_clean_not(protected, infringer, clean):
    v = honeyimage.torch.verify(protected.key, infringer)
    assert v.verdict and v.p_value < 1e-3, repr(v)
    assert v.method.startswith("stratified Mann-Whitney U")
    c = honeyimage.torch.verify(protected.key, clean)
    assert not c.verdict, repr(c)
    assert "TRAINED ON THE PROTECTED DATASET" in repr(v).upper() and "p = " in repr(v)
    assert json.loads(v.to_json())["p_value"] == v.p_value


@pytest.mark.parametrize("calibrate", [False, True])
@pytest.mark.parametrize("which", ["infringer", "clean"])
def test_same_verdict_as_the_cli_on_torchscript(which, calibrate, protected, infringer, clean, tmp_path):
    import torch

    model = {"infringer": infringer, "clean": clean}[which]
    key = tmp_path / "k.key"
    protected.key.save(key)
    ts = tmp_path / "m.pt"
    torch.jit.trace(model, torch.zeros(1, 1, 28, 28)).save(str(ts))
    r = run_cli("verify", "--key", str(key), "--model", str(ts), "--json", *(["--calibrate"] if calibrate else []))
    assert r.returncode in (0, 1), r.stderr
    cli = json.loads(r.stdout)
    v = honeyimage.torch.verify(protected.key, model, calibrate=calibrate)
    assert ("calibrated" in v.method) == calibrate, v.method
    assert v.verdict == cli["verdict"]
    assert v.p_value == pytest.approx(cli["p_value"], rel=1e-9, abs=0)
    assert v.mann_whitney_p == pytest.approx(cli["mann_whitney_p"], rel=1e-9, abs=0)
    assert np.allclose(v.losses_released, cli["losses_released"], rtol=1e-5, atol=1e-6)
    assert v.method == cli["method"] and v.commitment == cli["commitment"]


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.fixture(scope="module")
def logits_of(infringer):
    predict = honeyimage.torch.predictor(infringer)
    return lambda batch: predict(batch.transpose(0, 3, 1, 2))


def test_any_array_type_and_output_kind(protected, logits_of):
    import torch

    ref = honeyimage.verify(protected.key, logits_of)
    for f in [
        lambda b: softmax(logits_of(b)),  # probabilities
        lambda b: torch.from_numpy(logits_of(b)),  # a torch tensor
        lambda b: torch.from_numpy(logits_of(b)).requires_grad_(),  # with grad
        lambda b: logits_of(b).astype(np.float32).tolist(),  # lists
    ]:
        v = honeyimage.verify(protected.key, f)
        assert v.verdict == ref.verdict and v.p_value == pytest.approx(ref.p_value, rel=1e-6)
    labels = honeyimage.verify(protected.key, lambda b: logits_of(b).argmax(1), label_only=True)
    assert labels.method.startswith("Fisher") and labels.p_value == pytest.approx(ref.label_only["fisher_p"])
    # NCHW batches reach the function as asked.
    shapes = []
    honeyimage.verify(protected.key, lambda b: (shapes.append(b.shape), logits_of(b.transpose(0, 2, 3, 1)))[1], layout="nchw", batch=50)
    assert shapes[0] == (50, 1, 28, 28) and sum(s[0] for s in shapes) == 60


def boom(batch):
    raise RuntimeError("CUDA out of memory (pretend)")


@pytest.mark.parametrize(
    "predict, options, message",
    [
        (lambda b: np.zeros((len(b), 10, 1)), {}, "shape [60, 10, 1]"),
        (lambda b: np.zeros(len(b)), {}, "shape [60]"),
        (lambda b: np.zeros((len(b) - 1, 10)), {}, "59"),
        (lambda b: np.full((len(b), 10), np.nan), {}, "non-finite"),
        (lambda b: np.zeros((len(b), 10)), {"output": "probabilities"}, "sum"),
        (lambda b: "cat", {}, "not an array"),
        (boom, {}, "CUDA out of memory (pretend)"),
        (lambda b: np.zeros((len(b), 10)), {"label_only": True, "tta": 2}, None),
    ],
)
def test_misbehaving_suspects_raise_clear_errors(protected, predict, options, message):
    with pytest.raises(honeyimage.HoneyImageError) as e:
        honeyimage.verify(protected.key, predict, batch=60, name="suspect-x", **options)
    text = str(e.value)
    assert "\n" not in text and "panicked" not in text
    if message is not None:
        assert isinstance(e.value, SuspectError) and "suspect-x" in text and message in text, text
    if predict is boom:
        assert isinstance(e.value.__cause__, RuntimeError)


def test_wrong_arguments(protected):
    with pytest.raises(TypeError, match="honeyimage.Key"):
        honeyimage.verify("k.key", lambda b: b)
    with pytest.raises(ValueError, match="layout"):
        honeyimage.verify(protected.key, lambda b: b, layout="hwcn")
    with pytest.raises(honeyimage.errors.InvalidArgument, match="alpha"):
        honeyimage.verify(protected.key, lambda b: np.zeros((len(b), 10)), alpha=2)


def test_verify_needs_no_torch(protected, logits_of, tmp_path):
    """The core links no libtorch: with torch made unimportable, a key opens
    and a numpy suspect is verified, with the same verdict."""
    import subprocess
    import sys

    key = tmp_path / "k.key"
    protected.key.save(key)
    np.save(tmp_path / "w.npy", np.eye(28 * 28, 10))  # a fixed linear "model"
    script = f"""
import sys
sys.modules["torch"] = None  # any `import torch` now fails
import numpy as np, honeyimage
w = np.load({str(tmp_path / "w.npy")!r})
v = honeyimage.verify(honeyimage.Key.open({str(key)!r}), lambda b: b.reshape(len(b), -1) @ w)
assert "torch" not in {{m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}}
print(v.p_value)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    w = np.load(tmp_path / "w.npy")
    same = honeyimage.verify(protected.key, lambda b: b.reshape(len(b), -1) @ w)
    assert float(r.stdout) == pytest.approx(same.p_value, rel=1e-12)
