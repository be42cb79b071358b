"""What `camviz sanity` writes: `sanity.png` (a row per image, a column per step, as in Adebayo et al. 2018, fig. 2),
`sanity.csv` (image, step, block, spearman, ssim, drawn_by_camviz) and `sanity.txt` (what was tested, the medians
per step and the verdict in words). The first step is the repeat: the trained model's maps computed again. A block
whose random values camviz drew itself (zero in a fresh build) is marked `*` in the figure and named in the table."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camviz.cam.checks import CONSTANT_CAM_WARNING
from camviz.cam.randomisation import (
    HIGH_RANK_CORRELATION,
    REPEAT_STEP,
    REPEATABLE,
    CannotJudge,
    Judged,
    RandomisationResult,
    StepScores,
    Verdict,
)
from camviz.cam.randomise import Drawn
from camviz.output.figures import encode_image, heatmap, join, titled
from camviz.output.files import write_atomic
from camviz.output.manifest import defuse

FIGURE_NAME, TABLE_NAME, SUMMARY_NAME = "sanity.png", "sanity.csv", "sanity.txt"
TABLE_FIELDS = ("image", "step", "block", "spearman", "ssim", "drawn_by_camviz")
PANEL_HEIGHT = 112  # many columns: smaller panels than the three-panel figure's
DRAWN_WHY = {Drawn.zero_init: "zero in a fresh build (a residual branch that adds nothing, a head that passes no "
                              "gradient), so given random values by camviz",
             Drawn.no_reset: "no reset_parameters() reaches them (a custom module's own nn.Parameters), so drawn by "
                             "camviz (uniform in +-1/sqrt(fan_in), as nn.Linear draws its weights)"}


@dataclass(frozen=True, kw_only=True)
class DrawnNotes:
    """The blocks' parameters whose values camviz drew itself, as the table, the figure and the summary say it."""

    by_block: dict[str, str] = field(default_factory=dict)  # block: `bn2.weight (zero-initialised); ...`
    lines: list[str] = field(default_factory=list)  # per reason: which parameters, in which blocks

    @classmethod
    def of(cls, drawn: Mapping[str, Drawn], blocks: Sequence[str]) -> DrawnNotes:
        """The notes for `drawn` (parameter name: why), each parameter named within its block."""
        by_block: dict[str, list[str]] = {}
        where: dict[Drawn, dict[str, list[str]]] = {}  # why: name within the block: blocks
        for name, why in drawn.items():
            block = next((b for b in blocks if name.startswith(f"{b}.")), None)
            if block is not None:
                inner = name[len(block) + 1 :]
                by_block.setdefault(block, []).append(f"{inner} ({why})")
                where.setdefault(why, {}).setdefault(inner, []).append(block)
        lines = [f"{DRAWN_WHY[why]}: " + "; ".join(f"{inner} in {_listed(found)}" for inner, found in names.items())
                 for why, names in where.items()]
        return cls(by_block={block: "; ".join(names) for block, names in by_block.items()}, lines=lines)


def _listed(blocks: Sequence[str]) -> str:
    """Block names, the middle elided past three."""
    if len(blocks) <= 3:
        return ", ".join(blocks)
    return f"{blocks[0]}, {blocks[1]}, ..., {blocks[-1]} ({len(blocks)} blocks)"


@dataclass(frozen=True, kw_only=True)
class SanityHeading:
    """What was tested on what, as the summary's first line names it."""

    method: str  # the canonical method name
    target_layers: tuple[str, ...]
    model_name: str
    images: int
    seed: int


@dataclass(frozen=True, kw_only=True)
class SanityImage:
    """One row of the figure: the image's name, the pixels the model saw, the explained class and its original CAM."""

    name: str
    pixels: np.ndarray  # uint8 [H, W, C]
    explained: str
    original: np.ndarray  # float32 [H, W] in [0, 1]


def sanity_figure(images: Sequence[SanityImage], steps: Sequence[tuple[StepScores, np.ndarray]],
                  drawn: DrawnNotes = DrawnNotes()) -> np.ndarray:
    """RGB uint8 grid: per image the input, its original CAM, then each step's CAM titled with its block (`*`: camviz
    drew some of its values, said under the grid) and its rank correlation to the original."""
    rows = []
    for i, image in enumerate(images):
        panels = [titled(small_panel(as_rgb(image.pixels)), f"{image.name} | explains {image.explained}"),
                  titled(small_panel(heatmap(image.original)), "original | trained weights")]
        for scores, cams in steps:
            label = _column_label(scores, i, drawn)
            panels.append(titled(small_panel(heatmap(cams[i])), f"{label} | rho {shown_number(scores.spearman[i], 2)}"))
        rows.append(join(panels, axis=1))
    grid = join(rows, axis=0)
    if not drawn.lines:
        return grid
    footnote = titled(np.zeros((0, grid.shape[1], 3), np.uint8), " | ".join(f"* {line}" for line in drawn.lines))
    return np.vstack([grid, footnote])


