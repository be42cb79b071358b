"""What camviz knows of a model's input, output and classes, decided in one order for a checkpoint's model and a
model in memory alike: the user's options > what the checkpoint records > the model's own config (a transformers
`config`, timm's `pretrained_cfg`) > a dry forward pass > defaults (224 px, ImageNet's mean and std).

`load_model` describes what it built; `explain_image`, `log_cams` and the callback describe the model they are
given with the same function, so a fix here reaches them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from timm.data import resolve_model_data_config
from torch import nn

from camviz.discovery.checkpoint import Checkpoint
from camviz.discovery.detectors import detector_class_count, detector_data_config
from camviz.discovery.options import ModelOptions, OutputName, Task
from camviz.discovery.output_kind import OutputKind
from camviz.discovery.spec import (
    ImageSize,
    InputSpec,
    as_size,
    height_width,
    input_channels,
    per_channel,
    usable_normalisation,
)
from camviz.discovery.task import dry_output, task_of_output
from camviz.errors import CheckpointError, Say, UsageError


@dataclass(frozen=True, kw_only=True)
class ModelDescription:
    """A model's input spec, how its output reads, its classes, and what deciding them noted for the user."""

    input: InputSpec  # channels, height x width, mean/std
    task: Task = Task.classification  # recorded, else what the forward returns: class logits, per-pixel logits, boxes
    output_kind: OutputKind  # softmax, binary or multilabel (with its threshold)
    num_classes: int  # classes a prediction can name (2 for a one-logit binary head)
    class_names: list[str] | None  # given, recorded or configured; None: the data dir's folders or the indices
    notes: tuple[str, ...] = ()  # names set aside or renamed


def describe(model: nn.Module, options: ModelOptions, recorded: Checkpoint | None = None) -> ModelDescription:
    """The model's description: `options` > `recorded` (a checkpoint's metadata) > its own config > defaults."""
    notes: list[str] = []
    spec = input_spec(model, options, recorded)
    output = dry_output(model, spec)
    task = (recorded.task if recorded else None) or (task_of_output(output) if output is not None else Task.classification)
    logits = logit_count(model, output, recorded.num_classes if recorded else None)
    kind = OutputKind.for_head(logits, options.output if task is Task.classification else None, recorded_multilabel=_records_multilabel(model, recorded),
                               threshold=options.threshold)
    if task is Task.detection:  # a one-class detector's labels name that class alone, not a binary head's two
        kind = OutputKind.for_head(logits, OutputName.softmax)
    count = kind.class_count(logits)
    if options.class_names is not None:
        names: list[str] | None = checked_class_names(options.class_names, count)
    else:
        configured = recorded.class_names if recorded and recorded.class_names else _config_labels(model)
        names = fitting_class_names(kind.class_names(configured), count, notes.append)
    return ModelDescription(input=spec, task=task, output_kind=kind, num_classes=count, class_names=names, notes=tuple(notes))


def require_classifier(task: Task, what: str) -> None:
    """Refuse a model that is not a classifier where only classifiers are explained (`what`: who refuses)."""
    if task is not Task.classification:
        raise UsageError(f"{what} explains classifiers; this model is a {task.value} model (camviz explain "
                         "explains it, with a figure and a manifest row per class region or detection)")


def input_spec(model: nn.Module, options: ModelOptions, recorded: Checkpoint | None = None) -> InputSpec:
    """Channels from the first convolution, else recorded or configured, else 3; size and normalisation given, else
    recorded, else the model's config (transformers' `image_size`, timm's `pretrained_cfg`), else 224 / ImageNet."""
    config = getattr(model, "config", None)  # transformers
    timm_config = detector_data_config(model) or resolve_model_data_config(model)  # a torchvision detector's own
    # input; timm's pretrained_cfg; else 224 px and ImageNet
    configured = getattr(config, "image_size", None)
    size: ImageSize = as_size(options.img_size) or (recorded.img_size if recorded else None) or \
        (height_width(configured) if configured else None) or height_width(timm_config["input_size"])
    channels = input_channels(model) or (recorded.in_chans if recorded else None) or \
        getattr(config, "num_channels", None) or 3
    mean = given_normalisation(options.mean, "mean") or (recorded.mean if recorded else None) or \
        tuple(float(v) for v in timm_config["mean"])
    std = given_normalisation(options.std, "std") or (recorded.std if recorded else None) or \
        tuple(float(v) for v in timm_config["std"])
    return InputSpec(channels=int(channels), size=size, mean=tuple(mean), std=tuple(std))


