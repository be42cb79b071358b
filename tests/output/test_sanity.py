"""camviz.output.sanity: the grid (a row per image, a column per step), the table, the summary lines."""

from __future__ import annotations

import csv
import io

import numpy as np

from camviz.cam.sanity import StepScores, Verdict
from camviz.output.sanity import PANEL_HEIGHT, SanityImage, sanity_figure, sanity_table, summary_lines


def _image(name: str, size: int = 96) -> SanityImage:
    ramp = np.linspace(0, 1, size * size, dtype=np.float32).reshape(size, size)
    return SanityImage(name, np.full((size, size, 3), 128, np.uint8), "circle", ramp)


def _steps(count: int) -> list[tuple[StepScores, np.ndarray]]:
    cams = np.random.default_rng(0).random((2, 96, 96), dtype=np.float32)
    steps = [(StepScores(str(k), f"layer{k}", np.array([0.5, np.nan]), np.array([0.25, 0.125])), cams)
             for k in range(1, count + 1)]
    logit = StepScores("random_logit", "another class", np.array([0.1, 0.2]), np.array([0.3, 0.4]),
                       ["square", "triangle"])
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
    assert rows == [["image", "step", "block", "spearman", "ssim"],
                    ["'=cmd.png", "1", "layer1", "0.500000", "0.250000"],
                    ["b.png", "1", "layer1", "", "0.125000"],
                    ["'=cmd.png", "random_logit", "square", "0.100000", "0.300000"],
                    ["b.png", "random_logit", "triangle", "0.200000", "0.400000"]]


def test_summary_lines_list_each_steps_medians_then_the_verdict() -> None:
    steps = [scores for scores, _ in _steps(2)]
    lines = summary_lines("heading", steps[:2], steps[2], Verdict(True, "fine"), kept=["pos_embed"])
    assert lines[0] == "heading"
    assert lines[2].split() == ["1", "layer1", "0.500", "0.188"]  # the NaN left out of the median
    assert "median rho 0.150, median ssim 0.350" in lines[4]
    assert lines[-2:] == ["never randomised (outside every block): pos_embed", "verdict: fine"]
