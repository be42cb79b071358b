"""camviz.cam.randomisation: each image's CAM of its own class, the random other class, the verdict's values, and
the whole test on the trained shapes classifier (the maps move once the head and last stage are random)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from camviz.cam.blocks import Blocks, cascade_blocks
from camviz.cam.engine import CamEngine
from camviz.cam.randomisation import (
    REPEATABLE,
    CannotJudge,
    RandomisationSetup,
    StepScores,
    class_cams,
    never_randomised,
    random_other_classes,
    randomisation_test,
    verdict,
)
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
    return StepScores(step=str(step), block=block, spearman=np.array(rho), ssim=np.full(len(rho), 0.5))


def test_maps_that_survive_every_random_draw_above_the_target_do_not_depend_on_the_weights() -> None:
    blocks = Blocks(["head", "norm", "blocks.11", "blocks.10"], 2, ["blocks.11"])
    cascade = [_step(1, "head", [0.99, 0.97, 0.2]), _step(2, "norm", [0.9, 0.8, 0.1]),
               _step(3, "blocks.11", [0.1, 0.0, 0.2]), _step(4, "blocks.10", [0.0, 0.1, 0.0])]
    found = verdict(cascade, blocks, [0.8, 0.95, 0.7], repeatability=1.0)
    assert found.depends_on_weights is False
    assert (found.above, found.judged, found.threshold) == (("head", "norm"), (0.8, 0.95, 0.7), 0.5)


def test_one_draw_that_changes_the_maps_is_enough_to_pass() -> None:
    blocks = Blocks(["head", "layer4.1"], 1, ["layer4.1"])
    cascade = [_step(1, "head", [0.9, 0.8, 0.95]), _step(2, "layer4.1", [0.1, np.nan, 0.2])]
    found = verdict(cascade, blocks, [0.9, 0.1, np.nan], repeatability=1.0)  # a random head row can keep a map
    assert found.depends_on_weights is True
    assert found.falls is cascade[1] and found.falls.median_spearman == pytest.approx(0.15)  # the constant map left out


def test_a_draw_below_the_threshold_passes_even_when_the_cascade_stays_high() -> None:
    blocks = Blocks(["head", "layer4.1"], 1, ["layer4.1"])
    found = verdict([_step(1, "head", [0.9, 0.8]), _step(2, "layer4.1", [0.7, 0.6])], blocks, [0.85, 0.2, 0.9],
                    repeatability=1.0)
    assert found.depends_on_weights is True and found.falls is None


def test_without_a_block_above_the_target_there_is_nothing_to_judge() -> None:
    found = verdict([_step(1, "features", [0.9])], Blocks(["features"], 0, ["features"]), [], repeatability=1.0)
    assert found.depends_on_weights is None and found.above == ()
    assert found.cannot_judge is CannotJudge.no_block_above


@pytest.mark.parametrize("repeatability", [0.3, np.nan])
def test_maps_that_differ_when_computed_twice_cannot_be_judged(repeatability: float) -> None:
    """A method that draws at random (randomcam) changes every map at every step, the untouched model's included:
    its falls say nothing about the weights."""
    blocks = Blocks(["head", "layer4.1"], 1, ["layer4.1"])
    cascade = [_step(1, "head", [0.1, 0.0]), _step(2, "layer4.1", [0.2, -0.1])]
    found = verdict(cascade, blocks, [0.05, 0.1, -0.2], repeatability=repeatability)
    assert found.depends_on_weights is None and found.cannot_judge is CannotJudge.not_repeatable
    assert verdict(cascade, blocks, [0.05], repeatability=REPEATABLE).depends_on_weights is True  # repeatable enough


def test_constant_original_maps_cannot_be_judged() -> None:
    """Every rank correlation with a constant map is undefined: that is not a fall (it used to pass the test)."""
    blocks = Blocks(["head", "layer4.1"], 1, ["layer4.1"])
    cascade = [_step(1, "head", [np.nan, np.nan]), _step(2, "layer4.1", [np.nan, np.nan])]
    found = verdict(cascade, blocks, [np.nan, np.nan], repeatability=np.nan, constant_originals=True)
    assert found.depends_on_weights is None and found.cannot_judge is CannotJudge.constant_originals
    assert found.falls is None  # an undefined median is not a fall


def test_no_defined_correlation_at_the_judged_step_cannot_be_judged_and_an_undefined_draw_is_left_out() -> None:
    blocks = Blocks(["head", "layer4.1"], 1, ["layer4.1"])
    cascade = [_step(1, "head", [np.nan, np.nan]), _step(2, "layer4.1", [0.1, 0.0])]
    found = verdict(cascade, blocks, [np.nan, np.nan], repeatability=1.0)
    assert found.depends_on_weights is None and found.cannot_judge is CannotJudge.undefined
    assert found.falls is cascade[1]
    kept = verdict(cascade, blocks, [0.9, np.nan, 0.8], repeatability=1.0)  # every map of the second draw constant
    assert kept.depends_on_weights is False and kept.cannot_judge is None


def test_parameters_outside_every_block_are_never_randomised() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model.register_parameter("pos_embed", nn.Parameter(torch.zeros(2)))
    assert never_randomised(model, Blocks(["1", "0"], 1, ["0"])) == ["pos_embed"]


def test_the_whole_test_on_the_trained_classifier(loaded: LoadedModel) -> None:
    """The maps move once the head and the last stage are random; the model keeps its weights; every map counted."""
    model, inputs, names = loaded.model, _inputs(6), ["stages.2.3"]
    before = {key: value.clone() for key, value in model.state_dict().items()}
    setup = RandomisationSetup(
        model=model, rebuild=loaded.rebuild, engine_for=lambda m: CamEngine(m, [m.get_submodule("stages.2.3")]),
        blocks=cascade_blocks(model, names, 96), output_kind=loaded.output_kind, class_names=loaded.class_names,
        num_classes=loaded.num_classes, draws=2, batch_size=4)
    counted: list[int] = []
    found = randomisation_test(setup, inputs, on_maps=counted.append)
    assert sum(counted) == setup.map_count(len(inputs))
    assert [scores.step for scores, _ in found.steps()] == ["repeat", *map(str, range(1, 9)), "random_logit"]
    assert found.repeat.median_spearman == pytest.approx(1.0) and found.verdict.repeatability == pytest.approx(1.0)
    assert found.cascade[0].block == "head" and found.cascade[3].median_spearman < 0.3
    assert len(found.judged) == 2 and found.judged[0] == found.cascade[0].median_spearman
    assert found.verdict.above == ("head",) and found.never_randomised == []
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
