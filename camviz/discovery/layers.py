"""Where to look: target-layer resolution over the family table, with generic fallbacks.

One resolution order, like timm's data config: `--target-layer` > the family table > timm's
`feature_info[-1]` > the last module with a 4-D spatial output, found by one dry forward pass.
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from camviz.discovery.families import FAMILIES, Family
from camviz.discovery.reshapes import (
    ReshapedTarget,
    TokenReshape,
    nchw_to_nhwc,
    nhwc_to_nchw,
    pooled_as_map,
    token_reshape,
)
from camviz.discovery.spec import height_width, input_channels
from camviz.errors import TargetLayerError, UsageError


@dataclass
class TargetLayers:
    """The resolved Grad-CAM target layers and how to turn their outputs into NCHW maps."""

    family: str  # a family name from the table, or "override", "feature_info", "fallback"
    names: list[str]  # dotted named_modules() names, e.g. "layer4.1"
    modules: list[nn.Module]
    reshape: str | None  # None | "vit" | "nhwc"
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None  # ready for pytorch_grad_cam


def resolve_targets(
    model: nn.Module,
    model_name: str | None = None,
    override: Sequence[str] | None = None,
    img_size: int | tuple[int, int] = 224,
    *,
    families: Sequence[Family] = FAMILIES,
) -> TargetLayers:
    """Target layers by `override` paths > family table > `feature_info[-1]` > last 4-D spatial output."""
    matching = [family for family in families if _matches(family, model, model_name)]
    if override:
        reshape = next((family.reshape for family in matching), None)
        return _targets(model, "override", list(override), reshape, img_size)
    for family in matching:
        path = next((path for path in family.paths if _exists(model, path)), None)
        if path is not None:
            return _targets(model, family.name, [path], family.reshape, img_size)
    path = _feature_info_path(model)
    if path is not None and _exists(model, path):
        return _targets(model, "feature_info", [path], "vit" if hasattr(model, "num_prefix_tokens") else None, img_size)
    outputs = _trace(model, img_size)
    spatial = _spatial(outputs)
    if spatial:
        return _targets(model, "fallback", [spatial[-1][0]], None, img_size)
    seen = ", ".join(f"{name} {shape}" for name, shape in outputs[-4:]) or "no module outputs"
    raise TargetLayerError(
        f"cannot find target layer for {model_name or type(model).__name__}: no module outputs a 4-D "
        f"feature map (last outputs: {seen}); pass --target-layer with a dotted module path, e.g. layer4.-1"
    )


def find_target_layers(model: nn.Module, model_name: str | None = None,
                       img_size: int | tuple[int, int] = 224) -> list[nn.Module]:
    """The target modules, ready for `pytorch_grad_cam.GradCAM(model, target_layers=...)` with no reshape:
    token (ViT) and NHWC (Swin) layers come wrapped so their hooks already see (B, C, H, W) maps."""
    targets = resolve_targets(model, model_name, img_size=img_size)
    if targets.reshape is None:  # NCHW maps already (the pooled-output guard is for camviz's own runs)
        return targets.modules
    transform = targets.reshape_transform
    inverse = transform.inverse if isinstance(transform, TokenReshape) else nchw_to_nhwc
    return [ReshapedTarget(module, transform, inverse) for module in targets.modules]


def get_submodule(model: nn.Module, path: str) -> nn.Module:
    """The module at `path`: dotted, negative indices, or bracket form (`layer4.-1`, `layer4[-1]`)."""
    return _resolve(model, path)[1]


def candidate_layers(model: nn.Module, img_size: int | tuple[int, int] = 224, last: int = 8) -> list[tuple[str, tuple[int, ...]]]:
    """The last `last` modules whose output is a 4-D tensor with spatial size > 1, in execution order."""
    return _spatial(_trace(model, img_size))[-last:]


def _matches(family: Family, model: nn.Module, model_name: str | None) -> bool:
    classes = {cls.__name__ for cls in type(model).__mro__}
    name = (model_name or "").lower()
    return bool(classes.intersection(family.classes)) or any(re.search(p, name) for p in family.patterns)


def _targets(model: nn.Module, family: str, paths: list[str], reshape: str | None,
             img_size: int | tuple[int, int]) -> TargetLayers:
    resolved = [_resolve(model, path) for path in paths]
    transform = (
        token_reshape(model, img_size) if reshape == "vit" else {None: pooled_as_map, "nhwc": nhwc_to_nchw}.get(reshape)
    )
    return TargetLayers(family, [n for n, _ in resolved], [m for _, m in resolved], reshape, transform)


def _split(path: str) -> list[str]:
    return [part for part in re.sub(r"\[([^\]]*)\]", r".\1", path.strip()).split(".") if part]


def _resolve(model: nn.Module, path: str) -> tuple[str, nn.Module]:
    """(canonical dotted name, module) for `path`; unknown parts raise a UsageError naming nearby modules."""
    module, names = model, []
    for part in _split(path) or [""]:
        children = list(module.named_children())
        if part in module._modules and module._modules[part] is not None:
            name, module = part, module._modules[part]
        elif re.fullmatch(r"-?\d+", part) and -len(children) <= int(part) < len(children):
            name, module = children[int(part)]
        else:
            where = ".".join(names) or "the model"
            options = ", ".join(n for n, _ in children[:8]) or "none"
            near = difflib.get_close_matches(path, [n for n, _ in model.named_modules() if n], n=3)
            hint = f"; did you mean {', '.join(near)}" if near else ""
            raise UsageError(f"no module {path!r}: {part!r} is not a child of {where} (children: {options}){hint}")
        names.append(name)
    return ".".join(names), module


def _exists(model: nn.Module, path: str) -> bool:
    try:
        _resolve(model, path)
    except UsageError:
        return False
    return True


def _feature_info_path(model: nn.Module) -> str | None:
    """timm's `feature_info[-1]['module']` (a list of dicts, or a FeatureInfo), if the model has one."""
    info = getattr(model, "feature_info", None)
    if hasattr(info, "module_name"):
        return info.module_name()[-1]
    if isinstance(info, (list, tuple)) and info and isinstance(info[-1], dict):
        return info[-1].get("module")
    return None


def _spatial(outputs: list[tuple[str, tuple[int, ...]]]) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, shape) for name, shape in outputs if len(shape) == 4 and shape[-1] * shape[-2] > 1]


def _trace(model: nn.Module, img_size: int | tuple[int, int]) -> list[tuple[str, tuple[int, ...]]]:
    """Each module's output shape from one dry forward pass, in order of last call; restores the mode."""
    last_call: dict[str, tuple[int, tuple[int, ...]]] = {}
    calls = itertools.count()

    def record(name: str) -> Callable:
        def hook(module: nn.Module, args: object, output: object) -> None:
            if torch.is_tensor(output):
                last_call[name] = (next(calls), tuple(output.shape))

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in model.named_modules() if name]
    was_training = model.training
    first = next(model.parameters(), None)
    try:
        model.eval()
        height, width = height_width(img_size)
        x = torch.zeros(1, input_channels(model) or 3, height, width, device=first.device if first is not None else "cpu")
        with torch.no_grad():
            model(x)
    except Exception as error:
        size = img_size if isinstance(img_size, int) else "x".join(map(str, img_size))
        raise TargetLayerError(f"dry forward pass at {size}px failed ({error}); pass --target-layer") from error
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return [(name, shape) for name, (_, shape) in sorted(last_call.items(), key=lambda item: item[1][0])]
