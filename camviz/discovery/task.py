"""The model's task, decided once from what its forward returns: class logits `[B, C]` (a classifier), per-pixel
logits `[B, C, H, W]` (a segmentation model), or a list of `{"boxes", "labels", "scores"}` (a detector).

Every later stage dispatches on this value (`ModelDescription.task`), as it does on the output kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from camviz.discovery.logits import at_input_size, logits_of
from camviz.discovery.options import Task
from camviz.discovery.spec import InputSpec


def task_of_output(output: Any) -> Task:
    """The task a forward's output shows: detections (a list of dicts with `boxes`), per-pixel logits (a 4-D
    tensor), else class logits."""
    if isinstance(output, (list, tuple)) and output and all(isinstance(o, Mapping) and "boxes" in o for o in output):
        return Task.detection
    logits = logits_of(output)
    if torch.is_tensor(logits) and logits.ndim == 4:
        return Task.segmentation
    return Task.classification


def dry_output(model: nn.Module, spec: InputSpec) -> Any:
    """The model's output for one zero image of its input size (logits at that size), or None when it fails."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    inputs = torch.zeros(1, spec.channels, *spec.size, device=device)
    try:
        with torch.no_grad():
            output = model(inputs)
    except Exception:
        return None
    return at_input_size(logits_of(output), inputs) if task_of_output(output) is not Task.detection else output
