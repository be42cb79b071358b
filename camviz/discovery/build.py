"""Building the architecture: model name → `nn.Module` via timm, torchvision or a user plugin, fitted to its weights.

Resolution order for a name: timm's registry (which includes anything a `--plugin`, or a plugin the checkpoint
records, registered with `timm.models.register_model`), then torchvision. When both know a name (`convnext_tiny`,
`efficientnet_b0`), the first whose state-dict layout fits the checkpoint wins. `smp.<Architecture>` names a
segmentation_models_pytorch architecture (`camviz.discovery.smp`).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import timm
import torch
import torchvision

from camviz.discovery.checkpoint import Checkpoint
from camviz.discovery.detectors import detector_num_classes
from camviz.discovery.plugins import import_plugins
from camviz.discovery.smp import is_smp_name, smp_arguments, smp_builder
from camviz.discovery.spec import ImageSize, first_conv
from camviz.errors import CheckpointError, Say, UsageError


def build_model(name: str, ckpt: Checkpoint, img_size: ImageSize | None = None, *, state_prefix: str | None = None,
                say: Say = lambda note: None,
                ) -> tuple[torch.nn.Module, Callable[[], torch.nn.Module]]:
    """Build `name` to fit the checkpoint's weights (class count, input channels, size, wrapper prefix) and load them.

    Returns the model and a factory that builds the same architecture again, freshly initialised (no weights).
    `state_prefix` picks the wrapped network in a checkpoint that holds several (see `fit_prefix`); `say`
    hears which prefix was used when more than one fits.
    """
    if ckpt.plugins and not _known(name):  # the checkpoint records the plugin that registers its architecture
        import_plugins(ckpt.plugins)
    builders = _builders(name, ckpt, img_size)
    if not builders:
        near = difflib.get_close_matches(name, timm.list_models() + torchvision.models.list_models(), n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UsageError(f"unknown model {name!r}{hint}: not in timm or torchvision; register it with --plugin")
    problems = []
    for source, build in builders:
        try:
            probe = _probe(build)
        except Exception as error:  # a plugin's constructor
            problems.append(f"{name} ({source}) failed to build: {type(error).__name__}: {error}")
            continue
        fitted = fit_prefix(probe, ckpt.state_dict or {}, state_prefix=state_prefix, ema=ckpt.ema_by_prefix)
        try:
            kwargs, channels = _build_arguments(source, probe, ckpt, fitted.weights)
            rebuild = partial(_fresh_build, build, kwargs, channels)
            model = rebuild()
        except Exception as error:  # kwargs this architecture lacks
            problems.append(f"{name} ({source}) failed to build: {type(error).__name__}: {error}")
            continue
        problem = _mismatch(model, fitted.weights)
        if problem is None:
            model.load_state_dict(fitted.weights, strict=True)
            note = fitted.note()
            if note:
                say(note)
            return model, rebuild
        hint = " (trained at another input size? pass --img-size)" if "pos_embed" in problem else ""
        problems.append(f"{name} ({source}) does not fit its weights: {problem}{hint}")
    raise CheckpointError(f"cannot load {ckpt.path}: {'; '.join(problems)}")


def _known(name: str) -> bool:
    """Whether timm (with what plugins registered so far) or torchvision knows `name`."""
    return timm.is_model(name) or name in torchvision.models.list_models()


def _build_arguments(source: str, probe: torch.nn.Module, ckpt: Checkpoint,
                     weights: dict[str, torch.Tensor]) -> tuple[dict[str, int], int | None]:
    """The builder's keyword arguments (class count, timm's `in_chans`) and the input channels the weights have."""
    if source == "smp":  # its constructor takes `classes` and `in_channels`: no first convolution to swap
        return smp_arguments(weights, ckpt.num_classes, ckpt.in_chans), None
    num_classes = ckpt.num_classes or detector_num_classes(probe, weights) or _infer_num_classes(probe, weights)
    channels = _weight_channels(probe, weights) or ckpt.in_chans
    kwargs = {"num_classes": num_classes} if num_classes else {}
    if source == "timm" and channels and channels != 3:
        kwargs["in_chans"] = channels
    return kwargs, channels


def _fresh_build(build: Callable[..., torch.nn.Module], kwargs: dict, channels: int | None) -> torch.nn.Module:
    """The architecture as `build` initialises it, with the checkpoint's class count and input channels."""
    return _adapt_first_conv(build(**kwargs), channels)


