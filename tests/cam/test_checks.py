"""camviz.cam.checks: a real CAM of the trained classifier passes; a flat CAM is the 'all black' warning, NaN in
the CAM blames the gradients and NaN in the model's output blames the output."""

from __future__ import annotations

import numpy as np
import pytest

from camviz import explain_image
from camviz.cam.checks import CONSTANT_CAM_WARNING, cam_problem


def test_a_real_cam_passes_and_flat_or_non_finite_ones_are_named(trained_checkpoint, circle_image) -> None:
    explained = explain_image(trained_checkpoint, circle_image)
    assert np.ptp(explained.cam) > 0.5 and cam_problem(explained.cam, explained.probabilities) is None
    assert cam_problem(np.full_like(explained.cam, 0.25)) == CONSTANT_CAM_WARNING
    nan_cam = explained.cam.copy()
    nan_cam[3, 4] = np.nan
    assert "gradients overflowed" in cam_problem(nan_cam)
    nan_output = np.array([np.nan, 0.5, 0.5])
    problem = cam_problem(explained.cam, nan_output)
    assert problem.startswith("the model's output is NaN/inf") and "gradients" not in problem


@pytest.mark.parametrize("step", [1e-7, 1e-5])
def test_the_constant_threshold_is_a_millionth(step: float) -> None:
    ramp = np.linspace(0.0, step, 16, dtype=np.float32).reshape(4, 4)
    assert (cam_problem(ramp) == CONSTANT_CAM_WARNING) is (step < 1e-6)
