"""Segmentation models' CAM targets: which classes of an image are explained, and over which pixels.

For each class the model predicts on enough pixels (background set aside), the CAM of pytorch-grad-cam's
`SemanticSegmentationTarget(class, mask)`: the sum of that class's logits over its predicted region (the library's
segmentation tutorial). A one-logit (binary) head explains its foreground logit over the foreground region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

from camviz.discovery.output_kind import OutputKind

BACKGROUND_NAMES = frozenset({"background", "_background_", "__background__", "bg", "void"})


def background_classes(class_names: Sequence[str]) -> frozenset[int]:
    """The classes named as background (`background`, VOC's `__background__`, ...), never explained unless asked."""
    return frozenset(i for i, name in enumerate(class_names) if name.strip().lower() in BACKGROUND_NAMES)


@dataclass(frozen=True, kw_only=True)
class RegionChoice:
    """Which predicted classes of an image get a CAM: those on at least `min_share` of its pixels (and at least
    `min_pixels`), `background` set aside."""

    background: frozenset[int] = frozenset()
    min_share: float = 0.002
    min_pixels: int = 16

    def classes(self, predicted: np.ndarray, target_category: int | None = None) -> tuple[int, ...]:
        """The explained classes of one predicted label map, by class index (`target_category`: that one only)."""
        if target_category is not None:
            return (target_category,)
        counts = np.bincount(predicted.ravel())
        enough = max(self.min_pixels, int(np.ceil(self.min_share * predicted.size)))
        return tuple(int(c) for c in np.flatnonzero(counts >= enough) if int(c) not in self.background)


@dataclass(frozen=True, kw_only=True)
class RegionCams:
    """One image's segmentation and the CAM of each explained class."""

    predicted: np.ndarray  # int64 [H, W]: the predicted class of each pixel, at model-input size
    classes: tuple[int, ...]  # the explained classes (maybe none: nothing but background predicted)
    cams: np.ndarray  # float32 [K, H, W] in [0, 1], one per explained class
    probability: tuple[float, ...]  # each explained class's mean probability over its predicted region (NaN: empty)

    def region(self, position: int) -> np.ndarray:
        """The predicted region (bool [H, W]) of the `position`-th explained class."""
        return self.predicted == self.classes[position]


def predicted_classes(probabilities: torch.Tensor) -> torch.Tensor:
    """Each pixel's class from `[B, C, H, W]` probabilities (a binary head's `[B, 2, H, W]` too)."""
    return probabilities.argmax(dim=1)


def pixel_probabilities(kind: OutputKind, logits: torch.Tensor) -> torch.Tensor:
    """`[B, C, H, W]` probabilities: a softmax over classes; a one-logit head's `[1 - p, p]`."""
    if kind.is_binary:
        positive = torch.sigmoid(logits[:, :1])
        return torch.cat([1 - positive, positive], dim=1)
    return torch.softmax(logits, dim=1)


class _BinaryRegionTarget:
    """A one-logit head's class over a region: its logit summed over the region (class 1), minus it (class 0)."""

    def __init__(self, category: int, mask: np.ndarray) -> None:
        self.sign = 1.0 if category == 1 else -1.0
        self.mask = torch.from_numpy(mask)

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return self.sign * (model_output[0, :, :] * self.mask.to(model_output.device)).sum()


def region_target(kind: OutputKind, category: int, region: np.ndarray) -> object:
    """pytorch-grad-cam's `SemanticSegmentationTarget` for `category` over `region` (float mask); a binary head's
    logit over the region."""
    mask = region.astype(np.float32)
    return _BinaryRegionTarget(category, mask) if kind.is_binary else SemanticSegmentationTarget(category, mask)


def region_probability(probabilities: np.ndarray, region: np.ndarray) -> float:
    """A class's mean probability (`[H, W]`) over its region; NaN for an empty region."""
    return float(probabilities[region].mean()) if region.any() else float("nan")
