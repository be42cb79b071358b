"""Loading a classifier for Grad-CAM: checkpoint → built model, and what camviz knows of its input, output and classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from timm.data import resolve_model_data_config

from camviz.discovery.build import build_model
from camviz.discovery.checkpoint import Checkpoint, read_checkpoint
from camviz.discovery.options import ModelOptions
from camviz.discovery.output_kind import OutputKind
from camviz.discovery.plugins import import_plugins
from camviz.discovery.spec import ImageSize, InputSpec, as_size, input_channels
from camviz.errors import CheckpointError, UsageError


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """A model ready for Grad-CAM, with what camviz knows about its input, output kind and classes."""

    model: torch.nn.Module  # weights loaded, eval mode, on CPU
    model_name: str
    num_classes: int  # classes a prediction can name (2 for a one-logit binary head)
    class_names: list[str] | None  # from the checkpoint only
    input: InputSpec  # explicit > checkpoint > model's own config > 224 / ImageNet
    output_kind: OutputKind = field(default_factory=OutputKind)  # softmax, binary or multilabel (with its threshold)
    notes: tuple[str, ...] = ()  # what loading decided that the user should hear (prefix used, names set aside)
    rebuild: Callable[[], torch.nn.Module] | None = None  # the architecture freshly initialised; None: a pickled module


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
        model = ckpt.module
        name = name or type(model).__name__
    elif not name:
        raise UsageError(f"{ckpt.path} does not record its architecture; pass --model-name (e.g. resnet50)")
    else:
        model, rebuild = build_model(name, ckpt, size, state_prefix=options.state_prefix, on_note=notes.append)
    model = _in_float32(model.cpu().eval())
    spec = _input_spec(model, ckpt, size, options)
    logits = _num_classes(model, spec, ckpt.num_classes)
    kind = OutputKind.for_head(logits, options.output, recorded_multilabel=bool(ckpt.multi_label),
                               threshold=options.threshold)
    count = kind.class_count(logits)
    if options.class_names is not None:
        names: list[str] | None = checked_class_names(options.class_names, count)
    else:
        names = fitting_class_names(kind.class_names(ckpt.class_names), count, notes.append)
    return LoadedModel(model=model, model_name=name, num_classes=count, class_names=names, input=spec,
                       output_kind=kind, notes=tuple(notes), rebuild=rebuild)


def checked_class_names(names: Sequence[str], count: int) -> list[str]:
    """Class names the user gave: exactly one per class the head predicts."""
    if len(names) != count:
        raise UsageError(f"{len(names)} class names for a model with {count} classes")
    return list(names)


def _in_float32(model: torch.nn.Module) -> torch.nn.Module:
    """A module pickled in half or bfloat16 precision, cast to float32 (as half-precision state dicts are)."""
    low = (torch.float16, torch.bfloat16)
    if any(tensor.dtype in low for tensor in (*model.parameters(), *model.buffers())):
        model.float()
    return model


def fitting_class_names(names: list[str] | None, count: int, warn: Callable[[str], None]) -> list[str] | None:
    """Recorded class names usable as keys: None (with a warning) when their count is not the head's;
    duplicates made distinct as `cat (2)` (with a warning)."""
    if not names:
        return None
    if len(names) != count:
        warn(f"the checkpoint records {len(names)} class names for a head of {count} classes; the names are set "
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
        warn(f"the checkpoint's class names repeat {repeated}; later ones are renamed ({', '.join(renamed)}) "
             "so each class keeps its own name in the manifest, the figure names and the confusion matrix")
    return distinct


def _input_spec(model: torch.nn.Module, ckpt: Checkpoint, size: ImageSize | None, options: ModelOptions) -> InputSpec:
    """Channels from the first layer, size and normalisation: explicit > checkpoint > model's config > defaults."""
    config = resolve_model_data_config(model)
    channels = input_channels(model) or ckpt.in_chans or 3
    mean = options.mean or ckpt.mean or tuple(float(v) for v in config["mean"])
    std = options.std or ckpt.std or tuple(float(v) for v in config["std"])
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
