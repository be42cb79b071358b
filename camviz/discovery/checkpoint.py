"""Reading checkpoints safely: `.pth`, `.pth.tar`, `.pt`, Lightning `.ckpt`, `.safetensors`, timm/Hugging Face hub
folders (`config.json` beside `model.safetensors` or `pytorch_model.bin`) and transformers folders (`camviz.discovery.hf`).

Finds the weights (plain or EMA); `camviz.discovery.metadata` reads what training scripts record beside them.
Formats are told apart by content; TorchScript and ONNX files get one line saying why not.
Unpickling runs code, so files load with `weights_only=True` and a short allow-list of harmless
types that real training scripts store; a whole pickled `nn.Module` needs `trust=True`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from timm.models import clean_state_dict

from camviz.discovery.formats import FileKind, model_file, refuse_unusable
from camviz.discovery.metadata import read_metadata
from camviz.discovery.options import Task
from camviz.errors import CheckpointError, first_line

WEIGHT_KEYS = ("state_dict", "model_state_dict", "model")
EMA_KEYS = ("state_dict_ema", "model_ema")
_WRAPPERS = {"DataParallel", "DistributedDataParallel", "OptimizedModule", "ModelEma", "ModelEmaV2", "ModelEmaV3"}

_NUMPY_CORE: Any = np._core if hasattr(np, "_core") else np.core  # numpy 2.x, 1.x
_SCALAR = _NUMPY_CORE.multiarray.scalar

SAFE_GLOBALS: list[Any] = [
    argparse.Namespace,  # timm's train.py and torchvision's references store `args`
    pathlib.PosixPath,
    pathlib.WindowsPath,
    np.dtype,
    (_SCALAR, "numpy.core.multiarray.scalar"),  # numpy 1.x spelling
    (_SCALAR, "numpy._core.multiarray.scalar"),  # numpy 2.x spelling
    *(cls for cls in vars(np.dtypes).values() if isinstance(cls, type)),
]


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """What was read from a checkpoint file."""

    path: Path
    state_dict: dict[str, torch.Tensor] | None  # cleaned of module./_orig_mod.
    module: torch.nn.Module | None  # a whole pickled module (only when trusted)
    model_name: str | None = None
    num_classes: int | None = None
    class_names: list[str] | None = None  # class_to_idx becomes a list ordered by index
    img_size: tuple[int, int] | None = None  # (height, width)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    in_chans: int | None = None  # recorded input channels (the weights have the last word)
    multi_label: bool | None = None  # recorded `multi_label` flag: a sigmoid per label
    model_args: dict[str, Any] | None = None  # timm's recorded reconstruction arguments (config.json)
    plugins: tuple[str, ...] = ()  # recorded modules that register the architecture (imported when it is unknown)
    task: Task | None = None  # a recorded top-level `task` (classification / segmentation / detection)
    ema_by_prefix: bool = False  # --ema with no EMA entry: the EMA copy is a prefix inside the weights (Lightning)


def read_checkpoint(path: str | Path, *, trust: bool = False, use_ema: bool = False) -> Checkpoint:
    """Read weights and metadata from `path`; `use_ema` picks EMA weights, `trust` allows pickled modules."""
    found = model_file(Path(path))
    if found.kind is FileKind.TRANSFORMERS and found.config is not None:  # its configs say what a checkpoint dict would
        from camviz.discovery.hf import load_transformers, transformers_metadata

        metadata = read_metadata(transformers_metadata(found.config), found.config)
        return Checkpoint(path=found.path, state_dict=None, module=load_transformers(found.path), **metadata)
    refuse_unusable(found)
    path = found.path
    raw = _load_safetensors(path) if found.kind is FileKind.SAFETENSORS else _load_torch(path, trust)
    if isinstance(raw, torch.nn.Module):
        return Checkpoint(path=path, state_dict=None, module=_unwrap(raw))
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"{path} holds a {type(raw).__name__}, not a state dict or a checkpoint dict")
    weights = _pick_weights(raw, path, use_ema)
    meta = {} if weights is raw else raw
    module, state_dict = None, None
    if isinstance(weights, torch.nn.Module):
        module = _unwrap(weights)
    else:
        state_dict = clean_state_dict({k: v for k, v in weights.items() if torch.is_tensor(v)})
    ema_by_prefix = use_ema and not any(isinstance(raw.get(key), (Mapping, torch.nn.Module)) for key in EMA_KEYS)
    if ema_by_prefix and module is not None:
        raise CheckpointError(f"{path} has no EMA weights ({' / '.join(EMA_KEYS)}); drop --ema")
    return Checkpoint(path=path, state_dict=state_dict, module=module, **read_metadata(meta, path, found.config),
                      ema_by_prefix=ema_by_prefix)


def _load_torch(path: Path, trust: bool) -> Any:
    """`torch.load` on CPU; weights only unless trusted."""
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if trust:
            raise CheckpointError(f"cannot unpickle {path}: {first_line(error)}") from error
        found = ", ".join(_unsafe_globals(path))
        if not found:
            raise CheckpointError(f"cannot read {path}: {first_line(error)} (not a PyTorch checkpoint?)") from error
        raise CheckpointError(
            f"{path} holds pickled Python objects ({found}) and unpickling runs code; "
            "if you trust the file, pass --trust-checkpoint"
        ) from error
    except Exception as error:
        raise CheckpointError(f"cannot read {path}: {first_line(error)}") from error


def _load_safetensors(path: Path) -> dict[str, Any]:
    """Tensors plus the header's string metadata (JSON values decoded), metadata under `meta`."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)
            meta = {key: _maybe_json(value) for key, value in (handle.metadata() or {}).items()}
    except Exception as error:
        raise CheckpointError(f"cannot read {path}: {first_line(error)}") from error
    return {"state_dict": tensors, **{k: v for k, v in meta.items() if k not in WEIGHT_KEYS + EMA_KEYS}}


