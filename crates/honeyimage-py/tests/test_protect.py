"""protect on arrays: the same release as the command line on the same data
written as IDX, resumable after Ctrl-C, and clear errors on bad input."""

import numpy as np
import pytest

import honeyimage
from honeyimage.errors import DataError, InvalidArgument

from conftest import CLI_FLAGS, SETTINGS, read_idx, run_cli, write_idx


def test_release_is_byte_identical_to_the_cli_on_idx(subset, protected, tmp_path):
    x, y = subset
    data = tmp_path / "data"
    write_idx(data, "train", x, y)
    out, key = tmp_path / "release", tmp_path / "k.key"
    r = run_cli("protect", "--data", str(data), "--out", str(out), "--key", str(key), *CLI_FLAGS)
    assert r.returncode == 0, r.stderr
    released = read_idx(out / "train-images-idx3-ubyte")
    labels = read_idx(out / "train-labels-idx1-ubyte")
    assert protected.images.shape == (3000 - 30, 28, 28, 1)
    assert np.array_equal(protected.images[..., 0], released), "released pixels differ from the CLI's"
    assert np.array_equal(protected.labels, labels)
    cli_key = honeyimage.Key.open(key)
    assert cli_key.parameters == protected.key.parameters
    assert cli_key.released_ids == protected.key.released_ids
    assert np.array_equal(cli_key.released_images, protected.key.released_images)
    assert np.array_equal(cli_key.withheld_originals, protected.key.withheld_originals)
    # Arrays are recorded as such; the marks are real and within budget.
    assert protected.key.dataset["format"] == "arrays"
    diff = protected.key.released_images.astype(int) - protected.key.released_originals.astype(int)
    assert 0 < np.abs(diff).max() <= 4


def test_release_holds_r_not_w(subset, protected):
    x, _ = subset
    k = protected.key
    ids = lambda names: [int(s.split(":")[1]) for s in names]
    kept = np.setdiff1d(np.arange(len(x)), ids(k.withheld_ids))
    assert len(kept) == len(protected.images)
    pos = {int(i): j for j, i in enumerate(kept)}
    for i, honey in zip(ids(k.released_ids), k.released_images):
        assert np.array_equal(protected.images[pos[i]], honey)
    assert k.count == 30 and len(k.withheld_ids) == 30


def test_key_save_open_and_encryption(protected, tmp_path):
    k = protected.key
    k.save(tmp_path / "plain.key")
    assert honeyimage.Key.open(tmp_path / "plain.key").commitment == k.commitment
    k.save(tmp_path / "secret.key", passphrase="correct horse")
    with pytest.raises(honeyimage.errors.KeyFileError, match="encrypted: pass passphrase="):
        honeyimage.Key.open(tmp_path / "secret.key")
    with pytest.raises(honeyimage.errors.KeyFileError) as e:
        honeyimage.Key.open(tmp_path / "secret.key", passphrase="wrong horse")
    assert "wrong horse" not in str(e.value)
    assert honeyimage.Key.open(tmp_path / "secret.key", passphrase="correct horse").commitment == k.commitment
    with pytest.raises(honeyimage.errors.HoneyImageError, match="already exists"):
        k.save(tmp_path / "plain.key")
    (tmp_path / "bad.key").write_bytes(b"garbage")
    with pytest.raises(honeyimage.errors.KeyFileError, match="bad.key"):
        honeyimage.Key.open(tmp_path / "bad.key")
    assert k.statement().count(k.commitment) == 1
    assert "N=30" in repr(k)


@pytest.mark.parametrize(
    "images, labels, settings, error, message",
    [
        (np.zeros((200, 28, 28), np.float32), np.zeros(200, int), {}, DataError, "dtype float32"),
        (np.zeros((200, 28), np.uint8), np.zeros(200, int), {}, DataError, "shape (200, 28)"),
        (np.zeros((200, 28, 28), np.uint8), np.zeros(199, int), {}, DataError, "one per image"),
        (np.zeros((200, 28, 28), np.uint8), np.full(200, -1), {}, DataError, "label -1"),
        (np.zeros((200, 28, 28), np.uint8), np.arange(200) % 10, {"count": 100}, InvalidArgument, "needs at least 400 samples"),
        (np.zeros((200, 28, 28), np.uint8), np.arange(200) % 10, {"cuont": 5}, InvalidArgument, "unknown field `cuont`"),
        (np.zeros((200, 28, 28), np.uint8), np.arange(200) % 10, {"epsilon": -1}, InvalidArgument, "epsilon"),
    ],
)
def test_bad_input_is_refused_clearly(images, labels, settings, error, message, tmp_path):
    with pytest.raises(error) as e:
        honeyimage.protect(images, labels, work=tmp_path / "w", progress=False, **settings)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_engine_refuses_another_torch(monkeypatch):
    import torch

    from honeyimage import _protect

    monkeypatch.setattr(torch, "__version__", "2.99.0")
    with pytest.raises(honeyimage.errors.EngineMissing, match="built against torch 2.13.0, but this Python has torch 2.99.0"):
        _protect._engine()


def test_protect_path_writes_like_the_cli(subset, tmp_path):
    x, y = subset
    data = tmp_path / "data"
    write_idx(data, "train", x[:1200], y[:1200])
    summary = honeyimage.protect_path(data, tmp_path / "rel", tmp_path / "k.key", count=10, steps=2, proxy_epochs=1, progress=False)
    assert summary["count"] == 10 if "count" in summary else True
    key = honeyimage.Key.open(tmp_path / "k.key")
    assert key.dataset["format"] == "idx" and key.count == 10
    assert (tmp_path / "rel.commitment.txt").read_text() == key.statement()
    assert len(read_idx(tmp_path / "rel" / "train-labels-idx1-ubyte")) == 1200 - 10
    assert honeyimage.inspect(tmp_path / "rel")["splits"][0]["count"] == 1190
    with pytest.raises(InvalidArgument, match="k.key already exists"):
        honeyimage.protect_path(data, tmp_path / "rel2", tmp_path / "k.key", count=10, progress=False)


def test_precision_reaches_the_key_and_bad_values_are_refused(subset, tmp_path):
    x, y = subset
    small = dict(count=10, steps=2, proxy_epochs=1, progress=False)
    bf16 = honeyimage.protect(x[:1200], y[:1200], work=tmp_path / "b", precision="bf16", **small)
    assert bf16.key.parameters["proxy_train"]["precision"] == "bf16"
    fp32 = honeyimage.protect(x[:1200], y[:1200], work=tmp_path / "f", precision="fp32", **small)
    assert "precision" not in fp32.key.parameters["proxy_train"], "fp32 is left out of the key"
    assert bf16.summary["linf_max"] <= 4 and fp32.summary["linf_max"] <= 4
    from honeyimage_protect import _engine

    # The default is auto: what the machine has, as `honeyimage protect`;
    # a precision given in the settings is kept.
    auto = honeyimage.protect(x[:1200], y[:1200], work=tmp_path / "a", **small)
    assert auto.key.parameters["proxy_train"].get("precision", "fp32") == _engine.best_precision()
    assert auto.key.parameters == (bf16 if _engine.best_precision() == "bf16" else fp32).key.parameters
    kept = honeyimage.protect(x[:1200], y[:1200], work=tmp_path / "k", proxy_train={"precision": "fp32"}, **small)
    assert "precision" not in kept.key.parameters["proxy_train"]
    with pytest.raises(InvalidArgument, match="precision 'fp16'"):
        honeyimage.protect(x[:1200], y[:1200], work=tmp_path / "x", precision="fp16", **small)
