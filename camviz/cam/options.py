"""How the CAM is made: the method, its smoothing and the class it explains; one value for every command and call."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class CamOptions:
    """A pytorch-grad-cam method, its smoothing, and the explained class (None: each image's prediction)."""

    method: str = "gradcam"  # a name in `camviz.cam.methods.METHODS` (aliases such as grad-cam++ too)
    aug_smooth: bool = False  # average over flips and scalings (test-time augmentation)
    eigen_smooth: bool = False  # keep the first principal component of the weighted activations
    target_category: int | None = None  # class index to explain; None: the predicted class
