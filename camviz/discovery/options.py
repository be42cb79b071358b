"""Which model and how it is read: the loading options a user gives, one value for every command and call.

The CLI's model options, `explain_image`, `log_cams` and `CamCallback` all build this one type; discovery reads it.
What a checkpoint records (`Checkpoint`) and what discovery resolved (`LoadedModel`, `TargetLayers`) are other
concepts with their own fields. `None` means "what the checkpoint, else the model's own config, says".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from camviz.discovery.families import Family

if TYPE_CHECKING:  # this module stays light: the command line builds its values before torch is imported
    from camviz.discovery.spec import ImageSize


class Task(StrEnum):
    """What a model does with an image: names its class, labels its every pixel, or finds boxes in it."""

    classification = "classification"
    segmentation = "segmentation"
    detection = "detection"


class OutputName(StrEnum):
    """How a head's logits read: one distribution, one sigmoid logit for two classes, or a sigmoid per label."""

    softmax = "softmax"
    binary = "binary"
    multilabel = "multilabel"


@dataclass(frozen=True, kw_only=True)
class ModelOptions:
    """Which model to explain and how to read it; every field overrides what the checkpoint or model says."""

    path: Path | None = None  # a checkpoint file or folder; None: a model already in memory
    name: str | None = None  # timm/torchvision/plugin architecture name
    img_size: int | ImageSize | None = None  # one number (square) or (height, width)
    output: OutputName | None = None  # softmax | binary | multilabel; None: the checkpoint's flag, else the head's
    threshold: float = 0.5  # multilabel: labels at or above it are the prediction
    mean: tuple[float, ...] | None = None  # the input's normalisation
    std: tuple[float, ...] | None = None
    class_names: tuple[str, ...] | None = None  # one per class the head predicts
    target_layers: tuple[str, ...] = ()  # dotted paths; (): the family lookup
    families: tuple[Family, ...] = ()  # extra family-table rows (a --config preset's), tried first
    plugins: tuple[str, ...] = ()  # Python files or modules imported first (they register architectures)
    trust_checkpoint: bool = False  # allow unpickling arbitrary objects (a whole pickled nn.Module)
    ema: bool = False  # the checkpoint's EMA weights
    state_prefix: str | None = None  # the wrapped network's key prefix in a checkpoint that holds several
    cpu: bool = False  # the CPU even when CUDA or MPS is there