def given_normalisation(values: Sequence[float] | None, what: str) -> tuple[float, ...] | None:
    """A user's `--mean`/`--std`: one number (for every channel) or three, finite; a std positive."""
    if values is None:
        return None
    numbers = per_channel(values)
    if numbers is None or not usable_normalisation(numbers, divides=what == "std"):
        rule = "finite and positive" if what == "std" else "finite"
        raise UsageError(f"--{what} must be one number or three (one per channel), {rule} (got {list(values)})")
    return numbers


def logit_count(model: nn.Module, output: object, recorded: int | None = None) -> int:
    """The head's width: timm's `num_classes`, transformers' `num_labels`, else the dry forward's `output` (its
    channels: `[B, C]` or per pixel `[B, C, H, W]`), else the recorded; a torchvision detector's class head."""
    for value in (detector_class_count(model), getattr(model, "num_classes", None),
                  getattr(getattr(model, "config", None), "num_labels", None)):
        if isinstance(value, int) and value > 0:
            return value
    if torch.is_tensor(output) and output.ndim >= 2:
        return int(output.shape[1] if output.ndim == 4 else output.shape[-1])
    if recorded:
        return recorded
    raise CheckpointError("cannot tell how many classes the model has: a dry forward pass failed or returned no "
                          "logits")


def checked_class_names(names: Sequence[str], count: int) -> list[str]:
    """Class names the user gave: exactly one per class the head predicts."""
    if len(names) != count:
        raise UsageError(f"{len(names)} class names for a model with {count} classes")
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise UsageError(f"class names must differ: {', '.join(repeated)} repeated")
    return list(names)


def fitting_class_names(names: list[str] | None, count: int, say: Say) -> list[str] | None:
    """Recorded class names usable as keys: None (with a warning) when their count is not the head's;
    duplicates made distinct as `cat (2)` (with a warning)."""
    if not names:
        return None
    if len(names) != count:
        say(f"the checkpoint records {len(names)} class names for a head of {count} classes; the names are set "
             "aside (the data dir's folders or the indices name the classes)")
        return None
    recorded, used, distinct = set(names), set(), []
    for name in names:
        spelled, copy = name, 1
        while spelled in used or (spelled != name and spelled in recorded):
            copy += 1
            spelled = f"{name} ({copy})"
        used.add(spelled)
        distinct.append(spelled)
    renamed = [new for old, new in zip(names, distinct, strict=True) if old != new]
    if renamed:
        repeated = ", ".join(dict.fromkeys(n for n in names if names.count(n) > 1))
        say(f"the checkpoint's class names repeat {repeated}; later ones are renamed ({', '.join(renamed)}) "
             "so each class keeps its own name in the manifest, the figure names and the confusion matrix")
    return distinct


def _records_multilabel(model: nn.Module, recorded: Checkpoint | None) -> bool:
    """A checkpoint's `multi_label` flag, or a transformers config's `problem_type`."""
    config = getattr(model, "config", None)
    return bool(recorded and recorded.multi_label) or \
        getattr(config, "problem_type", None) == "multi_label_classification"


def _config_labels(model: nn.Module) -> list[str] | None:
    """A transformers config's `id2label`, unless it is the default `LABEL_i`."""
    labels: Any = getattr(getattr(model, "config", None), "id2label", None) or {}
    names = [str(labels[key]) for key in sorted(labels, key=int)]
    return None if not names or names == [f"LABEL_{i}" for i in range(len(names))] else names
