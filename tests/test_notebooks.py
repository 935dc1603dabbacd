"""The walk-through notebooks run from top to bottom on the shipped data."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob(
    "*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs_without_errors(path: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch):
    """Every cell of the notebook executes without raising."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    notebook = nbformat.read(path, as_version=4)

    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]


def test_the_walkthrough_notebook_is_shipped():
    """The Bank Marketing walk-through exists, so the test above has work to do."""
    assert "bank_marketing_walkthrough.ipynb" in [path.name for path in NOTEBOOKS]
