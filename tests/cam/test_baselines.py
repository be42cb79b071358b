"""camviz.cam.baselines: the centre map points where TorchRay's "center" baseline points, the random map is seeded,
their scores are the localization module's own on the same masks, and the paired tests call 71 % against 70 % no
better while a clear win is one."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, wilcoxon

from camviz.cam.baselines import (
    BASELINE_NAMES,
    baseline_scores,
    center_map,
    paired_better,
    paired_p,
    random_map,
)
from camviz.cam.localization import energy_in_object, pointing_hit, thresholded_iou


def test_the_centre_map_peaks_at_the_centre_pixel_as_torchrays_center_baseline() -> None:
    for height, width in ((97, 97), (60, 81)):
        cam = center_map(height, width)
        assert np.unravel_index(cam.argmax(), cam.shape) == (height // 2, width // 2)  # TorchRay: [h // 2, w // 2]
        assert cam.max() == pytest.approx(1.0) and 0 < cam.min() < 0.2 and cam.dtype == np.float32
    assert np.allclose(center_map(40, 40), center_map(40, 40).T)  # round on a square image


def test_the_random_map_is_seeded_and_uniform() -> None:
    assert np.array_equal(random_map(30, 20, seed=3), random_map(30, 20, seed=3))
    assert not np.array_equal(random_map(30, 20, seed=3), random_map(30, 20, seed=4))
    assert 0.45 < random_map(100, 100, seed=0).mean() < 0.55


def test_baseline_scores_are_the_localization_scores_of_those_maps() -> None:
    mask = np.zeros((64, 48), bool)
    mask[24:40, 16:32] = True  # an object at the centre
    scores = baseline_scores(mask, seed=7)
    assert tuple(scores) == BASELINE_NAMES
    centre, noise = center_map(64, 48), random_map(64, 48, seed=7)
    assert scores["center_pointing_hit"] == 1.0 == float(pointing_hit(centre, mask))
    assert scores["center_energy_in_object"] == pytest.approx(energy_in_object(centre, mask))
    assert scores["center_iou"] == pytest.approx(thresholded_iou(centre, mask))
    assert scores["random_pointing_hit"] == float(pointing_hit(noise, mask))
    assert scores["random_energy_in_object"] == pytest.approx(mask.mean(), abs=0.03)  # about the object's share
    corner = np.zeros_like(mask)
    corner[:6, :6] = True
    assert baseline_scores(corner, seed=7)["center_pointing_hit"] == 0.0


def test_the_paired_tests_are_mcnemar_and_wilcoxon_one_sided() -> None:
    cam = [1] * 71 + [0] * 29
    centre = [1] * 70 + [0] * 30
    assert not paired_better(cam, centre, hits=True)  # 71 % against 70 %: one image apart
    assert paired_p(cam, centre, hits=True) == pytest.approx(binomtest(1, 1, 0.5, alternative="greater").pvalue)
    cam, centre = [1] * 30, [1] * 15 + [0] * 15
    assert paired_better(cam, centre, hits=True)  # 15 wins, no loss: p = 0.5 ** 15
    assert paired_p([1, 1], [1, 1], hits=True) == 1.0  # never differ
    rng = np.random.default_rng(0)
    base = rng.random(40)
    ahead = base + 0.1 + 0.01 * rng.random(40)
    assert paired_p(ahead, base, hits=False) == pytest.approx(wilcoxon(ahead - base, alternative="greater").pvalue)
    assert paired_better(ahead, base, hits=False) and not paired_better(base, ahead, hits=False)
    assert paired_p(base, base, hits=False) == 1.0
