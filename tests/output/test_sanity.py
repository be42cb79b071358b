"""camviz.output.sanity: the grid (a row per image, a column per step), the table, the summary lines and the
verdict in words."""

from __future__ import annotations

import csv
import io

import numpy as np

from camviz.cam.blocks import Blocks
from camviz.cam.checks import CONSTANT_CAM_WARNING
from camviz.cam.randomisation import CannotJudge, OriginalMaps, RandomisationResult, StepScores, Verdict
from camviz.cam.randomise import Drawn
from camviz.output.sanity import (
    PANEL_HEIGHT,
    DrawnNotes,
    SanityHeading,
    SanityImage,
    sanity_figure,
    sanity_table,
    summary_lines,
    verdict_text,
)


def _image(name: str, size: int = 96) -> SanityImage:
    ramp = np.linspace(0, 1, size * size, dtype=np.float32).reshape(size, size)
    return SanityImage(name=name, pixels=np.full((size, size, 3), 128, np.uint8), explained="circle", original=ramp)


def _steps(count: int) -> list[tuple[StepScores, np.ndarray]]:
    cams = np.random.default_rng(0).random((2, 96, 96), dtype=np.float32)
    steps = [(StepScores(step=str(k), block=f"layer{k}", spearman=np.array([0.5, np.nan]),
                         ssim=np.array([0.25, 0.125])), cams) for k in range(1, count + 1)]
    logit = StepScores(step="random_logit", block="another class", spearman=np.array([0.1, 0.2]),
                       ssim=np.array([0.3, 0.4]), classes=["square", "triangle"])
    return [*steps, (logit, cams)]


def test_the_grid_has_a_row_per_image_and_a_column_per_step() -> None:
    grid = sanity_figure([_image("a.png"), _image("b.png")], _steps(3))
    columns = 2 + 3 + 1  # input, original, three steps, the random logit
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    assert grid.shape[1] == columns * PANEL_HEIGHT + (columns - 1) * 12
    assert grid.shape[0] == 2 * (PANEL_HEIGHT + 48) + 12


def test_the_table_leaves_undefined_correlations_empty_and_defuses_names() -> None:
    steps = [scores for scores, _ in _steps(1)]
    rows = list(csv.reader(io.StringIO(sanity_table(["=cmd.png", "b.png"], steps).decode())))
    assert rows == [["image", "step", "block", "spearman", "ssim", "drawn_by_camviz"],
                    ["'=cmd.png", "1", "layer1", "0.500000", "0.250000", ""],
                    ["b.png", "1", "layer1", "", "0.125000", ""],
                    ["'=cmd.png", "random_logit", "square", "0.100000", "0.300000", ""],
                    ["b.png", "random_logit", "triangle", "0.200000", "0.400000", ""]]


def test_values_camviz_drew_are_named_per_block_in_the_table_the_figure_and_the_summary() -> None:
    drawn = DrawnNotes.of({f"layer{k}.bn2.weight": Drawn.zero_init for k in (1, 2, 3, 4)}
                          | {"head.weight": Drawn.zero_init}, ["head", "layer4", "layer3", "layer2", "layer1"])
    assert drawn.by_block == {"layer1": "bn2.weight (zero-initialised)", "layer2": "bn2.weight (zero-initialised)",
                              "layer3": "bn2.weight (zero-initialised)", "layer4": "bn2.weight (zero-initialised)",
                              "head": "weight (zero-initialised)"}
    assert drawn.lines == ["zero in a fresh build (a residual branch that adds nothing, a head that passes no "
                           "gradient), so given random values by camviz: bn2.weight in layer1, layer2, ..., layer4 "
                           "(4 blocks); weight in head"]
    steps = _steps(2)
    rows = list(csv.DictReader(io.StringIO(sanity_table(["a.png", "b.png"], [s for s, _ in steps], drawn).decode())))
    assert [row["drawn_by_camviz"] for row in rows] == ["bn2.weight (zero-initialised)"] * 4 + ["", ""]
    plain, marked = (sanity_figure([_image("a.png"), _image("b.png")], steps, notes) for notes in (DrawnNotes(), drawn))
    assert marked.shape[0] == plain.shape[0] + 48 and marked.shape[1] == plain.shape[1]  # the footnote's band
    assert (marked[plain.shape[0]:] < 128).any()  # it holds text


def _verdict(depends: bool | None, judged: tuple[float, ...], falls: StepScores | None = None, *,
             repeatability: float = 1.0, cannot_judge: CannotJudge | None = None) -> Verdict:
    return Verdict(depends_on_weights=depends, above=("head", "norm") if depends is not None else (), judged=judged,
                   falls=falls, repeatability=repeatability,
                   cannot_judge=cannot_judge or (CannotJudge.no_block_above if depends is None else None))


