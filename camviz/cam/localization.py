"""How well a CAM finds the object: the pointing game, the energy inside the object, and the IoU of the thresholded map.

All three are measured at the original image's scale: the CAM (at the model's input size, in [0, 1]) is resized
bilinearly (OpenCV) to the object mask's size first.

- `pointing_hit` (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016): 1 when the CAM's
  maximum lies within `POINTING_TOLERANCE` = 15 pixels of the object, as TorchRay's `PointingGame.evaluate` tests
  it (some object pixel at squared distance < 15**2 from the point), else 0. Ties: the first maximum in row order.
- `energy_in_object` (the energy-based pointing game of Wang et al., "Score-CAM", CVPR-W 2020; Quantus's
  `AttributionLocalisation`): the CAM's mass inside the object over its total mass (0 for an all-zero map).
- `iou`: the pixels where the CAM is at least 0.5 against the object, intersection over union.
"""

from __future__ import annotations

import cv2
import numpy as np

POINTING_TOLERANCE = 15
IOU_THRESHOLD = 0.5
LOCALIZATION_NAMES: tuple[str, ...] = ("pointing_hit", "energy_in_object", "iou")


def cam_at_size(cam: np.ndarray, height: int, width: int) -> np.ndarray:
    """A [H, W] CAM resized (bilinear) to `height` x `width`, float32."""
    cam = np.asarray(cam, np.float32)
    if cam.shape == (height, width):
        return cam
    return cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)


def pointing_hit(cam: np.ndarray, mask: np.ndarray, tolerance: int = POINTING_TOLERANCE) -> bool:
    """Whether the CAM's maximum (same size as `mask`) lies within `tolerance` pixels of an object pixel."""
    y, x = (int(i) for i in np.unravel_index(int(np.argmax(cam)), cam.shape))
    top, left = max(0, y - tolerance), max(0, x - tolerance)
    window = mask[top : y + tolerance + 1, left : x + tolerance + 1]
    rows, cols = np.nonzero(window)
    return bool(((rows + top - y) ** 2 + (cols + left - x) ** 2 < tolerance**2).any()) if tolerance > 0 \
        else bool(mask[y, x])


def energy_in_object(cam: np.ndarray, mask: np.ndarray) -> float:
    """The share of the CAM's mass that lies inside the object (same sizes); 0 when the map is all zero."""
    total = float(cam.sum(dtype=np.float64))
    return float(cam[mask].sum(dtype=np.float64)) / total if total > 0 else 0.0


def thresholded_iou(cam: np.ndarray, mask: np.ndarray, threshold: float = IOU_THRESHOLD) -> float:
    """Intersection over union of `cam >= threshold` and the object (same sizes)."""
    region = cam >= threshold
    union = np.count_nonzero(region | mask)
    return np.count_nonzero(region & mask) / union if union else 0.0


def localization_scores(cam: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """`pointing_hit`, `energy_in_object` and `iou` of a model-size CAM against an object mask at the image's size."""
    full = cam_at_size(cam, *mask.shape)
    return {"pointing_hit": float(pointing_hit(full, mask)), "energy_in_object": energy_in_object(full, mask),
            "iou": thresholded_iou(full, mask)}
