"""camviz.cam.road: ROAD combined with pytorch-grad-cam's numbers (its `ROADCombined` and `NoisyLinearImputer` on the
same model, inputs, maps and seed), and what the score should tell apart."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import RemoveLeastRelevantFirst, RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer, ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

from camviz.cam.engine import CamBatch
from camviz.cam.metrics import rank_with_random_ties
from camviz.cam.road import Road, impute, keep_mask, perturbed, road_combined
from camviz.cam.road_iterative import linear_fill
from camviz.discovery.models import LoadedModel
from tests.support.demo import explained_shapes

PERCENTILES = (20, 40, 60, 80)


@pytest.fixture(scope="module")
def explained(loaded: LoadedModel) -> tuple[torch.Tensor, CamBatch]:
    """Eight fresh shapes images (the model never saw them) and their Grad-CAMs."""
    return explained_shapes(loaded, 8, seed=2828)


def _library(model: torch.nn.Module, inputs: torch.Tensor, ranked: np.ndarray, categories: list[int]) -> np.ndarray:
    torch.manual_seed(5)
    targets = [ClassifierOutputSoftmaxTarget(c) for c in categories]
    with warnings.catch_warnings():  # the library calls np.float32() on torch tensors
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.asarray(ROADCombined(percentiles=list(PERCENTILES))(inputs, ranked, targets, model))


@pytest.mark.slow
def test_scores_equal_pytorch_grad_cams_road_combined_per_image(loaded: LoadedModel, explained) -> None:
    inputs, batch = explained
    categories = batch.probabilities.argmax(axis=1).tolist()
    ranked = rank_with_random_ties(batch.cams)
    expected = _library(loaded.model, inputs, ranked, categories)
    torch.manual_seed(5)
    ours = road_combined(loaded.model, inputs, ranked, categories, Road(percentiles=PERCENTILES, batch_size=5))
    assert ours.shape == (8,) and ours.dtype == np.float32
    # float32 factorisations: 1.9e-4 at most on these images (the demo model is steep near its boundaries)
    assert np.abs(ours - expected).max() < 5e-4, (ours, expected)
    assert np.ptp(expected) > 0.01  # the images score differently: the comparison could fail
    torch.manual_seed(6)  # other noise: other scores, so the seeds above really matched the library's draws
    assert np.abs(road_combined(loaded.model, inputs, ranked, categories, Road(percentiles=PERCENTILES)) - ours).max() > 0


def test_the_noiseless_fill_equals_the_librarys_imputer(explained) -> None:
    inputs, batch = explained
    image, cam = inputs[0], rank_with_random_ties(batch.cams[:1])[0]
    for percentile, most in ((20, True), (60, False)):
        keep = keep_mask(cam, percentile, most_relevant_first=most)
        assert 0 < keep.mean() < 1
        with warnings.catch_warnings():  # the library calls np.argwhere() on torch tensors
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = NoisyLinearImputer(noise=0.0)(image, torch.from_numpy(keep))
        filled = image.reshape(image.shape[0], -1).clone()
        filled[:, torch.from_numpy(keep.ravel() == 0)] = torch.from_numpy(impute(image.numpy(), keep))
        assert torch.allclose(filled.reshape_as(image), expected, atol=1e-4)
        assert not torch.allclose(expected, image, atol=1e-2)  # something was imputed


def test_the_real_map_beats_its_inverse(loaded: LoadedModel, explained) -> None:
    inputs, batch = explained
    categories = batch.probabilities.argmax(axis=1).tolist()
    real = road_combined(loaded.model, inputs[:4], rank_with_random_ties(batch.cams[:4]), categories[:4])
    inverse = road_combined(loaded.model, inputs[:4], rank_with_random_ties(1 - batch.cams[:4]), categories[:4])
    assert (np.abs(real) <= 0.5).all() and real.mean() > inverse.mean() + 0.2


def test_the_iterative_fill_equals_the_librarys_imputer(explained) -> None:
    """The conjugate-gradient solver (a CUDA run's) against `NoisyLinearImputer` on a 40 px crop, two masks at once."""
    inputs, batch = explained
    image, cam = inputs[1, :, 20:60, 30:70], rank_with_random_ties(batch.cams[1:2, 20:60, 30:70])[0]
    keeps = [keep_mask(cam, 20, most_relevant_first=True), keep_mask(cam, 40, most_relevant_first=False)]
    filled = linear_fill(image[None].repeat(2, 1, 1, 1), torch.from_numpy(np.stack(keeps))[:, None])
    with warnings.catch_warnings():  # the library calls np.argwhere() on torch tensors
        warnings.simplefilter("ignore", DeprecationWarning)
        for ours, keep in zip(filled, keeps, strict=True):
            expected = NoisyLinearImputer(noise=0.0)(image, torch.from_numpy(keep)).double()
            assert (ours - expected).abs().max() < 1e-5 and (expected - image).abs().max() > 0.05


@pytest.mark.slow
def test_iterative_scores_equal_the_librarys_too(loaded: LoadedModel, explained) -> None:
    """Three images at 48 px (the CPU runs conjugate gradients slowly), scored as on a CUDA device."""
    inputs, batch = explained
    small = torch.nn.functional.interpolate(inputs[:3], size=(48, 48), mode="bilinear", antialias=True)
    categories = batch.probabilities.argmax(axis=1).tolist()[:3]
    ranked = rank_with_random_ties(batch.cams[:3, ::2, ::2].copy())
    expected = _library(loaded.model, small, ranked, categories)
    assert np.ptp(expected) > 0.01
    torch.manual_seed(5)
    ours = road_combined(loaded.model, small, ranked, categories,
                         Road(percentiles=PERCENTILES, solver="iterative", batch_size=16))
    assert np.abs(ours - expected).max() < 1e-3, (ours, expected)


class _MaskOnly:
    """An imputer that hands back the mask the library's perturbation chose (to compare masks, not fills)."""

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return mask


def test_the_kept_pixels_are_the_librarys(explained) -> None:
    _, batch = explained
    for cam in rank_with_random_ties(batch.cams[:2]):
        for percentile in (10, 20, 50, 80, 90):
            for most, perturbation in ((True, RemoveMostRelevantFirst), (False, RemoveLeastRelevantFirst)):
                expected = perturbation(percentile, _MaskOnly())(None, torch.from_numpy(cam)).numpy()
                ours = keep_mask(cam, percentile, most_relevant_first=most)
                assert ours.dtype == np.float32 and np.array_equal(ours, expected)
                assert abs(ours.mean() - percentile / 100) < 0.01


def test_the_fill_does_not_depend_on_how_many_threads_solve_it(explained) -> None:
    inputs, batch = explained
    ranked = rank_with_random_ties(batch.cams[:3])
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 3):
            torch.set_num_threads(count)
            torch.manual_seed(9)
            results.append(perturbed(inputs[:3], ranked, Road(percentiles=PERCENTILES, solver="direct")))
    finally:
        torch.set_num_threads(threads)
    assert results[0].shape == (24, *inputs.shape[1:]) and torch.equal(results[0], results[1])
    assert (results[0][0] - inputs[0]).abs().max() > 0.05  # the first is image 0 with LeRF 20 % imputed
