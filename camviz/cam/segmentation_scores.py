"""Scores of a segmentation model's explanation: the IoU of its predicted mask per class, and the share of a CAM's
energy inside a region (the predicted or the true region of the explained class).

- `iou_per_class`: for each class, |predicted == c and truth == c| / |predicted == c or truth == c| over the pixels
  that are not ignored (VOC's void), as `sklearn.metrics.jaccard_score(truth, predicted, average=None)` gives it;
  NaN for a class in neither map.
- `region_energy`: `localization.energy_in_object` (the energy-based pointing game) of the CAM in a bool region,
  except that an all-zero map has no share to give: NaN, not 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from camviz.cam.localization import energy_in_object


def iou_per_class(predicted: np.ndarray, truth: np.ndarray, classes: Sequence[int],
                  ignored: np.ndarray | None = None) -> dict[int, float]:
    """Each class's intersection over union of two label maps of one size (`ignored`: bool, pixels left out);
    NaN for a class that neither map has."""
    if predicted.shape != truth.shape or (ignored is not None and ignored.shape != truth.shape):
        raise ValueError(f"label maps of different sizes: predicted {predicted.shape}, truth {truth.shape}"
                         + (f", ignored {ignored.shape}" if ignored is not None else ""))
    if ignored is not None:
        predicted, truth = predicted[~ignored], truth[~ignored]
    scores: dict[int, float] = {}
    for label in classes:
        mine, theirs = predicted == label, truth == label
        union = np.count_nonzero(mine | theirs)
        scores[int(label)] = np.count_nonzero(mine & theirs) / union if union else math.nan
    return scores


def region_energy(cam: np.ndarray, region: np.ndarray) -> float:
    """The share of a non-negative CAM's sum inside a bool region of its size; NaN for an all-zero map."""
    if cam.shape != region.shape:
        raise ValueError(f"the CAM is {cam.shape}, the region {region.shape}: they must be one size")
    if not float(cam.sum(dtype=np.float64)) > 0:
        return math.nan
    return energy_in_object(cam, region)