def _column_label(scores: StepScores, image: int, drawn: DrawnNotes) -> str:
    """A step's column title: the block randomised, the other class, or that the map was computed again."""
    if scores.step == REPEAT_STEP:
        return "trained, again"
    if scores.classes is not None:
        return f"class {scores.label(image)}"
    return f"{scores.block} *" if scores.block in drawn.by_block else scores.block


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as RGB (grey repeated)."""
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def small_panel(rgb: np.ndarray) -> np.ndarray:
    """An RGB panel scaled to `PANEL_HEIGHT` rows, keeping its aspect."""
    height, width = rgb.shape[:2]
    size = (max(1, round(width * PANEL_HEIGHT / height)), PANEL_HEIGHT)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST if height < PANEL_HEIGHT else cv2.INTER_AREA)


def sanity_table(names: Sequence[str], steps: Sequence[StepScores], drawn: DrawnNotes = DrawnNotes()) -> bytes:
    """`sanity.csv`: a row per step and image; an undefined correlation (a constant map) is an empty cell;
    `drawn_by_camviz` names the step's block's parameters whose values camviz drew itself, and why."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TABLE_FIELDS)
    for scores in steps:
        own = drawn.by_block.get(scores.block, "") if scores.step.isdigit() else ""
        for i, name in enumerate(names):
            writer.writerow([defuse(name), scores.step, defuse(scores.label(i)), table_number(scores.spearman[i], 6),
                             table_number(scores.ssim[i], 6), defuse(own)])
    return buffer.getvalue().encode("utf-8", "backslashreplace")


def table_number(value: float, decimals: int = 6) -> str:
    """A number as a CSV cell: `decimals` places, empty where it is undefined (NaN)."""
    return f"{value:.{decimals}f}" if np.isfinite(value) else ""


def summary_lines(heading: SanityHeading, found: RandomisationResult) -> list[str]:
    """The summary as the terminal and `sanity.txt` show it: what was tested, the repeat, the medians per step, the
    parameters never randomised, then the random logit's verdict and the cascade's."""
    lines = [_heading(heading, len(found.blocks.names) if found.cascade else 0),
             f"repeat (the trained model's maps computed again): median rho {shown_number(found.repeat.median_spearman)}, "
             f"median ssim {shown_number(found.repeat.median_ssim)}"]
    if found.cascade:
        lines += _cascade_lines(found.cascade)
    random_logit = found.random_logit
    if random_logit is not None:
        lines.append(f"random logit (another class's CAM vs the explained one's): median rho "
                     f"{shown_number(random_logit.median_spearman)}, median ssim {shown_number(random_logit.median_ssim)}")
    constant = int(found.original.constant.sum())
    if 0 < constant < len(found.original.cams):  # all constant: the verdict says so
        lines.append(f"{constant} of {len(found.original.cams)} original maps are constant, so left out of every "
                     f"median: {CONSTANT_CAM_WARNING}")
    lines += DrawnNotes.of(found.drawn, found.blocks.names).lines
    if found.never_randomised:
        lines.append(f"never randomised (outside every block): {', '.join(found.never_randomised)}")
    if random_logit is not None and found.random_logit_verdict is not None:
        lines.append(f"random logit verdict: {random_logit_text(found.random_logit_verdict, random_logit)}")
    if found.verdict is not None:
        lines.append(f"verdict: {verdict_text(found.verdict)}")
    return lines


def _cascade_lines(cascade: Sequence[StepScores]) -> list[str]:
    """The cascade's table: a row per step with its medians."""
    width = max(max(len(s.block) for s in cascade) + 2, 34)
    lines = [f"{'step':>4}  {'randomised (with all steps above)':<{width}}median rho  median ssim"]
    for scores in cascade:
        lines.append(f"{scores.step:>4}  {scores.block:<{width}}{shown_number(scores.median_spearman):>10}  "
                     f"{shown_number(scores.median_ssim):>11}")
    return lines


def random_logit_text(judged: Judged, scores: StepScores) -> str:
    """The random logit's verdict in words (Adebayo et al. 2018's data randomisation in spirit; Quantus'
    `RandomLogit`): a map that is the same whatever class is asked for does not explain the class."""
    median = _shown(scores.median_spearman)
    if judged is Judged.cannot_judge:
        return (f"cannot judge (median rank correlation {median}; the maps are constant, or computed twice they "
                "differ)")
    if judged is Judged.fails:
        return (f"WARNING: another class's map ranks the pixels like the explained class's (median rank "
                f"correlation {median}, >= {HIGH_RANK_CORRELATION}): the maps do not depend on which class is "
                "explained, so they cannot show why the model chose its class")
    return (f"the maps depend on the class asked for (median rank correlation {median} with another class's, "
            f"below {HIGH_RANK_CORRELATION}); this says nothing about whether they are right")


