"""What `camviz sanity` writes: `sanity.png` (a row per image, a column per step, as in Adebayo et al. 2018, fig. 2),
`sanity.csv` (image, step, block, spearman, ssim) and `sanity.txt` (the medians per step and the verdict)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camviz.cam.sanity import StepScores, Verdict
from camviz.output.figures import encode_image, heatmap, join, titled
from camviz.output.files import write_atomic
from camviz.output.manifest import defuse

FIGURE_NAME, TABLE_NAME, SUMMARY_NAME = "sanity.png", "sanity.csv", "sanity.txt"
TABLE_FIELDS = ("image", "step", "block", "spearman", "ssim")
PANEL_HEIGHT = 112  # many columns: smaller panels than the three-panel figure's


@dataclass(frozen=True)
class SanityImage:
    """One row of the figure: the image's name, the pixels the model saw, the explained class and its original CAM."""

    name: str
    pixels: np.ndarray  # uint8 [H, W, C]
    explained: str
    original: np.ndarray  # float32 [H, W] in [0, 1]


def sanity_figure(images: Sequence[SanityImage], steps: Sequence[tuple[StepScores, np.ndarray]]) -> np.ndarray:
    """RGB uint8 grid: per image the input, its original CAM, then each step's CAM titled with its block and
    its rank correlation to the original."""
    rows = []
    for i, image in enumerate(images):
        panels = [titled(_panel(_rgb(image.pixels)), f"{image.name} | explains {image.explained}"),
                  titled(_panel(heatmap(image.original)), "original | trained weights")]
        for scores, cams in steps:
            label = scores.label(i) if scores.classes is None else f"class {scores.label(i)}"
            panels.append(titled(_panel(heatmap(cams[i])), f"{label} | rho {_number(scores.spearman[i], 2)}"))
        rows.append(join(panels, axis=1))
    return join(rows, axis=0)


def _rgb(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as RGB (grey repeated)."""
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def _panel(rgb: np.ndarray) -> np.ndarray:
    """An RGB panel scaled to `PANEL_HEIGHT` rows, keeping its aspect."""
    height, width = rgb.shape[:2]
    size = (max(1, round(width * PANEL_HEIGHT / height)), PANEL_HEIGHT)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST if height < PANEL_HEIGHT else cv2.INTER_AREA)


def sanity_table(names: Sequence[str], steps: Sequence[StepScores]) -> bytes:
    """`sanity.csv`: a row per step and image; an undefined correlation (a constant map) is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TABLE_FIELDS)
    for scores in steps:
        for i, name in enumerate(names):
            writer.writerow([defuse(name), scores.step, defuse(scores.label(i)), _number(scores.spearman[i], 6),
                             _number(scores.ssim[i], 6)])
    return buffer.getvalue().encode("utf-8", "backslashreplace")


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if np.isfinite(value) else ""


def summary_lines(heading: str, cascade: Sequence[StepScores], random_logit: StepScores, verdict: Verdict,
                  kept: Sequence[str] = ()) -> list[str]:
    """The summary as the terminal and `sanity.txt` show it: the medians per step, then the verdict."""
    width = max(len(s.block) for s in cascade) + 2
    lines = [heading, f"{'step':>4}  {'randomised (with all steps above)':<{max(width, 34)}}median rho  median ssim"]
    for scores in cascade:
        lines.append(f"{scores.step:>4}  {scores.block:<{max(width, 34)}}{_median(scores.median_spearman):>10}  "
                     f"{_median(scores.median_ssim):>11}")
    lines.append(f"random logit (another class's CAM vs the explained one's): median rho "
                 f"{_median(random_logit.median_spearman)}, median ssim {_median(random_logit.median_ssim)}")
    if kept:
        lines.append(f"never randomised (outside every block): {', '.join(kept)}")
    lines.append(f"verdict: {verdict.text}")
    return lines


def _median(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "n/a"


def write_sanity_outputs(output_dir: Path, images: Sequence[SanityImage],
                         steps: Sequence[tuple[StepScores, np.ndarray]], lines: Sequence[str]) -> list[Path]:
    """Write the figure, the table and the summary into `output_dir` (atomically); return their paths."""
    figure, table, summary = (output_dir / name for name in (FIGURE_NAME, TABLE_NAME, SUMMARY_NAME))
    write_atomic(table, sanity_table([image.name for image in images], [scores for scores, _ in steps]))
    write_atomic(summary, ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace"))
    write_atomic(figure, encode_image(sanity_figure(images, steps)))
    return [figure, table, summary]
