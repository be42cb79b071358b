"""camviz.discovery.formats: a file is what its content says (a FileKind value); TorchScript (scripted, traced) and ONNX files are
refused with one line that names what to give instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from camviz.cli.commands import app
from camviz.discovery.formats import FileKind, ModelFile, model_file, sniff
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


def test_what_a_file_is_is_a_value(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(1)}, tmp_path / "zip.pth")
    torch.save({"w": torch.zeros(1)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    (tmp_path / "odd.safetensors").write_bytes(b"not really")
    assert sniff(tmp_path / "zip.pth") is FileKind.TORCH_ZIP and sniff(tmp_path / "legacy.pth") is FileKind.TORCH_PICKLE
    assert sniff(write_onnx(tmp_path)) is FileKind.ONNX
    assert sniff(tmp_path / "odd.safetensors") is FileKind.UNKNOWN
    assert model_file(tmp_path / "odd.safetensors").kind is FileKind.SAFETENSORS  # safetensors says what is wrong
    assert model_file(tmp_path / "zip.pth") == ModelFile(path=tmp_path / "zip.pth", kind=FileKind.TORCH_ZIP)
