"""Building the classifier: model name → `nn.Module` via timm, torchvision or a user plugin, then its weights.

Resolution order for a name: timm's registry (which includes anything a `--plugin` registered with
`timm.models.register_model`), then torchvision. When both know a name (`convnext_tiny`,
`efficientnet_b0`), the first whose state-dict layout fits the checkpoint wins.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import timm
import torch
import torchvision
from timm.data import resolve_model_data_config

import camviz.demo.net  # noqa: F401  (registers camviz_shapenet, the shipped demo model, with timm)
from camviz.checkpoint import Checkpoint, read_checkpoint
from camviz.errors import CamvizError, CheckpointError, UsageError

_IMPORTED_PLUGINS: set[str] = set()


@dataclass
class LoadedModel:
    """A model ready for Grad-CAM, with what camviz knows about its inputs and classes."""

    model: torch.nn.Module  # weights loaded, eval mode, on CPU
    model_name: str
    num_classes: int
    class_names: list[str] | None  # from the checkpoint only
    img_size: int  # checkpoint > model's own config > 224
    mean: tuple[float, float, float]  # checkpoint > model's own config > ImageNet
    std: tuple[float, float, float]


def import_plugins(plugins: Sequence[str]) -> None:
    """Import each plugin (a `.py` file path or a dotted module name) once, so its models register."""
    for plugin in plugins:
        path = Path(plugin)
        is_file = plugin.endswith(".py") or path.is_file()
        key = str(path.resolve()) if is_file else plugin
        if key in _IMPORTED_PLUGINS:
            continue
        if is_file and not path.is_file():
            raise UsageError(f"plugin file not found: {plugin}")
        try:
            _import_file(path) if is_file else importlib.import_module(plugin)
        except ModuleNotFoundError as error:
            if is_file or not _names_plugin(error, plugin):  # the plugin itself imports something missing
                raise CamvizError(f"plugin {plugin} failed while importing: {type(error).__name__}: {error}") from error
            raise UsageError(f"cannot import plugin {plugin!r} ({error}); pass a .py file or an importable module") from error
        except SystemExit as error:  # a plugin must not end the run (exit code 0, no output)
            raise CamvizError(f"plugin {plugin} called sys.exit({error.code!r}) while importing") from error
        except Exception as error:
            raise CamvizError(f"plugin {plugin} failed while importing: {type(error).__name__}: {error}") from error
        _IMPORTED_PLUGINS.add(key)


def _names_plugin(error: ModuleNotFoundError, plugin: str) -> bool:
    """Whether the missing module is the plugin (or a package on its dotted path), not one it imports."""
    return error.name is None or plugin == error.name or plugin.startswith(f"{error.name}.")


def _import_file(path: Path) -> None:
    """Import a plugin file as module `camviz_plugin_<stem>` (registered first, as timm's registry needs)."""
    name = f"camviz_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def load_model(
    model_path: str | Path,
    model_name: str | None = None,
    *,
    plugins: Sequence[str] = (),
    trust_checkpoint: bool = False,
    use_ema: bool = False,
) -> LoadedModel:
    """Read `model_path`, build the architecture (`model_name` overrides the checkpoint's), load the weights."""
    import_plugins(plugins)
    ckpt = read_checkpoint(model_path, trust=trust_checkpoint, use_ema=use_ema)
    name = model_name or ckpt.model_name
    if ckpt.module is not None:
        model = ckpt.module
        name = name or type(model).__name__
    elif not name:
        raise UsageError(f"{ckpt.path} does not record its architecture; pass --model-name (e.g. resnet50)")
    else:
        model = build_model(name, ckpt)
    model = model.cpu().eval()
    config = resolve_model_data_config(model)
    return LoadedModel(
        model=model,
        model_name=name,
        num_classes=ckpt.num_classes or _num_classes(model, config),
        class_names=ckpt.class_names,
        img_size=ckpt.img_size or int(config["input_size"][-1]),
        mean=ckpt.mean or tuple(float(v) for v in config["mean"]),
        std=ckpt.std or tuple(float(v) for v in config["std"]),
    )


def build_model(name: str, ckpt: Checkpoint) -> torch.nn.Module:
    """Build `name` with the checkpoint's class count and load its weights strictly."""
    builders = _builders(name, ckpt)
    if not builders:
        near = difflib.get_close_matches(name, timm.list_models() + torchvision.models.list_models(), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UsageError(f"unknown model {name!r}{hint}: not in timm or torchvision; register it with --plugin")
    problems = []
    for source, build in builders:
        try:
            num_classes = ckpt.num_classes or _infer_num_classes(build, ckpt.state_dict)
            model = build(num_classes=num_classes) if num_classes else build()
        except Exception as error:  # a plugin's constructor, or kwargs this architecture lacks
            problems.append(f"{name} ({source}) failed to build: {type(error).__name__}: {error}")
            continue
        problem = _mismatch(model, ckpt.state_dict)
        if problem is None:
            model.load_state_dict(ckpt.state_dict, strict=True)
            return model
        problems.append(f"{name} ({source}) does not fit its weights: {problem}")
    raise CheckpointError(f"cannot load {ckpt.path}: {'; '.join(problems)}")


def _builders(name: str, ckpt: Checkpoint) -> list[tuple[str, Callable[..., torch.nn.Module]]]:
    """(source, factory) pairs that know `name`, timm first; factories never download weights."""
    found = []
    if timm.is_model(name):  # timm's aux_logits=True returns (logits, aux) even in eval mode: never used
        cfg = timm.models.get_pretrained_cfg(name)
        size = {"img_size": ckpt.img_size} if ckpt.img_size and cfg and cfg.fixed_input_size else {}
        found.append(("timm", partial(timm.create_model, name, pretrained=False, **size)))
    if name in torchvision.models.list_models():
        extra = {}
        if name in ("inception_v3", "googlenet"):  # aux heads as in the checkpoint; skip the slow scipy init
            aux = any(k.startswith(("AuxLogits.", "aux1.", "aux2.")) for k in ckpt.state_dict or {})
            extra = {"aux_logits": aux, "init_weights": False}
        found.append(("torchvision", partial(torchvision.models.get_model, name, weights=None, **extra)))
    return found


def _infer_num_classes(build: Callable[..., torch.nn.Module], state_dict: dict) -> int | None:
    """The class count in the checkpoint's classifier: the last weight whose rows match the default head."""
    try:
        with torch.device("meta"):
            probe = build()
    except Exception:
        probe = build()
    default = getattr(probe, "num_classes", 1000)
    heads = [k for k, v in probe.state_dict().items() if k.endswith("weight") and v.ndim >= 2 and v.shape[0] == default]
    heads = [k for k in heads if k in state_dict]
    return int(state_dict[heads[-1]].shape[0]) if heads else None


def _mismatch(model: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> str | None:
    """The first missing, unexpected and differently shaped keys, or None when the weights fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    parts = [
        f"{label} {', '.join(items[:3])}" + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
        if items
    ]
    return "; ".join(parts) or None


def _num_classes(model: torch.nn.Module, config: dict) -> int:
    """Class count of a built model: its `num_classes` attribute, else the output width of a dry forward."""
    if isinstance(getattr(model, "num_classes", None), int):
        return model.num_classes
    with torch.no_grad():
        return int(model(torch.zeros(1, *config["input_size"])).shape[-1])
