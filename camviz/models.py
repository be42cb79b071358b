"""Building the classifier: model name → `nn.Module` via timm, torchvision or a user plugin, then its weights.

Resolution order for a name: timm's registry (which includes anything a `--plugin` registered with
`timm.models.register_model`), then torchvision. When both know a name (`convnext_tiny`,
`efficientnet_b0`), the first whose state-dict layout fits the checkpoint wins.
"""

from __future__ import annotations

import difflib
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
from camviz.errors import CheckpointError, UsageError
from camviz.plugins import import_plugins  # noqa: F401  (re-exported: camviz.import_plugins)


OUTPUT_KINDS = ("softmax", "binary", "multilabel")
ImageSize = tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: channel count, height x width, and the normalisation."""

    channels: int  # 1 (grey) or 3, from the first layer's weights
    size: ImageSize  # (height, width)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def img_size(self) -> int | ImageSize:
        """The size as users write it: one number when square, else (height, width)."""
        return self.size[0] if self.size[0] == self.size[1] else self.size


@dataclass
class LoadedModel:
    """A model ready for Grad-CAM, with what camviz knows about its input, output and classes.

    `output` is `softmax` (one logit per class), `binary` (one sigmoid logit; two classes, the positive
    one when p >= 0.5) or `multilabel` (one sigmoid per label).
    """

    model: torch.nn.Module  # weights loaded, eval mode, on CPU
    model_name: str
    num_classes: int  # classes a prediction can name (2 for a one-logit binary head)
    class_names: list[str] | None  # from the checkpoint only
    input: InputSpec  # explicit > checkpoint > model's own config > 224 / ImageNet
    output: str = "softmax"

    @property
    def img_size(self) -> int | ImageSize:
        return self.input.img_size

    @property
    def mean(self) -> tuple[float, ...]:
        return self.input.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.input.std


def load_model(
    model_path: str | Path,
    model_name: str | None = None,
    *,
    img_size: int | ImageSize | None = None,
    multi_label: bool = False,
    plugins: Sequence[str] = (),
    trust_checkpoint: bool = False,
    use_ema: bool = False,
) -> LoadedModel:
    """Read `model_path` (a file or a timm/Hugging Face folder), build the architecture, load the weights.

    Explicit arguments win over what the checkpoint records, which wins over the model's own config:
    `model_name`, `img_size` (a number or (height, width); ViT/Swin are built at it) and `multi_label`.
    """
    import_plugins(plugins)
    ckpt = read_checkpoint(model_path, trust=trust_checkpoint, use_ema=use_ema)
    size = as_size(img_size) or ckpt.img_size
    name = model_name or ckpt.model_name
    if ckpt.module is not None:
        model = ckpt.module
        name = name or type(model).__name__
    elif not name:
        raise UsageError(f"{ckpt.path} does not record its architecture; pass --model-name (e.g. resnet50)")
    else:
        model = build_model(name, ckpt, size)
    model = model.cpu().eval()
    spec = _input_spec(model, ckpt, size)
    kind = "multilabel" if multi_label or ckpt.multi_label else "softmax"
    logits = _num_classes(model, spec, ckpt.num_classes)
    if kind == "softmax" and logits == 1:
        kind = "binary"
    count, names = (2, _binary_names(ckpt.class_names)) if kind == "binary" else (logits, ckpt.class_names)
    return LoadedModel(model, name, count, names, spec, kind)


def as_size(size: int | Sequence[int] | None) -> ImageSize | None:
    """(height, width) from one number (square) or a pair; None stays None."""
    if size is None:
        return None
    values = [int(size)] * 2 if isinstance(size, int) else [int(v) for v in size]
    if len(values) != 2 or min(values) < 8:
        raise UsageError(f"--img-size must be one size or HEIGHT WIDTH, each at least 8 pixels (got {size})")
    return (values[0], values[1])


def _input_spec(model: torch.nn.Module, ckpt: Checkpoint, size: ImageSize | None) -> InputSpec:
    """Channels from the first layer, size and normalisation: explicit/checkpoint > model's config > defaults."""
    config = resolve_model_data_config(model)
    channels = input_channels(model) or ckpt.in_chans or 3
    mean = ckpt.mean or tuple(float(v) for v in config["mean"])
    std = ckpt.std or tuple(float(v) for v in config["std"])
    return InputSpec(channels, size or tuple(int(v) for v in config["input_size"][-2:]), mean, std)


def input_channels(model: torch.nn.Module) -> int | None:
    """The input channel count of the model's first convolution (None when it has none)."""
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return conv.in_channels if conv is not None else None


def _binary_names(names: list[str] | None) -> list[str] | None:
    """A one-logit head's two classes: the recorded pair, `not_X`/`X` for one name, else none."""
    if names and len(names) == 2:
        return list(names)
    if names and len(names) == 1:
        return [f"not_{names[0]}", names[0]]
    return None


def build_model(name: str, ckpt: Checkpoint, img_size: ImageSize | None = None) -> torch.nn.Module:
    """Build `name` to fit the checkpoint's weights (class count, input channels, size, wrapper prefix) and load them."""
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
            model = _adapt_first_conv(build(**kwargs), channels)
        except Exception as error:  # a plugin's constructor, or kwargs this architecture lacks
            problems.append(f"{name} ({source}) failed to build: {type(error).__name__}: {error}")
            continue
        problem = _mismatch(model, weights)
        if problem is None:
            model.load_state_dict(weights, strict=True)
            return model
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
    first = next((name for name, m in probe.named_modules() if isinstance(m, torch.nn.Conv2d)), None)
    weight = state_dict.get(f"{first}.weight") if first is not None else None
    return int(weight.shape[1]) if weight is not None and weight.ndim == 4 else None


def _adapt_first_conv(model: torch.nn.Module, channels: int | None) -> torch.nn.Module:
    """Give the first convolution `channels` inputs (a torchvision model trained on grey images)."""
    found = next(((n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)), None)
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


def _num_classes(model: torch.nn.Module, spec: InputSpec, recorded: int | None) -> int:
    """Logits of a built model: its `num_classes` attribute, else a dry forward's width, else the recorded count."""
    if isinstance(getattr(model, "num_classes", None), int):
        return model.num_classes
    try:
        with torch.no_grad():
            return int(model(torch.zeros(1, spec.channels, *spec.size)).shape[-1])
    except Exception as error:
        if recorded:
            return recorded
        raise CheckpointError(f"cannot tell how many classes the model has: a dry forward pass failed ({error})") from error
