"""The example notebook (examples/owner_workflow.ipynb) runs top to bottom in
a real Jupyter kernel, as a user's notebook session would: import, protect
arrays, train a PyTorch model on the release, verify it (flagged) and a
clean one (not). On 3,000 images here; the notebook's own asserts check
the verdicts."""

import os

import nbformat
from nbclient import NotebookClient

from conftest import ROOT


def test_owner_workflow_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("HONEYIMAGE_EXAMPLE_SUBSET", "3000")
    nb = nbformat.read(ROOT / "examples" / "owner_workflow.ipynb", as_version=4)
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "infringer p = " in out and "honeyimage.Protected" in out
    shown = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "execute_result"]
    assert any("TRAINED ON THE PROTECTED DATASET" in o["data"]["text/plain"].upper() for o in shown)
