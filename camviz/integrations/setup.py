"""What explaining one model needs, resolved once: from a checkpoint (exactly as `camviz explain` reads it) or from
an `nn.Module` the caller already holds (the family lookup for its layers, its input spec from itself or given)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from timm.data import resolve_model_data_config
from torch import nn

from camviz.data.preprocessing import Preprocessing
from camviz.discovery.families import FAMILIES
from camviz.discovery.layers import TargetLayers, resolve_targets
from camviz.discovery.options import ModelOptions
from camviz.discovery.output_kind import OutputKind
from camviz.discovery.spec import InputSpec, as_size, height_width, input_channels
from camviz.errors import UsageError
from camviz.run.model import resolve_model


@dataclass(frozen=True, kw_only=True)
class ModelSetup:
    """A model resolved for explaining: what runs, its layers, how it sees images and reads its output."""

    owner: nn.Module  # the model whose state is kept (a LightningModule around the classifier, say)
    forward: nn.Module  # what the CAM runs: the classifier, its output read as logits
    targets: TargetLayers
    preprocessing: Preprocessing
    output_kind: OutputKind
    class_names: list[str]


class LogitsOf(nn.Module):
    """A classifier whose forward may return a `ModelOutput` (transformers), returning its logits tensor instead.

    A wrapper, so the caller's model gets no hook of camviz's; its layers are still found on the model itself."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        output = self.model(inputs)
        return output.logits if hasattr(output, "logits") else output


def setup_for_checkpoint(options: ModelOptions) -> ModelSetup:
    """A checkpoint file or folder resolved by `resolve_model`, the one step every CLI command takes."""
    resolved = resolve_model(options)
    return ModelSetup(owner=resolved.model, forward=resolved.model, targets=resolved.targets,
                      preprocessing=resolved.preprocessing, output_kind=resolved.loaded.output_kind,
                      class_names=resolved.class_names)


def setup_for_module(model: nn.Module, settings: ModelOptions, owner: nn.Module | None = None) -> ModelSetup:
    """An `nn.Module` in memory: spec explicit > its own config (timm, transformers) > 224 px and ImageNet; layers by
    the family lookup; output kind given or from its head. Call under `model_state_kept` (it may run a dry pass)."""
    spec = module_input_spec(model, settings)
    forward = LogitsOf(model)
    logits = _logit_count(model, forward, spec)
    config = getattr(model, "config", None)
    multi_label = getattr(config, "problem_type", None) == "multi_label_classification"
    kind = OutputKind.for_head(logits, settings.output, recorded_multilabel=multi_label, threshold=settings.threshold)
    recorded = list(settings.class_names) if settings.class_names else _config_labels(config)
    names = kind.class_names(recorded) or [str(i) for i in range(kind.class_count(logits))]
    _check_class_count(names, kind.class_count(logits))
    targets = resolve_targets(model, settings.name or _model_name(model), list(settings.target_layers) or None,
                              spec.size, families=(*settings.families, *FAMILIES))
    return ModelSetup(owner=owner or model, forward=forward, targets=targets, preprocessing=Preprocessing.for_input(spec),
                      output_kind=kind, class_names=names)


def module_input_spec(model: nn.Module, settings: ModelOptions) -> InputSpec:
    """Channels from the first convolution; size and mean/std given, else the model's config, else timm's defaults."""
    config = getattr(model, "config", None)  # transformers
    timm_config = resolve_model_data_config(model)  # timm's pretrained_cfg, else 224 px and ImageNet
    configured = getattr(config, "image_size", None)
    size = as_size(settings.img_size) or (height_width(configured) if configured else None) or \
        height_width(timm_config["input_size"])
    channels = input_channels(model) or getattr(config, "num_channels", None) or 3
    mean = settings.mean or tuple(float(v) for v in timm_config["mean"])
    std = settings.std or tuple(float(v) for v in timm_config["std"])
    return InputSpec(int(channels), size, tuple(mean), tuple(std))


def _logit_count(model: nn.Module, forward: nn.Module, spec: InputSpec) -> int:
    """The head's width: timm's `num_classes`, transformers' `num_labels`, else one dry pass's output."""
    for value in (getattr(model, "num_classes", None), getattr(getattr(model, "config", None), "num_labels", None)):
        if isinstance(value, int) and value > 0:
            return value
    device = next(model.parameters()).device
    with torch.no_grad():
        return int(forward(torch.zeros(1, spec.channels, *spec.size, device=device)).shape[-1])


def _config_labels(config: Any) -> list[str] | None:
    """A transformers config's `id2label`, unless it is the default `LABEL_i`."""
    labels = getattr(config, "id2label", None) or {}
    names = [str(labels[key]) for key in sorted(labels, key=int)]
    return None if not names or names == [f"LABEL_{i}" for i in range(len(names))] else names


def _model_name(model: nn.Module) -> str:
    """timm's architecture name when the model has one (the family patterns read it), else its class name."""
    config = getattr(model, "pretrained_cfg", None) or {}
    return str(config.get("architecture") or type(model).__name__)


def _check_class_count(names: Sequence[str], count: int) -> None:
    if len(names) != count:
        raise UsageError(f"{len(names)} class names for a model with {count} classes")
