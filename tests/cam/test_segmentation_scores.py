"""camviz.cam.segmentation_scores: IoU per class as scikit-learn's Jaccard score gives it (void pixels left out), and
the energy of a CAM in a region as the localization score defines it (NaN for an all-zero map)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from camviz.cam.localization import energy_in_object
from camviz.cam.segmentation_scores import iou_per_class, region_energy


def _maps(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A predicted and a true label map of 5 classes that overlap in part, and a void band."""
    generator = np.random.default_rng(seed)
    truth = np.zeros((48, 64), np.int64)
    truth[5:30, 10:40], truth[20:45, 30:60], truth[0:10, 50:64] = 1, 2, 3
    predicted = np.where(generator.random(truth.shape) < 0.2, generator.integers(0, 5, truth.shape), truth)
    predicted[30:40, 0:20] = 4  # a class only the prediction has
    ignored = np.zeros(truth.shape, bool)
    ignored[:, 62:] = True
    return predicted, truth, ignored


@pytest.mark.parametrize("seed", [0, 1])
def test_iou_per_class_is_sklearns_jaccard_score_over_the_pixels_not_ignored(seed: int) -> None:
    predicted, truth, ignored = _maps(seed)
    classes = [0, 1, 2, 3, 4, 5]  # 5: in neither map
    scores = iou_per_class(predicted, truth, classes, ignored)
    expected = jaccard_score(truth[~ignored], predicted[~ignored], labels=classes, average=None, zero_division=0)
    assert list(scores) == classes and expected[5] == 0.0  # scikit-learn: 0 for a class in neither map; here NaN
    np.testing.assert_allclose([scores[c] for c in classes[:5]], expected[:5], rtol=0, atol=1e-12)
    assert math.isnan(scores[5]) and scores[4] == 0.0 and 0.3 < scores[1] < 1.0
    unmasked = iou_per_class(predicted, truth, classes)
    assert unmasked[3] != scores[3]  # the void band is where class 3 lies in part: leaving it out changes the score
    np.testing.assert_allclose([unmasked[c] for c in classes[:5]],
                               jaccard_score(truth.ravel(), predicted.ravel(), labels=classes[:5], average=None))


def test_a_perfect_prediction_scores_one_per_present_class() -> None:
    _, truth, _ = _maps(0)
    assert iou_per_class(truth, truth, [0, 1, 2, 3]) == {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0}


def test_maps_of_different_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="different sizes"):
        iou_per_class(np.zeros((4, 4), int), np.zeros((4, 5), int), [0])


def test_region_energy_is_the_localization_energy_and_nan_for_an_all_zero_map() -> None:
    generator = np.random.default_rng(3)
    cam = generator.random((32, 32)).astype(np.float32)
    region = np.zeros((32, 32), bool)
    region[4:20, 8:30] = True
    assert region_energy(cam, region) == energy_in_object(cam, region)
    assert region_energy(cam, region) == pytest.approx(cam[region].sum() / cam.sum(), rel=1e-6)
    assert region_energy(cam, np.ones_like(region)) == pytest.approx(1.0)
    assert region_energy(cam, np.zeros_like(region)) == 0.0
    assert math.isnan(region_energy(np.zeros((32, 32), np.float32), region))
    with pytest.raises(ValueError, match="one size"):
        region_energy(cam, region[:8])
