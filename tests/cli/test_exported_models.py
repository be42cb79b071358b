"""`camviz explain` and `camviz layers` on TorchScript (scripted, traced) and ONNX files: one line that says what
to give instead."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from camviz.cli.commands import app
from camviz.errors import CheckpointError
from tests.support.checkpoints import write_onnx, write_scripted, write_traced


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("build", "what"),
                         [(write_scripted, "TorchScript"), (write_traced, "TorchScript"), (write_onnx, "ONNX")],
                         ids=["scripted", "traced", "onnx"])
def test_exported_models_get_one_line_that_says_what_to_give_instead(build, what: str, tmp_path: Path,
                                                                     sources_data: Path) -> None:
    path = build(tmp_path)
    for command in (["explain", "--image-path", sources_data / "circle/circle_000.png", "--output-dir", tmp_path / "o"],
                    ["explain", "--data-dir", sources_data, "--output-dir", tmp_path / "b"], ["layers"]):
        result = CliRunner().invoke(app, [str(a) for a in (command[0], "--model-path", path, *command[1:])])
        assert isinstance(result.exception, CheckpointError) and result.exception.exit_code == 1
        message = str(result.exception)
        assert "\n" not in message and what in message and "state dict it was exported from" in message


@pytest.mark.filterwarnings("ignore")
def test_an_onnx_file_is_one_line_on_stderr_from_the_command(tmp_path: Path, camviz_main) -> None:
    result = camviz_main("layers", "--model-path", write_onnx(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("camviz: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "is an ONNX model: Grad-CAM needs PyTorch hooks and autograd" in result.stderr
