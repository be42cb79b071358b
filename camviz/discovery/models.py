"""Loading a classifier for Grad-CAM: checkpoint → built model, and what camviz knows of its input, output and classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from timm.data import resolve_model_data_config

from camviz.discovery.build import build_model
from camviz.discovery.checkpoint import Checkpoint, read_checkpoint
from camviz.discovery.output_kind import OutputKind
from camviz.discovery.plugins import import_plugins
from camviz.discovery.spec import ImageSize, InputSpec, as_size, input_channels
from camviz.errors import CheckpointError, UsageError


@dataclass
class LoadedModel:
    """A model ready for Grad-CAM, with what camviz knows about its input, output kind and classes."""

    model: torch.nn.Module  # weights loaded, eval mode, on CPU
    model_name: str
    num_classes: int  # classes a prediction can name (2 for a one-logit binary head)
    class_names: list[str] | None  # from the checkpoint only
    input: InputSpec  # explicit > checkpoint > model's own config > 224 / ImageNet
    output_kind: OutputKind = field(default_factory=OutputKind)  # softmax, binary or multilabel (with its threshold)
    rebuild: Callable[[], torch.nn.Module] | None = None  # the architecture freshly initialised; None: a pickled module


def load_model(
    model_path: str | Path,
    model_name: str | None = None,
    *,
    img_size: int | ImageSize | None = None,
    multi_label: bool = False,
    threshold: float = 0.5,
    plugins: Sequence[str] = (),
    trust_checkpoint: bool = False,
    use_ema: bool = False,
) -> LoadedModel:
    """Read `model_path` (a file or a timm/Hugging Face folder), build the architecture, load the weights.

    Explicit arguments win over what the checkpoint records, which wins over the model's own config:
    `model_name`, `img_size` (a number or (height, width); ViT/Swin are built at it) and `multi_label` (with its
    `threshold`).
    """
    import_plugins(plugins)
    ckpt = read_checkpoint(model_path, trust=trust_checkpoint, use_ema=use_ema)
    size = as_size(img_size) or ckpt.img_size
    name = model_name or ckpt.model_name
    rebuild = None
    if ckpt.module is not None:
        model = ckpt.module
        name = name or type(model).__name__
    elif not name:
        raise UsageError(f"{ckpt.path} does not record its architecture; pass --model-name (e.g. resnet50)")
    else:
        model, rebuild = build_model(name, ckpt, size)
    model = model.cpu().eval()
    spec = _input_spec(model, ckpt, size)
    logits = _num_classes(model, spec, ckpt.num_classes)
    kind = OutputKind.for_head(logits, multi_label or bool(ckpt.multi_label), threshold)
    return LoadedModel(model, name, kind.class_count(logits), kind.class_names(ckpt.class_names), spec, kind,
                       rebuild)


def _input_spec(model: torch.nn.Module, ckpt: Checkpoint, size: ImageSize | None) -> InputSpec:
    """Channels from the first layer, size and normalisation: explicit/checkpoint > model's config > defaults."""
    config = resolve_model_data_config(model)
    channels = input_channels(model) or ckpt.in_chans or 3
    mean = ckpt.mean or tuple(float(v) for v in config["mean"])
    std = ckpt.std or tuple(float(v) for v in config["std"])
    return InputSpec(channels, size or tuple(int(v) for v in config["input_size"][-2:]), mean, std)


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
