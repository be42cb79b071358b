"""What `--model-path` is (`ModelFile`): a transformers folder, or a weights file (given, or found in a timm/HF hub
folder or an smp `save_pretrained` folder) of a kind told by its content, not its extension (`FileKind`); and the files Grad-CAM cannot use.

Grad-CAM needs forward hooks and autograd on an `nn.Module`: a TorchScript archive has no Python hooks and an
ONNX graph has neither, so both are refused with one line that names what to give instead.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from camviz.discovery._json import read_json_object
from camviz.discovery.smp import is_smp_config
from camviz.errors import CheckpointError


class FileKind(StrEnum):
    """What a model file is."""

    TORCH_ZIP = "torch zip"  # torch.save's zip archive
    TORCH_PICKLE = "torch pickle"  # torch's legacy (non-zip) pickle
    TORCHSCRIPT = "torchscript"
    SAFETENSORS = "safetensors"
    ONNX = "onnx"
    TRANSFORMERS = "transformers"  # a transformers `save_pretrained` folder (or a weights file in one)
    UNKNOWN = "unknown"


@dataclass(frozen=True, kw_only=True)
class ModelFile:
    """What `--model-path` points at: the file to read (a transformers model: its folder), its kind, and the
    `config.json` that describes it (timm's beside the weights, or the transformers one), if any."""

    path: Path
    kind: FileKind
    config: Path | None = None

_ONNX_FIELDS = {0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42}  # ModelProto fields 2..8, after ir_version (field 1)

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")

_TRANSFORMERS_WEIGHTS = ("model.safetensors", "model-", "pytorch_model")  # the names save_pretrained writes


def model_file(path: Path) -> ModelFile:
    """What `path` is: a transformers folder (or a weights file in one), else the weights of a file or of a timm/HF
    hub folder, by content (a `.safetensors` file of unknown content is read as one, to say what is wrong)."""
    transformers = transformers_config(path)
    if transformers is not None:
        return ModelFile(path=transformers.parent, kind=FileKind.TRANSFORMERS, config=transformers)
    weights, config = _weights_file(path)
    kind = sniff(weights)
    if kind is FileKind.UNKNOWN and weights.suffix == ".safetensors":
        kind = FileKind.SAFETENSORS
    return ModelFile(path=weights, kind=kind, config=config)


def _weights_file(path: Path) -> tuple[Path, Path | None]:
    """The file holding the weights and the timm `config.json` beside it, for a file or a timm/HF folder."""
    if path.is_dir():
        config = path / "config.json"
        if not config.is_file():
            raise CheckpointError(f"{path} is a folder without config.json; give the checkpoint file itself")
        from timm.models._hub import _EXT_PRIORITY, _PREFERRED_FILES

        found = [path / name for name in _PREFERRED_FILES if (path / name).is_file()]
        found += [file for ext in _EXT_PRIORITY for file in sorted(path.glob(f"*{ext}"))]
        if not found:
            raise CheckpointError(f"{path} has config.json but no weights (model.safetensors or pytorch_model.bin)")
        return found[0], config
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path, config_json_beside(path)


def sniff(path: Path) -> FileKind:
    """The kind of a file by its first bytes (and a zip's listing); never TRANSFORMERS."""
    try:
        with path.open("rb") as file:
            head = file.read(16)
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from error
    if head.startswith(b"PK"):
        return _zip_kind(path)
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return FileKind.SAFETENSORS
    if len(head) >= 3 and head[0] == 0x08 and head[1] < 0x80 and head[2] in _ONNX_FIELDS:
        return FileKind.ONNX
    if head[:1] == b"\x80":  # a pickle protocol opcode: torch's legacy (non-zip) format
        return FileKind.TORCH_PICKLE
    return FileKind.UNKNOWN


def _zip_kind(path: Path) -> FileKind:
    """A torch zip archive: TorchScript ones carry `code/` and `constants.pkl`; torch.save ones do not."""
    try:
        names = zipfile.ZipFile(path).namelist()
    except (zipfile.BadZipFile, OSError):
        return FileKind.UNKNOWN
    if any("/code/" in name or name.endswith("/constants.pkl") for name in names):
        return FileKind.TORCHSCRIPT
    return FileKind.TORCH_ZIP


def refuse_unusable(found: ModelFile) -> None:
    """Raise one clear line for TorchScript and ONNX files (Grad-CAM needs a PyTorch module)."""
    path, kind = found.path, found.kind
    if kind is FileKind.TORCHSCRIPT:
        raise CheckpointError(
            f"{path} is a TorchScript archive (torch.jit.script/trace): Grad-CAM needs forward hooks on an "
            "nn.Module, which TorchScript modules do not support; give the .pth/.safetensors state dict it was "
            "exported from (with --model-name if it does not record the architecture)"
        )
    if kind is FileKind.ONNX:
        raise CheckpointError(
            f"{path} is an ONNX model: Grad-CAM needs PyTorch hooks and autograd, which an ONNX graph does not "
            "have; give the .pth/.safetensors state dict it was exported from"
        )


def config_json_beside(path: Path) -> Path | None:
    """A timm/Hugging Face `config.json` next to a weights file (one that names an architecture: timm's
    `architecture`, smp's `_model_class`), else None."""
    config = path.parent / "config.json"
    if path.suffix not in _WEIGHT_SUFFIXES:
        return None
    content = _json_object(config)
    return config if "architecture" in content or is_smp_config(content) else None


def transformers_config(path: Path) -> Path | None:
    """The `config.json` of a Hugging Face transformers model, for its folder or a weights file in it, else None.

    transformers writes `architectures` (a list) and `model_type`; timm's hub folders write `architecture`.
    """
    if not path.is_dir() and not path.name.startswith(_TRANSFORMERS_WEIGHTS):
        return None
    config = (path if path.is_dir() else path.parent) / "config.json"
    content = _json_object(config)
    is_transformers = "architectures" in content or "model_type" in content
    return config if is_transformers and "architecture" not in content else None


_CONFIGS = ("config.json", "preprocessor_config.json")


def model_files(path: Path) -> list[Path]:
    """The files a model is read from: the checkpoint file, or a folder's weights (shards and their index
    included) and configs; a weights file's `config.json`/`preprocessor_config.json` beside it too."""
    if path.is_dir():
        folder, own = path, []
    else:
        folder, own = path.parent, [path]
        if config_json_beside(path) is None and transformers_config(path) is None:
            return own
    beside = [file for file in sorted(folder.iterdir()) if file.is_file() and file not in own and (
        file.name in _CONFIGS or (path.is_dir() and (file.suffix in _WEIGHT_SUFFIXES or file.name.endswith(".index.json"))))]
    return own + beside


def _json_object(path: Path) -> dict:
    """The JSON object in `path`; empty when it is missing, unreadable or not an object."""
    try:
        return read_json_object(path)
    except CheckpointError:
        return {}
