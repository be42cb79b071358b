"""camviz.discovery.formats: a file is what its content says (a FileKind value), whatever its extension;
TorchScript (scripted, traced) and ONNX files are refused with one line that names what to give instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from camviz.discovery.formats import FileKind, ModelFile, model_file, refuse_unusable, sniff
from camviz.errors import CheckpointError
from tests.support.checkpoints import tiny_timm, write_onnx, write_scripted, write_traced


def test_the_content_decides_what_a_file_is(tmp_path: Path) -> None:
    weights = tiny_timm("test_resnet", num_classes=3).state_dict()
    torch.save(weights, tmp_path / "zip.bin")
    torch.save(weights, tmp_path / "legacy.onnx", _use_new_zipfile_serialization=False)
    save_file(weights, tmp_path / "weights.pth")
    (tmp_path / "notes.pt").write_text("not a model")
    found = {name: sniff(tmp_path / name) for name in ("zip.bin", "legacy.onnx", "weights.pth", "notes.pt")}
    assert found == {"zip.bin": FileKind.TORCH_ZIP, "legacy.onnx": FileKind.TORCH_PICKLE,
                     "weights.pth": FileKind.SAFETENSORS, "notes.pt": FileKind.UNKNOWN}
    with pytest.raises(CheckpointError, match="cannot read"):
        sniff(tmp_path / "missing.pth")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_exported_models_are_what_their_content_says(tmp_path: Path) -> None:
    found = {path.name: sniff(path) for path in (write_scripted(tmp_path), write_traced(tmp_path), write_onnx(tmp_path))}
    assert found == {"scripted.pt": FileKind.TORCHSCRIPT, "traced.pth": FileKind.TORCHSCRIPT, "model.pth": FileKind.ONNX}


@pytest.mark.parametrize(("kind", "words"), [(FileKind.TORCHSCRIPT, "is a TorchScript archive"),
                                             (FileKind.ONNX, "is an ONNX model")])
def test_torchscript_and_onnx_are_one_line_naming_what_to_give(tmp_path: Path, kind: FileKind, words: str) -> None:
    with pytest.raises(CheckpointError) as refused:
        refuse_unusable(ModelFile(path=tmp_path / "m.pth", kind=kind))
    message = str(refused.value)
    assert words in message and "state dict it was exported from" in message and "\n" not in message
    for usable in (FileKind.TORCH_ZIP, FileKind.TORCH_PICKLE, FileKind.SAFETENSORS, FileKind.UNKNOWN):
        refuse_unusable(ModelFile(path=tmp_path / "m.pth", kind=usable))  # not refused here


def test_what_a_file_is_is_a_value(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(1)}, tmp_path / "zip.pth")
    torch.save({"w": torch.zeros(1)}, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    (tmp_path / "odd.safetensors").write_bytes(b"not really")
    assert sniff(tmp_path / "zip.pth") is FileKind.TORCH_ZIP and sniff(tmp_path / "legacy.pth") is FileKind.TORCH_PICKLE
    assert sniff(write_onnx(tmp_path)) is FileKind.ONNX
    assert sniff(tmp_path / "odd.safetensors") is FileKind.UNKNOWN
    assert model_file(tmp_path / "odd.safetensors").kind is FileKind.SAFETENSORS  # safetensors says what is wrong
    assert model_file(tmp_path / "zip.pth") == ModelFile(path=tmp_path / "zip.pth", kind=FileKind.TORCH_ZIP)