def _builders(name: str, ckpt: Checkpoint, img_size: ImageSize | None) -> list[tuple[str, Callable[..., torch.nn.Module]]]:
    """(source, factory) pairs that know `name`, timm first; factories never download weights.

    timm models with a fixed input size (ViT, Swin) are built at `img_size`, so position tables fit.
    """
    found: list[tuple[str, Callable[..., torch.nn.Module]]] = []
    if is_smp_name(name):
        return [("smp", smp_builder(name, ckpt.model_args, ckpt.path))]
    if timm.is_model(name):  # timm's aux_logits=True returns (logits, aux) even in eval mode: never used
        cfg = timm.models.get_pretrained_cfg(name)
        extra = dict(ckpt.model_args or {})
        if img_size and cfg and cfg.fixed_input_size:
            extra["img_size"] = img_size
        found.append(("timm", partial(timm.create_model, name, pretrained=False, **extra)))
    if name in torchvision.models.list_models():
        found.append(("torchvision", partial(torchvision.models.get_model, name, weights=None,
                                             **_torchvision_arguments(name, ckpt))))
    return found


def _torchvision_arguments(name: str, ckpt: Checkpoint) -> dict[str, Any]:
    """A torchvision builder's arguments beyond `weights=None`: no backbone weights either (segmentation and
    detection builders would download ImageNet's), and aux heads as the checkpoint has them (skipping Inception's
    slow scipy init)."""
    keys = ckpt.state_dict or {}
    parameters = inspect.signature(torchvision.models.get_model_builder(name)).parameters
    extra: dict[str, Any] = {"weights_backbone": None} if "weights_backbone" in parameters else {}
    if name in ("inception_v3", "googlenet"):
        extra |= {"aux_logits": any(k.startswith(("AuxLogits.", "aux1.", "aux2.")) for k in keys), "init_weights": False}
    if "aux_loss" in parameters:  # fcn_*, deeplabv3_*: the auxiliary classifier when the weights have one
        extra["aux_loss"] = any(k.startswith("aux_classifier.") for k in keys)
    return extra


def _probe(build: Callable[..., torch.nn.Module]) -> torch.nn.Module:
    """The architecture with its defaults, on the meta device when it allows (no memory, no init)."""
    try:
        with torch.device("meta"):
            return build()
    except Exception:
        return build()


def fit_prefix(probe: torch.nn.Module, state_dict: dict[str, torch.Tensor], *, state_prefix: str | None = None,
               ema: bool = False) -> FittedWeights:
    """The weights under the prefix that makes their keys fit the model (Lightning's `model.`, `net.`, ...).

    The rule, the same on every run: `state_prefix` when given; else keys that fit as they are; else the one
    prefix under which every model key exists, EMA copies (a prefix naming `ema`: `ema.`, `model_ema.`) set
    aside unless `ema` asks for them (they are used alone only when nothing else fits). Several prefixes left
    (`student.` and `teacher.`) is an error that names each and `--state-prefix`.
    """
    fitting = _fitting_prefixes(probe, state_dict)
    if state_prefix is not None:
        chosen = state_prefix if not state_prefix or state_prefix.endswith(".") else f"{state_prefix}."
        if chosen not in fitting:
            raise UsageError(f"--state-prefix {state_prefix!r} does not hold this architecture's weights; "
                             f"prefixes that do: {_spelled(fitting)}")
    else:
        chosen = _choose_prefix(fitting, ema)
    inner = {key[len(chosen):]: value for key, value in state_dict.items() if key.startswith(chosen)}
    return FittedWeights(inner if fitting else state_dict, chosen, tuple(p for p in fitting if p != chosen))