def test_summary_lines_name_the_test_then_each_steps_medians_then_the_verdict() -> None:
    (first, cams), (second, _), (logit, _) = _steps(2)
    originals = np.stack([cams[0], np.full_like(cams[1], 0.25)])  # the second image's map is constant
    found = RandomisationResult(
        blocks=Blocks(["layer1", "layer2"], 1, ["layer2"]),
        original=OriginalMaps(explained=[0, 1], cams=originals, probabilities=np.full((2, 3), 1 / 3, np.float32)),
        cascade=[first, second], cascade_maps=[cams, cams], random_logit=logit, random_maps=cams,
        repeat=StepScores(step="repeat", block="none", spearman=np.array([1.0, 0.98]), ssim=np.array([1.0, 0.9])),
        repeat_maps=cams, judged=[0.5],
        verdict=_verdict(None, ()), never_randomised=["pos_embed"], drawn={"layer1.gamma": Drawn.zero_init})
    heading = SanityHeading(method="gradcam", target_layers=("layer2.1",), model_name="net", images=2, seed=7)
    lines = summary_lines(heading, found)
    assert lines[0] == ("camviz sanity: gradcam at layer2.1 of net, 2 images, 2 blocks randomised one at a time "
                        "from the output side (seed 7)")
    assert lines[1] == "repeat (the trained model's maps computed again): median rho 0.990, median ssim 0.950"
    assert lines[3].split() == ["1", "layer1", "0.500", "0.188"]  # the NaN left out of the median
    assert "median rho 0.150, median ssim 0.350" in lines[5]
    assert lines[-4].endswith("so given random values by camviz: gamma in layer1")
    assert lines[-5] == f"1 of 2 original maps are constant, so left out of every median: {CONSTANT_CAM_WARNING}"
    assert lines[-3] == "never randomised (outside every block): pos_embed"
    assert lines[-2].startswith("random logit verdict: the maps depend on the class asked for (median rank "
                                "correlation 0.15")  # another class's map is another map
    assert lines[-1].startswith("verdict: no block with weights comes after the target layer") and "--target-layer" in lines[-1]


def test_the_warning_names_the_blocks_above_and_every_draw() -> None:
    text = verdict_text(_verdict(False, (0.8, 0.95, 0.7)))
    assert text.startswith("WARNING") and "(head, norm)" in text
    assert "0.80, 0.95, 0.70 over 3 random initialisations, each >= 0.5" in text


def test_maps_that_depend_on_the_weights_say_where_the_cascade_falls() -> None:
    falls = StepScores(step="2", block="layer4.1", spearman=np.array([0.1, np.nan, 0.2]), ssim=np.zeros(3))
    text = verdict_text(_verdict(True, (0.9, 0.1, np.nan), falls))
    assert "0.90, 0.10, undefined (constant maps) over 3 random initialisations" in text
    assert "falls to 0.15 once layer4.1 is randomised (step 2)" in text
    assert "stays at or above that down to the input" in verdict_text(_verdict(True, (0.2,)))


def test_maps_that_differ_when_computed_twice_are_not_judged_and_it_says_why() -> None:
    text = verdict_text(_verdict(None, (0.1, 0.0, 0.2), repeatability=0.04, cannot_judge=CannotJudge.not_repeatable))
    assert text.startswith("cannot judge: the trained model's maps computed twice differ (median rank correlation "
                           "0.04, below 0.9)")
    assert "randomcam" in text and "depend on the learned weights" not in text and "WARNING" not in text


def test_constant_maps_are_not_judged_and_the_constant_heatmap_warning_is_given() -> None:
    text = verdict_text(_verdict(None, (np.nan,), repeatability=np.nan, cannot_judge=CannotJudge.constant_originals))
    assert text.startswith("cannot judge: every map of the trained model is constant")
    assert text.endswith(CONSTANT_CAM_WARNING)
    undefined = Verdict(depends_on_weights=None, above=("head",), judged=(np.nan, np.nan), falls=None,
                        repeatability=1.0, cannot_judge=CannotJudge.undefined)
    text = verdict_text(undefined)
    assert text.startswith("cannot judge: with every block above the target layer (head) random, every map")
    assert "each of 2 random initialisations" in text and text.endswith(CONSTANT_CAM_WARNING)


def test_a_draw_with_only_constant_maps_is_said_to_be_left_out() -> None:
    text = verdict_text(_verdict(False, (0.8, np.nan)))
    assert "0.80, undefined (constant maps) over 2 random initialisations (those where every map is constant " \
           "left out), each >= 0.5" in text
