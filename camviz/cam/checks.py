"""Whether a CAM can be trusted as it is: finite values, and some variation."""

from __future__ import annotations

import numpy as np

CONSTANT_CAM_WARNING = (
    "constant heatmap (the 'all black' case): the target layer may come after global pooling "
    "(see `camviz layers`, pass --target-layer), the weights may not fit the model, or the explained class "
    "has no positive evidence here (try --method gradcam++ or another --target-category)"
)


def cam_problem(cam: np.ndarray, probabilities: np.ndarray | None = None) -> str | None:
    """Why a CAM should not be trusted as is: a non-finite model output, non-finite values, or no variation
    at all; None if fine."""
    if probabilities is not None and not np.isfinite(probabilities).all():
        return ("the model's output is NaN/inf for this image (its forward pass overflowed, or its weights hold "
                "NaN/inf), so no heatmap can be computed")
    if not np.isfinite(cam).all():
        return "heatmap has NaN/inf values (the model's gradients overflowed; try --cpu or another --method)"
    if is_constant(cam):
        return CONSTANT_CAM_WARNING
    return None


def is_constant(cam: np.ndarray) -> bool:
    """Whether a CAM has no variation at all (max - min below 1e-6): it ranks no pixel above another."""
    return float(cam.max() - cam.min()) < 1e-6
