"""What `camviz sanity` writes for the repaired tests (`camviz.cam.mprt`): `emprt.csv` (a row per image: the
entropies and the score), `emprt.png` (the first images' maps before and after every block is random), `smprt.csv`
(a row per image and step) and `smprt.png`, and the summary's lines with each verdict in words."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from camviz.cam.mprt import EMPRT_RISE, EmprtScores, SmoothSettings, SmprtResult, emprt_verdict
from camviz.cam.randomisation import HIGH_RANK_CORRELATION, Judged
from camviz.output.figures import encode_image, heatmap, join, titled
from camviz.output.files import write_atomic
from camviz.output.manifest import defuse
from camviz.output.sanity import SanityImage, as_rgb, shown_number, small_panel, table_number

EMPRT_FIGURE, EMPRT_TABLE = "emprt.png", "emprt.csv"
SMPRT_FIGURE, SMPRT_TABLE = "smprt.png", "smprt.csv"
EMPRT_FIELDS = ("image", "explained", "original_entropy", "randomised_entropy", "emprt")
SMPRT_FIELDS = ("image", "step", "block", "spearman")
FIGURE_ROWS = 8  # images in a figure: the first ones
FILTER = ("a filter, not a ranking (Binder et al., CVPR 2023): failing it says the maps do not show what the model "
          "learned; passing it does not say they are right, and a better score does not make one method better "
          "than another")
SOURCE = "Hedström et al. 2023, 'Sanity Checks Revisited'"


def emprt_lines(scores: EmprtScores) -> list[str]:
    """eMPRT's summary lines: the numbers, the flat random maps, the verdict in words."""
    lines = [f"eMPRT ({SOURCE}; the trained model against one with every block random, {len(scores.scores)} "
             f"images): median {_signed(scores.median)}, median entropy {shown_number(np.median(scores.original))} -> "
             f"{shown_number(np.median(scores.randomised))} nats (100 bins)"]
    undefined = int((~np.isfinite(scores.scores)).sum())
    if undefined:
        lines.append(f"{undefined} original maps are constant (entropy 0): no eMPRT for them")
    if scores.flat_randomised:
        lines.append(f"{scores.flat_randomised} of the random model's maps are constant (entropy 0, a score of -1): "
                     "eMPRT counts a flat map as simpler, not as a change")
    return [*lines, f"eMPRT verdict: {emprt_text(scores)}"]


def emprt_text(scores: EmprtScores) -> str:
    """eMPRT's verdict in words (`camviz.cam.mprt.emprt_verdict`) and what it can and cannot show."""
    judged, median = emprt_verdict(scores), _signed(scores.median)
    if judged is Judged.cannot_judge:
        return "cannot judge: every map of the trained model is constant, so it has no complexity to rise from"
    if judged is Judged.fails:
        return (f"WARNING: the maps are no more complex once every block is random (median eMPRT {median}, not "
                f"above {EMPRT_RISE:g}): a network that learned nothing gives maps as orderly as these, so their "
                f"structure comes from the architecture or the input, not from the training; {FILTER}")
    return (f"the maps grow more complex once every block is random (median eMPRT {median} > {EMPRT_RISE:g}): "
            f"their order comes from the trained weights. eMPRT compares only how complex the maps are, not where "
            f"they point, and randomises the whole network at once, so it cannot tell a map that ignores the "
            f"classifier head (see the random logit) from one that uses it; {FILTER}")


def smprt_lines(result: SmprtResult, settings: SmoothSettings) -> list[str]:
    """sMPRT's summary lines: the settings, the repeat, a row per bottom-up step, the verdict in words."""
    lines = [f"sMPRT ({SOURCE}; blocks randomised bottom-up, input side first; each map averaged over "
             f"{settings.samples} noisy copies of the input, noise {settings.noise_magnitude:g} of its range):",
             f"  repeat (the trained model's smoothed maps drawn again): median rho {shown_number(result.repeat.median)}"]
    lines += [f"  {k:>3}  {step.block:<34}median rho {shown_number(step.median)}" for k, step in enumerate(result.steps, 1)]
    return [*lines, f"sMPRT verdict: {smprt_text(result)}"]


