"""camviz.cam.faithfulness_baselines: the centre and random maps, the seeded subset, the run's tally, and on the
trained shapes model (objects anywhere in the image) the CAM's deletion and insertion beside the baselines'."""

from __future__ import annotations

import numpy as np
import pytest

from camviz.cam.faithfulness_baselines import (
    FaithfulnessTally,
    baseline_maps,
    baseline_subset,
    centre_maps,
    random_maps,
)
from camviz.cam.metrics import Scoring, faithfulness_scores
from camviz.discovery.models import LoadedModel
from tests.support.demo import explained_shapes

AREAS = ("deletion_auc", "insertion_auc")


def test_the_centre_map_peaks_at_the_centre_and_falls_off_evenly() -> None:
    maps = centre_maps(2, 9, 13)
    assert maps.shape == (2, 9, 13) and maps.dtype == np.float32 and np.array_equal(maps[0], maps[1])
    assert np.unravel_index(maps[0].argmax(), (9, 13)) == (4, 6)
    assert np.allclose(maps[0], maps[0][::-1, ::-1]) and maps[0, 0, 0] < maps[0, 2, 3] < maps[0, 4, 6]


def test_random_maps_follow_the_image_index_not_the_batch() -> None:
    together = random_maps([3, 8], 5, 5)
    assert np.array_equal(together[1], random_maps([8], 5, 5)[0])
    assert not np.array_equal(together[0], together[1]) and together.min() >= 0 and together.max() < 1
    assert np.array_equal(baseline_maps("random", [3], 5, 5)[0], together[0])


def test_the_subset_is_seeded_and_bounded() -> None:
    chosen = baseline_subset(range(100), seed=1, count=10)
    assert len(chosen) == 10 and chosen <= set(range(100)) and chosen == baseline_subset(range(99, -1, -1), 1, 10)
    assert chosen != baseline_subset(range(100), seed=2, count=10)
    assert baseline_subset([4, 7], seed=0) == {4, 7}


def test_the_tally_reports_means_times_and_who_beats_whom() -> None:
    tally = FaithfulnessTally()
    tally.timed({"deletion_auc": 2.0}, 4)
    tally.timed({"deletion_auc": 1.0}, 2)
    tally.scored(None, {"deletion_auc": [0.2, 0.4], "insertion_auc": [0.5, 0.7]})
    tally.scored("centre", {"deletion_auc": [0.1, 0.3], "insertion_auc": [0.2, 0.4]})
    report = tally.report()
    assert report.seconds_per_image == {"deletion_auc": 0.5} and report.baseline_images == 2
    assert report.cam_means == pytest.approx({"deletion_auc": 0.3, "insertion_auc": 0.6})
    assert not report.beats("deletion_auc", "centre") and report.beats("insertion_auc", "centre")


@pytest.mark.slow
def test_the_trained_models_cams_beat_the_baselines_under_deletion_only(loaded: LoadedModel) -> None:
    """Deletion credits the CAM; insertion from a blurred copy does not on this model (a blurred shape is still
    recognisable, so restoring any pixels first does about as well): the baselines are what tell the two apart."""
    inputs, batch = explained_shapes(loaded, 12, seed=2929)
    predicted = batch.probabilities.argmax(axis=1).tolist()
    scoring, tally = Scoring(metrics=AREAS, batch_size=12), FaithfulnessTally()
    tally.scored(None, faithfulness_scores(loaded.model, inputs, batch.cams, predicted, scoring))
    for name in ("centre", "random"):
        maps = baseline_maps(name, list(range(12)), *inputs.shape[-2:])
        tally.scored(name, faithfulness_scores(loaded.model, inputs, maps, predicted, scoring))
    report = tally.report()
    assert report.baseline_images == 12
    assert report.cam_means["deletion_auc"] < report.baseline_means["random"]["deletion_auc"] - 0.01
    assert report.cam_means["deletion_auc"] < report.baseline_means["centre"]["deletion_auc"] - 0.05
    assert not report.beats("insertion_auc", "centre") and not report.beats("insertion_auc", "random")
