"""What explaining one model needs, resolved once: from a checkpoint (exactly as `camviz explain` reads it) or from
an `nn.Module` the caller already holds (the family lookup for its layers, its input spec from itself or given)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from camviz.data.preprocessing import Preprocessing
from camviz.discovery.describe import describe, require_classifier
from camviz.discovery.families import FAMILIES
from camviz.discovery.layers import TargetLayers, resolve_targets
from camviz.discovery.logits import logits_of
from camviz.discovery.options import ModelOptions
from camviz.discovery.output_kind import OutputKind
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
        return logits_of(self.model(inputs))


def setup_for_checkpoint(options: ModelOptions) -> ModelSetup:
    """A checkpoint file or folder resolved by `resolve_model`, the one step every CLI command takes."""
    resolved = resolve_model(options)
    require_classifier(resolved.loaded.task, "explain_image, log_cams and CamCallback")
    return ModelSetup(owner=resolved.model, forward=resolved.model, targets=resolved.targets,
                      preprocessing=resolved.preprocessing, output_kind=resolved.loaded.output_kind,
                      class_names=resolved.class_names)


def setup_for_module(model: nn.Module, options: ModelOptions, owner: nn.Module | None = None) -> ModelSetup:
    """An `nn.Module` in memory, described as `load_model` describes a checkpoint's (`camviz.discovery.describe`);
    layers by the family lookup. Call under `model_state_kept` (it may run a dry pass)."""
    description = describe(model, options)
    require_classifier(description.task, "explain_image, log_cams and CamCallback")
    names = description.class_names or [str(i) for i in range(description.num_classes)]
    targets = resolve_targets(model, options.name or _model_name(model), list(options.target_layers) or None,
                              description.input.size, families=(*options.families, *FAMILIES))
    return ModelSetup(owner=owner or model, forward=LogitsOf(model), targets=targets,
                      preprocessing=Preprocessing.for_input(description.input), output_kind=description.output_kind,
                      class_names=names)


def _model_name(model: nn.Module) -> str:
    """timm's architecture name when the model has one (the family patterns read it), else its class name."""
    config = getattr(model, "pretrained_cfg", None) or {}
    return str(config.get("architecture") or type(model).__name__)
