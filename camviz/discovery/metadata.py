"""What training scripts record beside the weights, checked: model name, classes, input size, normalisation.

Read from the checkpoint's top level, `args` (timm, torchvision), `hyper_parameters` (Lightning), then a
`config.json` next to the weights (timm's hub format). A value of the wrong type is a one-line error.
`plugins` names the modules that register the architecture (dotted module names, never files). A top-level `task`
(`classification`, `segmentation`, `detection`) says what the model does, over what its output shows.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from camviz.discovery._json import read_json_object
from camviz.discovery.options import Task
from camviz.discovery.smp import is_smp_config, smp_metadata
from camviz.discovery.spec import height_width, per_channel, usable_normalisation
from camviz.errors import CheckpointError, first_line

NAME_KEYS = ("model_name", "arch", "architecture", "model", "backbone")
CLASS_KEYS = ("class_names", "classes", "class_to_idx", "label_names")
MULTI_LABEL_KEYS = ("multi_label", "multilabel")
SIZE_KEYS = ("img_size", "input_size")
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def read_metadata(raw: Mapping, path: Path, config: Path | None = None) -> dict[str, Any]:
    """Model name, classes, input size and normalisation: top level, `args`, Lightning's `hyper_parameters`,
    then the `config.json` beside the weights (timm's, or smp's `save_pretrained`)."""
    sources = [raw, *(_as_mapping(raw.get(key)) for key in ("args", "hyper_parameters", "hparams"))]
    if config is not None:
        sources.append(smp_metadata(config) if is_smp_config(_json_content(config)) else _timm_config(config))

    def first(keys: tuple[str, ...], kinds: tuple[type, ...] = (object,)) -> Any:
        return next((src[k] for src in sources for k in keys if src.get(k) is not None and isinstance(src[k], kinds)), None)

    num_classes = first(("num_classes",), (int, torch.Tensor))
    size = first(SIZE_KEYS, (int, list, tuple))
    channels = first(("in_chans", "in_channels"), (int,))
    if channels is None and isinstance(size, (list, tuple)) and len(size) == 3:
        channels = size[0]
    flag = first(MULTI_LABEL_KEYS, (bool,))
    return {
        "model_name": first(NAME_KEYS, (str,)),
        "num_classes": int(num_classes) if num_classes is not None else None,
        "class_names": _class_list(first(CLASS_KEYS), path),
        "img_size": _height_width(size, path),
        "mean": _triple(first(("mean",)), "mean", path),
        "std": _triple(first(("std",)), "std", path),
        "in_chans": int(channels) if channels is not None else None,
        "multi_label": flag,
        "model_args": first(("model_args",), (Mapping,)),
        "plugins": _plugins(raw.get("plugins"), path),
        "task": _task(raw.get("task")),
    }


def _task(value: Any) -> Task | None:
    """A recorded top-level `task` that names camviz's tasks; any other value is someone else's meaning (a
    torchmetrics `task="multiclass"`) and is left alone."""
    return Task(value) if isinstance(value, str) and value in {task.value for task in Task} else None


def _json_content(config: Path) -> dict[str, Any]:
    """A `config.json`'s object; empty when it cannot be read (timm's reader then says why)."""
    try:
        return read_json_object(config)
    except CheckpointError:
        return {}


def _as_mapping(value: Any) -> Mapping:
    """`args` (a Namespace or dict) or Lightning's `hyper_parameters` as a mapping; anything else is empty."""
    if isinstance(value, argparse.Namespace):
        return vars(value)
    return value if isinstance(value, Mapping) else {}


def _timm_config(config: Path) -> dict[str, Any]:
    """timm's hub `config.json`, read by timm itself: architecture, label names, input size, mean/std, model args."""
    from timm.models._hub import load_model_config_from_path

    try:
        pretrained_cfg, name, model_args = load_model_config_from_path(config.parent)
        extra = read_json_object(config)
    except Exception as error:
        raise CheckpointError(f"cannot read {config}: {first_line(error)}") from error
    model_args = {k: v for k, v in (model_args or {}).items() if k not in ("pretrained", "num_classes")}
    built_at = {"img_size": model_args["img_size"]} if model_args.get("img_size") else {}  # the size it was built at
    return {**{k: v for k, v in extra.items() if k in MULTI_LABEL_KEYS}, **pretrained_cfg, **built_at,
            "model_name": name, "model_args": model_args}


def _height_width(size: Any, path: Path) -> tuple[int, int] | None:
    """(height, width) from an int, `[H, W]` or timm's `[C, H, W]`; anything else is a one-line error."""
    if size is None:
        return None
    values = list(size) if isinstance(size, (list, tuple)) else [size]
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in values):
        raise CheckpointError(f"{path}: metadata `img_size` must be a positive int, [H, W] or [C, H, W] "
                              f"(got {_preview(size)})")
    return height_width(values)


def _class_list(value: Any, path: Path) -> list[str] | None:
    """Class names as a list: a list as is, `class_to_idx` ordered by index, `{idx: name}` ordered by key."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        try:
            pairs = [(int(v), str(k)) if isinstance(k, str) else (int(k), str(v)) for k, v in value.items()]
        except (TypeError, ValueError) as error:
            raise CheckpointError(f"{path}: metadata `class_to_idx` must map class names to int indices "
                                  f"(got {_preview(value)})") from error
        return [name for _, name in sorted(pairs)]
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise CheckpointError(f"{path}: metadata `class_names` must be a list of names (got {_preview(value)})")
    return [str(name) for name in value]


def _plugins(value: Any, path: Path) -> tuple[str, ...]:
    """The recorded plugins: a list of importable module names (a file path could point anywhere: not accepted)."""
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and _MODULE_NAME.fullmatch(n) for n in names):
        raise CheckpointError(f"{path}: metadata `plugins` must be a list of module names (got {_preview(value)})")
    return tuple(names)


def _triple(value: Any, what: str, path: Path) -> tuple[float, float, float] | None:
    """Three floats for a per-channel mean/std (one value is repeated); a std must be positive."""
    if value is None:
        return None
    try:
        values = per_channel([float(v) for v in (value.tolist() if torch.is_tensor(value) else value)])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: metadata `{what}` must be 3 numbers (got {_preview(value)})") from error
    if values is None or isinstance(value, (str, bytes)):
        raise CheckpointError(f"{path}: metadata `{what}` must be 3 numbers (got {_preview(value)})")
    if not usable_normalisation(values, divides=what == "std"):
        raise CheckpointError(f"{path}: metadata `{what}` must be finite{' and positive' * (what == 'std')} "
                              f"(got {_preview(value)})")
    return values


def _preview(value: Any) -> str:
    """A short description of a metadata value for an error message."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' * (len(text) > 40)}"
