"""camviz.cam.deletion: RISE's deletion and insertion scores, checked against torchcam 0.5's
`DeletionInsertionMetric` on the same model, inputs and maps, and on what they should tell apart."""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import numpy as np
import pytest
import torch
from torchcam.metrics import DeletionInsertionMetric

from camviz.cam.deletion import blurred, removal_counts
from camviz.cam.engine import CamBatch
from camviz.cam.metrics import Scoring, faithfulness_scores, rank_with_random_ties
from camviz.discovery.models import LoadedModel
from tests.support.demo import explained_shapes

AREAS = ["deletion_auc", "insertion_auc"]


@pytest.fixture(scope="module")
def explained(loaded: LoadedModel) -> tuple[torch.Tensor, CamBatch]:
    """Six fresh shapes images (the model never saw them) and their Grad-CAMs."""
    return explained_shapes(loaded, 6, seed=4242)


class _GivenMaps:
    """torchcam's extractor interface, answering with maps computed beforehand (so both sides rank the same map)."""

    def __init__(self, model: torch.nn.Module, maps: torch.Tensor) -> None:
        self.model = model
        self.maps = maps

    def __call__(self, class_idx: object = None, scores: object = None, normalized: bool = True, **_: object):
        return [self.maps]

    def fuse_cams(self, cams: list[torch.Tensor]) -> torch.Tensor:
        return cams[0]

    def _hooks_off(self) -> nullcontext:
        return nullcontext()


def _torchcam(model: torch.nn.Module, image: torch.Tensor, ranked: np.ndarray, category: int,
              baseline: torch.Tensor | None) -> dict[str, float]:
    metric = DeletionInsertionMetric(_GivenMaps(model, torch.from_numpy(ranked)[None]),
                                     partial(torch.softmax, dim=-1), steps=20, baseline=baseline)
    metric.update(image[None], [category])
    return metric.summary()


@pytest.mark.slow
def test_deletion_and_insertion_match_torchcam(loaded: LoadedModel, explained) -> None:
    inputs, batch = explained
    predicted = batch.probabilities.argmax(axis=1).tolist()
    ours = faithfulness_scores(loaded.model, inputs, batch.cams, predicted, Scoring(metrics=AREAS, batch_size=4))
    ranked = rank_with_random_ties(batch.cams)  # distinct values: torchcam's stable sort sees the same order
    for i, (image, category) in enumerate(zip(inputs, predicted, strict=True)):
        zero = _torchcam(loaded.model, image, ranked[i], category, None)  # torchcam's default baseline: zeros
        blur = _torchcam(loaded.model, image, ranked[i], category, blurred(image[None])[0])
        assert ours["deletion_auc"][i] == pytest.approx(zero["deletion_auc"], abs=1e-4)
        assert ours["insertion_auc"][i] == pytest.approx(blur["insertion_auc"], abs=1e-4)


@pytest.mark.slow
def test_a_trained_models_map_beats_its_inverse(loaded: LoadedModel, explained) -> None:
    inputs, batch = explained
    predicted = batch.probabilities.argmax(axis=1).tolist()
    real = faithfulness_scores(loaded.model, inputs, batch.cams, predicted, Scoring(metrics=AREAS))
    inverse = faithfulness_scores(loaded.model, inputs, 1.0 - batch.cams, predicted, Scoring(metrics=AREAS))
    for scores in (real, inverse):
        for values in scores.values():
            assert values.dtype == np.float32 and ((values >= 0) & (values <= 1)).all()
    assert real["deletion_auc"].mean() < inverse["deletion_auc"].mean() - 0.1
    # at 96 px RISE's 11-pixel blur leaves the shape recognisable: insertion starts high for any order
    assert real["insertion_auc"].mean() > inverse["insertion_auc"].mean() + 0.02
    assert real["insertion_auc"].mean() > real["deletion_auc"].mean()


def test_the_schedule_ends_with_every_pixel() -> None:
    assert removal_counts(10, 4) == [0, 3, 6, 9, 10]
    assert removal_counts(96 * 96)[-2:] == [19 * 461, 96 * 96] and len(removal_counts(96 * 96)) == 21
