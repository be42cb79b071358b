"""Building the architecture: model name → `nn.Module` via timm, torchvision or a user plugin, fitted to its weights.

Resolution order for a name: timm's registry (which includes anything a `--plugin` registered with
`timm.models.register_model`), then torchvision. When both know a name (`convnext_tiny`,
`efficientnet_b0`), the first whose state-dict layout fits the checkpoint wins.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import partial

import timm
import torch
import torchvision

from camviz.discovery.checkpoint import Checkpoint
from camviz.discovery.plugins import import_builtin_plugin
from camviz.discovery.spec import ImageSize, first_conv
from camviz.errors import CheckpointError, UsageError


def build_model(name: str, ckpt: Checkpoint,
                img_size: ImageSize | None = None) -> tuple[torch.nn.Module, Callable[[], torch.nn.Module]]:
    """Build `name` to fit the checkpoint's weights (class count, input channels, size, wrapper prefix) and load them.

    Returns the model and a factory that builds the same architecture again, freshly initialised (no weights).
    """
    import_builtin_plugin(name)
    builders = _builders(name, ckpt, img_size)
    if not builders:
        near = difflib.get_close_matches(name, timm.list_models() + torchvision.models.list_models(), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UsageError(f"unknown model {name!r}{hint}: not in timm or torchvision; register it with --plugin")
    problems = []
    for source, build in builders:
        try:
            probe = _probe(build)
            weights = fit_prefix(probe, ckpt.state_dict)
            num_classes = ckpt.num_classes or _infer_num_classes(probe, weights)
            channels = _weight_channels(probe, weights) or ckpt.in_chans
            kwargs = {"num_classes": num_classes} if num_classes else {}
            if source == "timm" and channels and channels != 3:
                kwargs["in_chans"] = channels
            rebuild = partial(_fresh_build, build, kwargs, channels)
            model = rebuild()
        except Exception as error:  # a plugin's constructor, or kwargs this architecture lacks
            problems.append(f"{name} ({source}) failed to build: {type(error).__name__}: {error}")
            continue
        problem = _mismatch(model, weights)
        if problem is None:
            model.load_state_dict(weights, strict=True)
            return model, rebuild
        hint = " (trained at another input size? pass --img-size)" if "pos_embed" in problem else ""
        problems.append(f"{name} ({source}) does not fit its weights: {problem}{hint}")
    raise CheckpointError(f"cannot load {ckpt.path}: {'; '.join(problems)}")


def _builders(name: str, ckpt: Checkpoint, img_size: ImageSize | None) -> list[tuple[str, Callable[..., torch.nn.Module]]]:
    """(source, factory) pairs that know `name`, timm first; factories never download weights.

    timm models with a fixed input size (ViT, Swin) are built at `img_size`, so position tables fit.
    """
    found = []
    if timm.is_model(name):  # timm's aux_logits=True returns (logits, aux) even in eval mode: never used
        cfg = timm.models.get_pretrained_cfg(name)
        extra = dict(ckpt.model_args or {})
        if img_size and cfg and cfg.fixed_input_size:
            extra["img_size"] = img_size
        found.append(("timm", partial(timm.create_model, name, pretrained=False, **extra)))
    if name in torchvision.models.list_models():
        extra = {}
        if name in ("inception_v3", "googlenet"):  # aux heads as in the checkpoint; skip the slow scipy init
            aux = any(k.startswith(("AuxLogits.", "aux1.", "aux2.")) for k in ckpt.state_dict or {})
            extra = {"aux_logits": aux, "init_weights": False}
        found.append(("torchvision", partial(torchvision.models.get_model, name, weights=None, **extra)))
    return found


def _fresh_build(build: Callable[..., torch.nn.Module], kwargs: dict, channels: int | None) -> torch.nn.Module:
    """The architecture as `build` initialises it, with the checkpoint's class count and input channels."""
    return _adapt_first_conv(build(**kwargs), channels)


def _probe(build: Callable[..., torch.nn.Module]) -> torch.nn.Module:
    """The architecture with its defaults, on the meta device when it allows (no memory, no init)."""
    try:
        with torch.device("meta"):
            return build()
    except Exception:
        return build()


def fit_prefix(probe: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights under the prefix that makes their keys fit the model (Lightning's `model.`, `net.`, ...).

    Keys already fitting stay as they are; otherwise the shortest prefix under which every model key exists.
    """
    own = list(probe.state_dict())
    if not own or all(key in state_dict for key in own):
        return state_dict
    first = own[0]
    prefixes = {key[: -len(first)] for key in state_dict if key.endswith("." + first)}
    for prefix in sorted(prefixes, key=len):
        inner = {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}
        if all(key in inner for key in own):
            return inner
    return state_dict


def _infer_num_classes(probe: torch.nn.Module, state_dict: dict) -> int | None:
    """The class count in the checkpoint's classifier: the last weight whose rows match the default head."""
    default = getattr(probe, "num_classes", 1000)
    heads = [k for k, v in probe.state_dict().items() if k.endswith("weight") and v.ndim >= 2 and v.shape[0] == default]
    heads = [k for k in heads if k in state_dict]
    return int(state_dict[heads[-1]].shape[0]) if heads else None


def _weight_channels(probe: torch.nn.Module, state_dict: dict) -> int | None:
    """Input channels of the first convolution, as the checkpoint's weights have them."""
    found = first_conv(probe)
    weight = state_dict.get(f"{found[0]}.weight") if found is not None else None
    return int(weight.shape[1]) if weight is not None and weight.ndim == 4 else None


def _adapt_first_conv(model: torch.nn.Module, channels: int | None) -> torch.nn.Module:
    """Give the first convolution `channels` inputs (a torchvision model trained on grey images)."""
    found = first_conv(model)
    if channels is None or found is None or found[1].in_channels == channels:
        return model
    name, conv = found
    parent_name, _, child = name.rpartition(".")
    replacement = torch.nn.Conv2d(channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                  conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
    setattr(model.get_submodule(parent_name) if parent_name else model, child, replacement)
    return model


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
