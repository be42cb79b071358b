"""camviz/demo/notebook.ipynb, executed by a real Jupyter kernel (nbclient, offline): its output is the figure."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "camviz" / "demo" / "notebook.ipynb"


@pytest.mark.process  # a real Jupyter kernel process
@pytest.mark.slow
def test_the_example_notebook_runs_and_shows_the_figure_as_png(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    printed = "".join(output.text for output in outputs if output.output_type == "stream" and output.name == "stdout")
    assert printed.startswith("triangle ") and "explained: triangle (96, 96) float32" in printed
    pngs = [output.data["image/png"] for output in outputs if "image/png" in output.get("data", {})]
    assert len(pngs) == 1
    figure = cv2.imdecode(np.frombuffer(base64.b64decode(pngs[0]), np.uint8), cv2.IMREAD_COLOR)
    assert figure.shape == (336, 944, 3)
