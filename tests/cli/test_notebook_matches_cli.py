"""`camviz.explain_image` gives what the installed `camviz explain` script writes: the same CAM, prediction,
figure and overlay."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz import explain_image


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.process
def test_a_checkpoint_gives_the_cli_cam_prediction_and_figure(camviz, trained_checkpoint: Path, circle_image: Path,
                                                             tmp_path: Path) -> None:
    result = camviz("explain", "--model-path", trained_checkpoint, "--image-path", circle_image, "--save-raw",
                    "--output-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    explained = explain_image(trained_checkpoint, circle_image)
    raw = np.load(tmp_path / "circle_000_gradcam.npy")
    assert explained.cam.dtype == np.float32 and explained.cam.shape == raw.shape == (96, 96)
    assert np.abs(explained.cam - raw).max() <= 1e-6
    assert explained.prediction == explained.explained == "circle"
    assert explained.probability == pytest.approx(float(explained.probabilities.max()))
    assert np.array_equal(explained.figure(), _rgb(tmp_path / "circle_000_gradcam.png"))  # titles: prediction, p
    assert np.array_equal(explained.overlay, _rgb(tmp_path / "circle_000_gradcam_overlay.png"))
    assert explained.overlay.dtype == np.uint8 and explained.overlay.shape == (96, 96, 3)