def heading_line(heading: SanityHeading) -> str:
    """The summary's first line when no cascade ran."""
    return _heading(heading, 0)


def _heading(heading: SanityHeading, blocks: int) -> str:
    cascade = f", {blocks} blocks randomised one at a time from the output side" if blocks else ""
    return (f"camviz sanity: {heading.method} at {', '.join(heading.target_layers)} of {heading.model_name}, "
            f"{heading.images} images{cascade} (seed {heading.seed})")


def verdict_text(verdict: Verdict) -> str:
    """The verdict in words: the warning, or how the maps depend on the weights, or why nothing could be judged."""
    if verdict.cannot_judge is not None or verdict.depends_on_weights is None:
        return _cannot_judge_text(verdict)
    above = ", ".join(verdict.above)
    values = ", ".join(_shown(value) for value in verdict.judged)
    draws = f"{len(verdict.judged)} random initialisation{'s' if len(verdict.judged) > 1 else ''}"
    if not np.isfinite(verdict.judged).all():
        draws += " (those where every map is constant left out)"
    if not verdict.depends_on_weights:
        return (f"WARNING: the maps barely change when every block above the target layer ({above}) is randomised "
                f"(median rank correlation {values} over {draws}, each >= {verdict.threshold}): they would look the "
                "same with those blocks untrained, so they show the target layer's activations rather than what "
                "this model learned to tell the classes apart")
    falls = verdict.falls
    cascade_text = ("in the cascade it stays at or above that down to the input" if falls is None else
                    f"in the cascade it falls to {_shown(falls.median_spearman)} once {falls.block} is randomised "
                    f"(step {falls.step})")
    return (f"the maps depend on the learned weights: with every block above the target layer ({above}) random, "
            f"the median rank correlation is {values} over {draws}; {cascade_text}")


def _cannot_judge_text(verdict: Verdict) -> str:
    """Why there is no verdict, in words."""
    if verdict.cannot_judge is CannotJudge.constant_originals:
        return (f"cannot judge: every map of the trained model is constant, so randomising cannot change how it "
                f"ranks the pixels: {CONSTANT_CAM_WARNING}")
    if verdict.cannot_judge is CannotJudge.undefined:
        return (f"cannot judge: with every block above the target layer ({', '.join(verdict.above)}) random, every "
                f"map compared is constant in each of {len(verdict.judged)} random initialisations (no rank "
                f"correlation is defined; a constant map is not read as a change): {CONSTANT_CAM_WARNING}")
    if verdict.cannot_judge is CannotJudge.not_repeatable:
        return (f"cannot judge: the trained model's maps computed twice differ (median rank correlation "
                f"{_shown(verdict.repeatability)}, below {REPEATABLE}): the method draws at random (as randomcam "
                "does) or the model is not deterministic, so a change after randomising the weights does not show "
                "that the maps depend on them")
    return ("no block with weights comes after the target layer: randomising the model above it cannot be "
            "tested; pick an earlier --target-layer")


def _shown(value: float) -> str:
    """A median as text: two decimals, or why there is none."""
    return f"{value:.2f}" if np.isfinite(value) else "undefined (constant maps)"


def shown_number(value: float, decimals: int = 3) -> str:
    """A number as the summary shows it: `decimals` places, `n/a` where it is undefined (NaN)."""
    return f"{value:.{decimals}f}" if np.isfinite(value) else "n/a"


def write_summary(output_dir: Path, lines: Sequence[str]) -> Path:
    """Write `sanity.txt` alone (no cascade or random logit ran); return its path."""
    summary = output_dir / SUMMARY_NAME
    write_atomic(summary, ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace"))
    return summary


def write_sanity_outputs(output_dir: Path, images: Sequence[SanityImage], found: RandomisationResult,
                         lines: Sequence[str]) -> list[Path]:
    """Write the figure, the table and the summary into `output_dir` (atomically); return their paths."""
    figure, table, summary = (output_dir / name for name in (FIGURE_NAME, TABLE_NAME, SUMMARY_NAME))
    steps, drawn = found.steps(), DrawnNotes.of(found.drawn, found.blocks.names)
    write_atomic(table, sanity_table([image.name for image in images], [scores for scores, _ in steps], drawn))
    write_atomic(summary, ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace"))
    write_atomic(figure, encode_image(sanity_figure(images, steps, drawn)))
    return [figure, table, summary]