def smprt_text(result: SmprtResult) -> str:
    """sMPRT's verdict in words and what it can and cannot show."""
    score = shown_number(result.score)
    if result.verdict is Judged.cannot_judge:
        return "cannot judge: with every block random no rank correlation is defined (the maps are constant)"
    if result.verdict is Judged.fails:
        return (f"WARNING: with every block random the smoothed maps still rank the pixels like the trained model's "
                f"(median rank correlation {score}, >= {HIGH_RANK_CORRELATION}): they do not depend on the learned "
                f"weights; {FILTER}")
    return (f"with every block random the smoothed maps no longer rank the pixels like the trained model's (median "
            f"rank correlation {score}, below {HIGH_RANK_CORRELATION}): they depend on the learned weights. Bottom-up "
            f"randomisation changes the target layer's own features from the first step, so sMPRT cannot show "
            f"whether the maps use the classifier head (see the random logit); {FILTER}")


def emprt_table(names: Sequence[str], classes: Sequence[str], scores: EmprtScores) -> bytes:
    """`emprt.csv`: a row per image; an undefined score (a constant original map) is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EMPRT_FIELDS)
    for i, name in enumerate(names):
        writer.writerow([defuse(name), defuse(classes[i]), f"{scores.original[i]:.6f}",
                         f"{scores.randomised[i]:.6f}", table_number(scores.scores[i])])
    return buffer.getvalue().encode("utf-8", "backslashreplace")


def smprt_table(names: Sequence[str], result: SmprtResult) -> bytes:
    """`smprt.csv`: a row per image and step (step 0: the repeat, block `none`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SMPRT_FIELDS)
    for k, step in enumerate([result.repeat, *result.steps]):
        for i, name in enumerate(names):
            writer.writerow([defuse(name), k, defuse(step.block), table_number(step.spearman[i])])
    return buffer.getvalue().encode("utf-8", "backslashreplace")


def pairs_figure(images: Sequence[SanityImage], after: np.ndarray, titles: tuple[Sequence[str], Sequence[str]]) -> np.ndarray:
    """RGB uint8 grid, a row per image (the first `FIGURE_ROWS`): the input, the trained model's map and the map
    with every block random, each titled."""
    rows = []
    for i, image in enumerate(images[:FIGURE_ROWS]):
        rows.append(join([titled(small_panel(as_rgb(image.pixels)), f"{image.name} | explains {image.explained}"),
                          titled(small_panel(heatmap(image.original)), titles[0][i]),
                          titled(small_panel(heatmap(after[i])), titles[1][i])], axis=1))
    return join(rows, axis=0)


def write_emprt_outputs(output_dir: Path, images: Sequence[SanityImage], randomised: np.ndarray,
                        table: bytes) -> list[Path]:
    """`emprt.csv` (`table`) and `emprt.png` (the first images, their maps before and after; entropies in titles)."""
    figure, csv_path = output_dir / EMPRT_FIGURE, output_dir / EMPRT_TABLE
    write_atomic(csv_path, table)
    rows = list(csv.DictReader(io.StringIO(table.decode("utf-8"))))
    titles = ([f"trained | H {float(row['original_entropy']):.2f}" for row in rows],
              [f"all blocks random | H {float(row['randomised_entropy']):.2f}, eMPRT {row['emprt'] or 'n/a'}"
               for row in rows])
    write_atomic(figure, encode_image(pairs_figure(images, randomised, titles)))
    return [figure, csv_path]


def write_smprt_outputs(output_dir: Path, images: Sequence[SanityImage], result: SmprtResult) -> list[Path]:
    """`smprt.csv` and `smprt.png` (the smoothed maps of the trained model and with every block random)."""
    figure, csv_path = output_dir / SMPRT_FIGURE, output_dir / SMPRT_TABLE
    write_atomic(csv_path, smprt_table([image.name for image in images], result))
    smoothed = [SanityImage(name=image.name, pixels=image.pixels, explained=image.explained, original=reference)
                for image, reference in zip(images, result.reference, strict=True)]
    last = result.steps[-1].spearman if result.steps else np.full(len(images), np.nan)
    titles = (["trained, smoothed"] * len(images), [f"all blocks random | rho {table_number(v, 2)}" for v in last])
    write_atomic(figure, encode_image(pairs_figure(smoothed, result.randomised, titles)))
    return [figure, csv_path]


def _signed(value: float) -> str:
    return f"{value:+.3f}" if np.isfinite(value) else "undefined"

