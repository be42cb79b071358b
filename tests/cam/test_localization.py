"""camviz.cam.localization: the pointing game (with TorchRay's 15-pixel tolerance), the energy in the object and the
IoU, on real Grad-CAMs of the trained shapes model and the shapes' exact masks, checked against Quantus
(`PointingGame`, `AttributionLocalisation`) and scikit-learn (`jaccard_score`) on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
import quantus
import torch
from scipy.ndimage import distance_transform_edt
from sklearn.metrics import jaccard_score

from camviz.cam.engine import CamEngine
from camviz.cam.localization import (
    POINTING_TOLERANCE,
    cam_at_size,
    energy_in_object,
    localization_scores,
    pointing_hit,
    thresholded_iou,
)
from camviz.cam.options import CamOptions
from camviz.demo.shapes import make_arrays
from camviz.discovery.models import LoadedModel
from tests.support.demo import fresh_shapes
from tests.support.shape_masks import object_mask

SCALE = 3  # the "original" images are 3x the model's input: measured there, as users' images are


@pytest.fixture(scope="module")
def cams_and_masks(loaded: LoadedModel) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAMs of 12 fresh shapes, resized to 3x the model input, and the objects' exact masks at that size."""
    inputs, _, boxes = fresh_shapes(loaded, 12, seed=9001)
    images, _, _ = make_arrays(12, seed=9001)
    model = loaded.model
    with CamEngine(model, [model.stages[-1][-1]], None, options=CamOptions(method="gradcam")) as engine:
        cams = engine.compute(inputs).cams
    size = 96 * SCALE
    masks = np.stack([np.kron(object_mask(image, tuple(box)), np.ones((SCALE, SCALE), bool))
                      for image, box in zip(images, boxes, strict=True)])
    return np.stack([cam_at_size(cam, size, size) for cam in cams]), masks


def _quantus(metric: quantus.Metric, cams: np.ndarray, masks: np.ndarray) -> np.ndarray:
    x = np.zeros((len(cams), 3, *cams.shape[1:]), np.float32)
    return np.asarray(metric(model=None, x_batch=x, y_batch=np.zeros(len(cams), int), a_batch=cams[:, None],
                             s_batch=masks[:, None].astype(np.float32), channel_first=True), np.float64)


def test_pointing_matches_quantus_on_the_tolerance_region(cams_and_masks) -> None:
    cams, masks = cams_and_masks
    near = np.stack([distance_transform_edt(~mask) < POINTING_TOLERANCE for mask in masks])  # TorchRay's `< tol**2`
    reference = _quantus(quantus.PointingGame(disable_warnings=True), cams, near)
    ours = np.array([pointing_hit(cam, mask) for cam, mask in zip(cams, masks, strict=True)])
    assert ours.tolist() == reference.astype(bool).tolist()
    exact = _quantus(quantus.PointingGame(disable_warnings=True), cams, masks)
    assert [pointing_hit(cam, mask, tolerance=0) for cam, mask in zip(cams, masks, strict=True)] == \
        exact.astype(bool).tolist()
    assert ours.mean() >= 0.9  # the trained model points at the shape


def test_energy_matches_quantus_attribution_localisation(cams_and_masks) -> None:
    cams, masks = cams_and_masks
    reference = _quantus(quantus.AttributionLocalisation(abs=True, normalise=False, disable_warnings=True), cams, masks)
    ours = [energy_in_object(cam, mask) for cam, mask in zip(cams, masks, strict=True)]
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    assert np.mean(ours) > np.mean(masks.mean(axis=(1, 2)))  # more mass on the object than its share of the image


def test_iou_matches_scikit_learn(cams_and_masks) -> None:
    cams, masks = cams_and_masks
    for cam, mask in zip(cams, masks, strict=True):
        reference = jaccard_score(mask.ravel(), (cam >= 0.5).ravel())
        assert thresholded_iou(cam, mask) == pytest.approx(reference, abs=1e-4)


def test_the_tolerance_is_torchrays_strict_disk() -> None:
    mask = np.zeros((60, 80), bool)
    mask[30, 10] = True
    cam = np.zeros((60, 80), np.float32)
    cam[30, 25] = 1.0  # 15 px away: outside the open disk of radius 15
    assert not pointing_hit(cam, mask)
    cam[30, 25], cam[39, 21] = 0.0, 1.0  # sqrt(81 + 121) = 14.2 px away
    assert pointing_hit(cam, mask)


def test_scores_are_measured_at_the_masks_scale(cams_and_masks) -> None:
    cams, masks = cams_and_masks
    small = torch.nn.functional.avg_pool2d(torch.from_numpy(cams[:1])[None], SCALE)[0, 0].numpy()  # model-size map
    scores = localization_scores(small, masks[0])
    full = cam_at_size(small, *masks[0].shape)
    assert scores == {"pointing_hit": float(pointing_hit(full, masks[0])), "iou": thresholded_iou(full, masks[0]),
                      "energy_in_object": energy_in_object(full, masks[0])}