@dataclass(frozen=True)
class FittedWeights:
    """A state dict with its keys fitted to the model, and the prefix that was stripped."""

    weights: dict[str, torch.Tensor]
    prefix: str  # "" when the keys fit as they are (or nothing fits: the mismatch is reported later)
    others: tuple[str, ...] = ()  # other prefixes under which the model's keys also exist

    def note(self) -> str | None:
        """One line naming the prefix used when more than one fits, else None."""
        if not self.others:
            return None
        return (f"loaded the weights under {_spelled([self.prefix])}; {_spelled(self.others)} also fit "
                "(--state-prefix chooses another, --ema an EMA copy)")


def is_ema_prefix(prefix: str) -> bool:
    """Whether a state-dict prefix names an EMA copy: `ema.`, `model_ema.`, `ema_model.`, `net.ema.`."""
    return any(part in ("ema", "ema_model", "model_ema") or part.endswith("_ema") or part.startswith("ema_")
               for part in prefix.lower().split(".") if part)


def _fitting_prefixes(probe: torch.nn.Module, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Every prefix (sorted; "" first) under which each of the model's own keys exists in `state_dict`."""
    own = list(probe.state_dict())
    if not own:
        return [""]
    first = own[0]
    prefixes = {key[: -len(first)] for key in state_dict if key == first or key.endswith("." + first)}
    keys = set(state_dict)
    return sorted((p for p in prefixes if all(p + key in keys for key in own)), key=lambda p: (len(p), p))


def _choose_prefix(fitting: list[str], ema: bool) -> str:
    """The documented choice among fitting prefixes (see `fit_prefix`)."""
    if not fitting:
        return ""
    emas = [p for p in fitting if is_ema_prefix(p)]
    plain = [p for p in fitting if p not in emas]
    if ema:
        if len(emas) == 1:
            return emas[0]
        if not emas:
            raise CheckpointError("the checkpoint has no EMA weights (no state_dict_ema / model_ema entry, no prefix "
                                  f"naming ema among {_spelled(fitting)}); drop --ema")
        raise UsageError(f"several EMA copies fit: {_spelled(emas)}; choose one with --state-prefix")
    if "" in plain or len(plain) == 1:
        return plain[0]
    if not plain:
        return emas[0]  # only EMA copies were saved
    raise UsageError(f"the checkpoint holds this architecture under several prefixes: {_spelled(plain)}; "
                     "choose one with --state-prefix (e.g. --state-prefix " + plain[0].rstrip(".") + ")")


def _spelled(prefixes: Sequence[str]) -> str:
    return ", ".join(f"`{p}`" if p else "the bare keys" for p in prefixes)


def _infer_num_classes(probe: torch.nn.Module, state_dict: dict) -> int | None:
    """The class count in the checkpoint's classifier: the last weight whose rows match the default head (a
    segmentation head's: the last convolution under `classifier`)."""
    default = getattr(probe, "num_classes", 1000)
    heads = [k for k, v in probe.state_dict().items() if k.endswith("weight") and v.ndim >= 2 and v.shape[0] == default]
    heads = [k for k in heads if k in state_dict]
    return int(state_dict[heads[-1]].shape[0]) if heads else _segmentation_classes(probe, state_dict)


def _segmentation_classes(probe: torch.nn.Module, state_dict: dict) -> int | None:
    """The class count of a torchvision segmentation head (fcn, deeplabv3: `classifier.4`; lraspp: its `low_` and
    `high_classifier`): the output channels of the checkpoint's last convolution under `classifier.`."""
    convs = [k for k, v in probe.state_dict().items() if k.startswith("classifier.") and k.endswith("weight")
             and v.ndim == 4 and k in state_dict]
    return int(state_dict[convs[-1]].shape[0]) if convs else None


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
    shape: dict[str, Any] = {"kernel_size": conv.kernel_size, "stride": conv.stride, "padding": conv.padding,
                             "dilation": conv.dilation}  # as the convolution has them (tuples)
    replacement = torch.nn.Conv2d(channels, conv.out_channels, **shape, groups=conv.groups, bias=conv.bias is not None,
                                  padding_mode=conv.padding_mode)
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
