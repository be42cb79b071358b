"""Loading a classifier for Grad-CAM: checkpoint → built model, and what camviz knows of its input, output and classes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from camviz.discovery.build import build_model
from camviz.discovery.checkpoint import read_checkpoint
from camviz.discovery.describe import ModelDescription, describe
from camviz.discovery.logits import returning_logits
from camviz.discovery.options import ModelOptions, Task
from camviz.discovery.output_kind import OutputKind
from camviz.discovery.plugins import import_plugins
from camviz.discovery.spec import InputSpec, as_size
from camviz.errors import UsageError


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """A model ready for Grad-CAM, with what camviz knows about its input, output kind and classes."""

    model: torch.nn.Module  # weights loaded, eval mode, on CPU
    model_name: str
    description: ModelDescription  # input spec, output kind, class count, class names (given or recorded)
    notes: tuple[str, ...] = ()  # what loading decided that the user should hear (prefix used, names set aside)
    rebuild: Callable[[], torch.nn.Module] | None = None  # the architecture freshly initialised; None: a pickled module

    @property
    def input(self) -> InputSpec:
        """Channels, height x width, mean/std: explicit > checkpoint > model's own config > 224 / ImageNet."""
        return self.description.input

    @property
    def task(self) -> Task:
        """classification, segmentation or detection: what the model's forward returns."""
        return self.description.task

    @property
    def output_kind(self) -> OutputKind:
        """softmax, binary or multilabel (with its threshold)."""
        return self.description.output_kind

    @property
    def num_classes(self) -> int:
        """Classes a prediction can name (2 for a one-logit binary head)."""
        return self.description.num_classes

    @property
    def class_names(self) -> list[str] | None:
        """Given or recorded class names; None: the data dir's folders or the indices name the classes."""
        return self.description.class_names


def load_model(source: str | Path | ModelOptions) -> LoadedModel:
    """Read a checkpoint (a file or a timm/Hugging Face folder), build the architecture, load the weights.

    `source`: a path, or `ModelOptions` naming the path and what overrides the checkpoint's own metadata, which
    wins over the model's own config (`name`, `img_size`: ViT/Swin are built at it, `output` with its `threshold`,
    `mean`/`std`, `class_names`). `state_prefix` picks the network in a checkpoint that wraps several (Lightning's
    `student.`/`teacher.`); see `camviz.discovery.build.fit_prefix` for the rule without it.
    """
    options = source if isinstance(source, ModelOptions) else ModelOptions(path=Path(source))
    if options.path is None:
        raise UsageError("ModelOptions.path is None: load_model reads a checkpoint file or folder")
    import_plugins(options.plugins)
    ckpt = read_checkpoint(options.path, trust=options.trust_checkpoint, use_ema=options.ema)
    size = as_size(options.img_size) or ckpt.img_size
    name = options.name or ckpt.model_name
    notes: list[str] = []
    rebuild = None
    if ckpt.module is not None:
        model = returning_logits(ckpt.module)  # its own forward: it may return a dict or a tuple led by the logits
        name = name or type(model).__name__
    elif not name:
        raise UsageError(f"{ckpt.path} does not record its architecture; pass --model-name (e.g. resnet50)")
    else:
        model, rebuild = build_model(name, ckpt, size, state_prefix=options.state_prefix, say=notes.append)
    model = _in_float32(model.cpu().eval())
    description = describe(model, options, ckpt)
    if description.task is Task.segmentation:  # torchvision's return {"out": ..., "aux": ...}, SegFormer's 1/4 size
        model = returning_logits(model)
    return LoadedModel(model=model, model_name=name, description=description,
                       notes=(*notes, *description.notes), rebuild=rebuild)


def _in_float32(model: torch.nn.Module) -> torch.nn.Module:
    """A module pickled in half or bfloat16 precision, cast to float32 (as half-precision state dicts are)."""
    low = (torch.float16, torch.bfloat16)
    if any(tensor.dtype in low for tensor in (*model.parameters(), *model.buffers())):
        model.float()
    return model
