"""Where to look: the per-family target-layer table, its generic fallbacks and token/NHWC reshapes.

One resolution order, like timm's data config: `--target-layer` > the family table > timm's
`feature_info[-1]` > the last module with a 4-D spatial output, found by one dry forward pass.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from camviz.errors import TargetLayerError, UsageError
from camviz.families import FAMILIES, Family
from camviz.hf import token_layout

@dataclass
class TargetLayers:
    """The resolved Grad-CAM target layers and how to turn their outputs into NCHW maps."""

    family: str  # a family name from the table, or "override", "feature_info", "fallback"
    names: list[str]  # dotted named_modules() names, e.g. "layer4.1"
    modules: list[nn.Module]
    reshape: str | None  # None | "vit" | "nhwc"
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None  # ready for pytorch_grad_cam


@dataclass(frozen=True)
class TokenReshape:
    """ViT tokens (B, N, C) → (B, C, H, W): drops the prefix (class/register) tokens, uses the patch grid."""

    prefix_tokens: int
    grid: tuple[int, int]

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        tokens = tensor[:, self.prefix_tokens :, :]
        height, width = self.grid
        if tokens.shape[1] != height * width:  # a dynamic-size input: assume a square grid
            height = width = math.isqrt(tokens.shape[1])
        return tokens.reshape(tokens.shape[0], height, width, tokens.shape[2]).permute(0, 3, 1, 2)

    def inverse(self, output: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """`output` rebuilt from its (B, C, H, W) maps, so gradients reach them (the prefix tokens kept)."""
        return torch.cat([output[:, : self.prefix_tokens, :], maps.flatten(2).transpose(1, 2)], dim=1)


def pooled_as_map(tensor: torch.Tensor) -> torch.Tensor:
    """A layer after global pooling gives (B, C): read it as a 1 x 1 map, whose constant CAM camviz warns about."""
    return tensor[:, :, None, None] if tensor.ndim == 2 else tensor


def nhwc_to_nchw(tensor: torch.Tensor) -> torch.Tensor:
    """Swin-style (B, H, W, C) → (B, C, H, W)."""
    return tensor.permute(0, 3, 1, 2)


def _nchw_to_nhwc(output: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    return maps.permute(0, 2, 3, 1)


class ReshapedTarget(nn.Module):
    """A token/NHWC target layer whose forward hooks see (B, C, H, W) maps, so it needs no `reshape_transform`.

    pytorch-grad-cam registers its hooks here; they run on the wrapped layer's output reshaped, and the
    output passes on rebuilt from those maps, so their gradients are the ones Grad-CAM reads.
    """

    def __init__(self, layer: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor],
                 inverse: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.layer = layer
        self.transform, self.inverse = transform, inverse

    def forward(self, *args: object, **kwargs: object) -> object:
        return self.layer(*args, **kwargs)

    def register_forward_hook(self, hook: Callable, **kwargs: object) -> object:  # type: ignore[override]
        def reshaped(module: nn.Module, args: object, output: torch.Tensor) -> torch.Tensor:
            maps = self.transform(output)
            replaced = hook(module, args, maps)
            return self.inverse(output, maps if replaced is None else replaced)

        return self.layer.register_forward_hook(reshaped, **kwargs)


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
    inverse = transform.inverse if isinstance(transform, TokenReshape) else _nchw_to_nhwc
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
        _token_reshape(model, img_size) if reshape == "vit" else {None: pooled_as_map, "nhwc": nhwc_to_nchw}.get(reshape)
    )
    return TargetLayers(family, [n for n, _ in resolved], [m for _, m in resolved], reshape, transform)


def _token_reshape(model: nn.Module, img_size: int | tuple[int, int]) -> TokenReshape:
    """The model's own prefix-token count and patch grid (timm `patch_embed.grid_size`, torchvision sizes,
    a transformers model's embeddings and config)."""
    layout = token_layout(model, img_size)
    if layout is not None:
        return TokenReshape(*layout)
    prefix = getattr(model, "num_prefix_tokens", None)
    if prefix is None:
        prefix = 1 if hasattr(model, "class_token") or hasattr(model, "cls_token") else 0
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None and hasattr(model, "image_size") and hasattr(model, "patch_size"):
        grid = (model.image_size // model.patch_size,) * 2
    return TokenReshape(int(prefix), tuple(int(g) for g in grid) if grid else (0, 0))


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
        height, width = (img_size, img_size) if isinstance(img_size, int) else img_size
        x = torch.zeros(1, _in_chans(model), height, width, device=first.device if first is not None else "cpu")
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


def _in_chans(model: nn.Module) -> int:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.in_channels if conv is not None else 3
