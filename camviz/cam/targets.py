"""pytorch-grad-cam targets from the output kind: which class each image's CAM explains.

Softmax and multi-label heads explain a class's logit (`ClassifierOutputTarget`); a one-logit binary head explains
the logit for the positive class and minus it for the negative one (`BinaryClassifierOutputTarget`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from pytorch_grad_cam.utils.model_targets import BinaryClassifierOutputTarget, ClassifierOutputTarget

from camviz.discovery.output_kind import OutputKind


def batch_targets(kind: OutputKind, inputs: torch.Tensor, target_category: int | None,
                  forward: Callable[[torch.Tensor], torch.Tensor]) -> list | None:
    """Targets for a batch: the given class, else the predicted one (None: the library's argmax).

    A binary model's decided class (p >= 0.5: the logit, else minus it) comes from a `forward` pass of its own,
    so methods that score other inputs (Score-CAM, Ablation-CAM, --aug-smooth) keep explaining that class.
    """
    if not kind.is_binary:
        return None if target_category is None else [ClassifierOutputTarget(target_category)] * len(inputs)
    if target_category is not None:
        return [BinaryClassifierOutputTarget(target_category)] * len(inputs)
    with torch.no_grad():
        logits = forward(inputs).reshape(len(inputs), -1)[:, 0]
    return [BinaryClassifierOutputTarget(int(logit >= 0)) for logit in logits.tolist()]


def class_targets(classes: Sequence[int]) -> list[ClassifierOutputTarget]:
    """One target per image, each explaining its own class's logit (multi-label: one label per pass)."""
    return [ClassifierOutputTarget(category) for category in classes]
