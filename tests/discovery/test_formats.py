"""camviz.discovery.formats: a file is what its content says, whatever its extension; TorchScript (scripted,
traced) and ONNX files are refused with one line that names what to give instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from camviz.discovery.formats import sniff, unusable_format
from camviz.errors import CheckpointError
from tests.support.checkpoints import tiny_timm, write_onnx, write_scripted, write_traced


def test_the_content_decides_what_a_file_is(tmp_path: Path) -> None:
    weights = tiny_timm("test_resnet", num_classes=3).state_dict()
    torch.save(weights, tmp_path / "zip.bin")
    torch.save(weights, tmp_path / "legacy.onnx", _use_new_zipfile_serialization=False)
    save_file(weights, tmp_path / "weights.pth")
    (tmp_path / "notes.pt").write_text("not a model")
    found = {name: sniff(tmp_path / name) for name in ("zip.bin", "legacy.onnx", "weights.pth", "notes.pt")}
    assert found == {"zip.bin": "torch", "legacy.onnx": "torch", "weights.pth": "safetensors", "notes.pt": "unknown"}
    with pytest.raises(CheckpointError, match="cannot read"):
        sniff(tmp_path / "missing.pth")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_exported_models_are_what_their_content_says(tmp_path: Path) -> None:
    found = {path.name: sniff(path) for path in (write_scripted(tmp_path), write_traced(tmp_path), write_onnx(tmp_path))}
    assert found == {"scripted.pt": "torchscript", "traced.pth": "torchscript", "model.pth": "onnx"}


@pytest.mark.parametrize(("kind", "words"), [("torchscript", "is a TorchScript archive"), ("onnx", "is an ONNX model")])
def test_torchscript_and_onnx_are_one_line_naming_what_to_give(tmp_path: Path, kind: str, words: str) -> None:
    with pytest.raises(CheckpointError) as refused:
        unusable_format(tmp_path / "m.pth", kind)
    message = str(refused.value)
    assert words in message and "state dict it was exported from" in message and "\n" not in message
    for usable in ("torch", "safetensors", "unknown"):
        unusable_format(tmp_path / "m.pth", usable)  # not refused here
