"""The sanity checks' pieces: each image's CAM of its own class, the random other class, and the verdict."""

from __future__ import annotations

import numpy as np
import torch

from camviz.cam.blocks import Blocks
from camviz.cam.engine import CamEngine
from camviz.cam.sanity import StepScores, class_cams, random_other_classes, verdict
from camviz.demo import make_sample
from camviz.discovery.models import LoadedModel


def _inputs(count: int) -> torch.Tensor:
    rng = np.random.default_rng(4)
    pixels = np.stack([np.asarray(make_sample(rng, i % 3).image) for i in range(count)])
    return (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0 - 0.5) / 0.5


def test_class_cams_gives_every_image_the_map_of_its_own_class(loaded: LoadedModel) -> None:
    inputs, classes = _inputs(5), [2, 0, 2, 1, 0]
    target = [loaded.model.get_submodule("stages.2.3")]
    with CamEngine(loaded.model, target) as engine:
        grouped = class_cams(engine, inputs, classes, batch_size=2)
        one_by_one = [engine.compute(inputs[i : i + 1], c).cams[0] for i, c in enumerate(classes)]
    np.testing.assert_allclose(grouped, np.stack(one_by_one), atol=1e-5)


def test_the_random_other_class_is_never_the_explained_one_and_is_seeded() -> None:
    explained = [0, 1, 2, 0, 1, 2] * 20
    others = random_other_classes(explained, 3, seed=1)
    assert all(o != e and 0 <= o < 3 for o, e in zip(others, explained, strict=True))
    assert others == random_other_classes(explained, 3, seed=1)
    assert len(set(others)) == 3  # every other class gets drawn
    assert random_other_classes([0, 1], 2) == [1, 0]  # a binary head: the other one


def _step(step: int, block: str, rho: list[float]) -> StepScores:
    return StepScores(str(step), block, np.array(rho), np.full(len(rho), 0.5))


def test_maps_that_survive_every_random_draw_above_the_target_get_the_warning() -> None:
    blocks = Blocks(["head", "norm", "blocks.11", "blocks.10"], 2, ["blocks.11"])
    cascade = [_step(1, "head", [0.99, 0.97, 0.2]), _step(2, "norm", [0.9, 0.8, 0.1]),
               _step(3, "blocks.11", [0.1, 0.0, 0.2]), _step(4, "blocks.10", [0.0, 0.1, 0.0])]
    found = verdict(cascade, blocks, [0.8, 0.95, 0.7])
    assert found.depends_on_weights is False
    assert found.text.startswith("WARNING") and "(head, norm)" in found.text
    assert "0.80, 0.95, 0.70 over 3 random initialisations" in found.text


def test_one_draw_that_changes_the_maps_is_enough_to_pass() -> None:
    blocks = Blocks(["head", "layer4.1"], 1, ["layer4.1"])
    cascade = [_step(1, "head", [0.9, 0.8, 0.95]), _step(2, "layer4.1", [0.1, np.nan, 0.2])]
    found = verdict(cascade, blocks, [0.9, 0.1, np.nan])  # a random head row can keep the map by chance
    assert found.depends_on_weights is True
    assert "0.90, 0.10, undefined (constant maps) over 3 random initialisations" in found.text
    assert "falls to 0.15 once layer4.1 is randomised (step 2)" in found.text  # the constant map left out


def test_a_draw_below_the_threshold_passes_even_when_the_cascade_stays_high() -> None:
    blocks = Blocks(["head", "layer4.1"], 1, ["layer4.1"])
    found = verdict([_step(1, "head", [0.9, 0.8]), _step(2, "layer4.1", [0.7, 0.6])], blocks, [0.85, 0.2, 0.9])
    assert found.depends_on_weights is True and "stays at or above that down to the input" in found.text


def test_without_a_block_above_the_target_there_is_nothing_to_judge() -> None:
    found = verdict([_step(1, "features", [0.9])], Blocks(["features"], 0, ["features"]), [])
    assert found.depends_on_weights is None and "--target-layer" in found.text
