"""The notebooks run start to finish (small sizes), so they cannot rot."""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted(
    (pathlib.Path(__file__).parents[1] / "notebooks").glob("*.ipynb")
)

pytestmark = pytest.mark.slow


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


# On TensorFlow (Colab's default). What notebook 03 does on JAX (its
# augmentation layers and regularizing train steps, compiled in a fit) the
# JAX pass of the backend-agnostic tests does too; a second kernel for it
# cost 24 s of the suite.
RUNS = [(path, "tensorflow") for path in NOTEBOOKS]
# Mixed precision is a configuration we support: the notebook of train
# steps and augmentation runs under mixed_float16 too (a first cell sets
# the policy).
RUNS += [(path, "tensorflow:mixed_float16") for path in NOTEBOOKS
         if path.name.startswith("03_")]


@pytest.mark.parametrize(("path", "backend"), RUNS,
                         ids=lambda v: getattr(v, "name", v))
def test_notebook_runs(path, backend, tmp_path, monkeypatch):
    """Worth 10-40 s a notebook (a kernel starting TensorFlow, then small
    fits): the notebooks are what Colab users run first, and only this
    keeps them from rotting."""
    backend, _, policy = backend.partition(":")
    monkeypatch.setenv("REGKIT_SMOKE", "1")
    monkeypatch.setenv("KERAS_BACKEND", backend)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(path, as_version=4)
    if policy:
        notebook.cells.insert(0, nbformat.v4.new_code_cell(
            "import keras\n"
            f"keras.mixed_precision.set_global_policy({policy!r})"))
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    printed = "".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []))
    if "KERAS_BACKEND" in "".join(c.source for c in notebook.cells):
        assert f"backend: {backend}" in printed
    # The first code cell installs only in Colab; every cell ran.
    assert all(
        cell.get("execution_count") for cell in notebook.cells
        if cell.cell_type == "code"
    )