def _pick_weights(raw: Mapping, path: Path, use_ema: bool) -> Mapping | torch.nn.Module:
    """The weights inside a checkpoint dict: EMA if asked and saved apart, else the first plain weights key, else `raw`."""
    usable = {key: raw[key] for key in WEIGHT_KEYS + EMA_KEYS if isinstance(raw.get(key), (Mapping, torch.nn.Module))}
    ema = next((usable[key] for key in EMA_KEYS if key in usable), None)
    if use_ema and ema is not None:
        return ema  # else the EMA copy may be a prefix inside the plain weights (`model_ema.`): `fit_prefix` looks
    plain = next((usable[key] for key in WEIGHT_KEYS if key in usable), None)
    if plain is not None:
        return plain
    if raw and all(torch.is_tensor(value) for value in raw.values()):
        return raw  # a bare state dict
    if usable:
        return next(iter(usable.values()))  # only EMA weights were saved
    raise CheckpointError(f"no weights in {path}: expected a state dict or one of the keys {', '.join(WEIGHT_KEYS + EMA_KEYS)}")


def _unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The model inside DataParallel/DDP, timm's ModelEma* and torch.compile wrappers."""
    while True:
        inner = getattr(module, "_orig_mod", None) or getattr(module, "module", None)
        if not isinstance(inner, torch.nn.Module) or type(module).__name__ not in _WRAPPERS:
            return module
        module = inner


# modules whose globals let a pickle run commands, import or open anything: named first when a file is refused
DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys", "shutil", "importlib", "runpy", "pty",
    "socket", "pickle", "marshal", "ctypes", "code", "codeop", "webbrowser", "multiprocessing", "commands",
})


def _unsafe_globals(path: Path) -> list[str]:
    """Every global the file's pickle would load that is not allow-listed: the dangerous ones first, each sorted."""
    try:
        found = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception:
        return []
    return sorted(found, key=lambda name: (name.split(".")[0] not in DANGEROUS_MODULES, name))


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
