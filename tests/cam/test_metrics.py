"""camviz.cam.metrics: pytorch-grad-cam's faithfulness scores on the trained shapes model and real Grad-CAMs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camviz.cam.engine import CamBatch
from camviz.cam.metrics import METRIC_NAMES, Scoring, faithfulness_scores, metric_names, rank_with_random_ties
from camviz.discovery.models import LoadedModel
from camviz.errors import UsageError
from tests.support.demo import explained_shapes


@pytest.fixture(scope="module")
def explained(loaded: LoadedModel) -> tuple[torch.Tensor, CamBatch]:
    """Eight fresh shapes images (the model never saw them) and their Grad-CAMs."""
    return explained_shapes(loaded, 8, seed=31337)


def test_cam_confidence_change_tells_the_real_map_from_its_inverse(loaded: LoadedModel, explained) -> None:
    inputs, batch = explained
    predicted = batch.probabilities.argmax(axis=1).tolist()
    one = Scoring(metrics=["cam_confidence_change"])
    real = faithfulness_scores(loaded.model, inputs, batch.cams, predicted, one)
    chunked = faithfulness_scores(
        loaded.model, inputs, batch.cams, predicted, Scoring(metrics=["cam_confidence_change"], batch_size=3)
    )
    np.testing.assert_allclose(chunked["cam_confidence_change"], real["cam_confidence_change"], atol=1e-5)
    inverse = faithfulness_scores(loaded.model, inputs, 1.0 - batch.cams, predicted, one)
    for scores in (real, inverse):
        assert list(scores) == ["cam_confidence_change"]
        values = scores["cam_confidence_change"]
        assert values.shape == (len(inputs),) and values.dtype == np.float32
        assert np.isfinite(values).all() and (np.abs(values) <= 1.0).all()
    assert real["cam_confidence_change"].mean() > inverse["cam_confidence_change"].mean() + 0.2


@pytest.mark.slow
def test_all_metrics_without_autograd_or_side_effects(loaded: LoadedModel, explained) -> None:
    inputs, batch = explained
    inputs, cams = inputs[:2], batch.cams[:2]  # ROAD solves a sparse system per image and percentile: few images
    predicted = batch.probabilities[:2].argmax(axis=1).tolist()
    model = loaded.model
    seen_grad: list[bool] = []
    hook = model.head.register_forward_hook(lambda module, args, output: seen_grad.append(output.requires_grad))
    torch.manual_seed(5)
    expected_next = torch.rand(3)
    torch.manual_seed(5)
    try:
        scores = faithfulness_scores(
            model, torch.cat([inputs, inputs]), np.concatenate([cams, 1.0 - cams]), predicted * 2
        )
    finally:
        hook.remove()
    assert torch.equal(torch.rand(3), expected_next)  # ROAD's imputation noise came from a forked generator
    assert torch.is_grad_enabled()
    assert seen_grad and not any(seen_grad)
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    assert list(scores) == list(METRIC_NAMES)
    for values in scores.values():
        assert values.shape == (4,) and values.dtype == np.float32 and np.isfinite(values).all()
    road = scores["road_combined"]
    assert (np.abs(road) <= 0.5).all()
    assert road[:2].mean() > road[2:].mean() + 0.2  # the real map beats its inverse under ROAD too


def test_ranks_break_ties_and_keep_order() -> None:
    cam = np.zeros((1, 10, 10), np.float32)
    cam[0, 2:5, 3:6] = np.linspace(0.1, 1.0, 9, dtype=np.float32).reshape(3, 3)
    ranked = rank_with_random_ties(cam)
    assert ranked.shape == cam.shape and ranked.dtype == np.float32
    assert len(np.unique(ranked)) == cam.size and ranked.min() == 0.0 and ranked.max() == 1.0
    assert np.array_equal(np.argsort(ranked[0, 2:5, 3:6].ravel()), np.arange(9))
    assert ranked[0, 2:5, 3:6].min() > ranked[cam == 0].max()
    assert np.array_equal(rank_with_random_ties(cam), ranked)  # seeded: repeatable


def test_bad_arguments(loaded: LoadedModel, explained) -> None:
    inputs, batch = explained
    with pytest.raises(UsageError, match="unknown metric"):
        faithfulness_scores(loaded.model, inputs, batch.cams, [0] * len(inputs), Scoring(metrics=["accuracy"]))
    with pytest.raises(ValueError, match="do not match"):
        faithfulness_scores(loaded.model, inputs, batch.cams[:3], [0] * len(inputs))


def test_metric_names_read_short_or_column_names_in_a_fixed_order() -> None:
    assert metric_names("all") == METRIC_NAMES
    assert metric_names("insertion, road") == ("road_combined", "insertion_auc")
    assert metric_names("deletion_auc,deletion,confidence") == ("cam_confidence_change", "deletion_auc")
    for bad in ("road,nonsense", "", ","):
        with pytest.raises(UsageError, match="choose from road, confidence, deletion, insertion"):
            metric_names(bad)
