"""From an explained sample to files on disk: figure names, figures, raw CAMs and manifest rows.

Encoding and writing run in a thread pool sized to the CPUs this run may use (OpenCV releases the GIL),
so the next batch's CAMs are computed while the previous batch's figures are written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camviz.cam.checks import cam_problem
from camviz.cam.localization import localization_scores
from camviz.data.ground_truth import ObjectTruth
from camviz.data.listing import Sample
from camviz.discovery.output_kind import OutputKind, Prediction
from camviz.errors import ImageDecodeError
from camviz.output.class_means import ClassMeans
from camviz.output.figures import write_figure
from camviz.output.manifest import ManifestRow, ManifestWriter
from camviz.output.names import batch_stem, single_stem
from camviz.output.options import OutputOptions
from camviz.output.pool import WritePool
from camviz.output.summary import is_correct

Titles = tuple[str, str, str]  # input, heatmap, overlay


@dataclass(frozen=True, kw_only=True)
class WriterSettings:
    """What decides a run's files: the output options, and the method, classes and output kind names are read by."""

    output: OutputOptions = field(default_factory=OutputOptions)
    method: str
    class_names: tuple[str, ...]
    output_kind: OutputKind = field(default_factory=OutputKind)
    target_category: int | None = None  # None: each image's prediction is explained

    @property
    def output_dir(self) -> Path:
        """Where the files go."""
        return self.output.output_dir

    def prediction(self, probabilities: np.ndarray) -> Prediction:
        """One image's prediction and explained classes, as names and text."""
        return self.output_kind.prediction(probabilities, self.class_names, self.target_category)

    def is_correct(self, true: str, pred: str) -> bool:
        """Whether a manifest `pred` names the true class, read as this run's output kind writes it."""
        return is_correct(true, pred, self.class_names if self.output_kind.is_multilabel else None)

    def titles(self, subject: str, prediction: Prediction) -> list[Titles]:
        """One title triple per CAM: input, heatmap naming the explained class, overlay naming the prediction."""
        return [(f"Input | {subject}", f"{self.method} heatmap | explained: {name}",
                 f"Overlay | pred: {prediction.shown}") for name in prediction.explained]


class BatchWriter:
    """Batch mode: `{M}_{XXXX}_true_{C}_pred_{P}.{png|jpg|webp}` per sample and one manifest row each."""

    def __init__(self, settings: WriterSettings, manifest: ManifestWriter, pool: WritePool,
                 warn: Callable[[str], None], class_means: ClassMeans | None = None) -> None:
        self.settings = settings
        self.manifest = manifest
        self.pool = pool  # figures are encoded and written on its threads
        self.warn = warn
        self.class_means = class_means
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """Record a sample that could not be decoded."""
        self.manifest.add(ManifestRow(sample.index, sample.relative_path, sample.true_class or "",
                                      status="error", error=error))

    def done(self, sample: Sample, pixels: np.ndarray, cam: np.ndarray, probabilities: np.ndarray,
             scores: dict[str, float] | None = None, *, truth: ObjectTruth | None = None) -> None:
        """Queue the figure (and raw CAM) of an explained sample, then record its row (with --metrics scores, and
        with ground truth the localization scores; the object is outlined on the overlay)."""
        prediction = self.settings.prediction(probabilities)
        row = self._row(sample, prediction, scores)
        problem = cam_problem(cam, probabilities)
        if problem is not None:
            self.warn(f"{sample.relative_path}: {problem}")
            row.error = f"warning: {problem}"
            if not np.isfinite(cam).all():
                row.status, row.output = "error", ""
                self.manifest.add(row)
                return
        if self.class_means is not None:
            self.class_means.add(sample.true_class, cam if cam.ndim == 2 else cam[0])
        mask = truth.mask if truth is not None else None
        if self.settings.output.only_misclassified and sample.true_class and self.settings.is_correct(sample.true_class, row.pred):
            row.output = ""  # explained and counted, but no figure: --only-misclassified
            _localize(row, cam, mask)
            self.manifest.add(row)
            return
        titles = self.settings.titles(f"true: {sample.true_class}", prediction)
        self.pool.submit(self._write, pixels, cam, titles, row, mask)

    def _row(self, sample: Sample, prediction: Prediction, scores: dict[str, float] | None) -> ManifestRow:
        """The sample's manifest row, naming the figure it will have."""
        settings = self.settings
        stem = batch_stem(settings.method, sample.index, sample.true_class or "unknown", prediction.pred or "no_label")
        return ManifestRow(sample.index, sample.relative_path, sample.true_class or "", prediction.pred,
                           prediction.confidence, "+".join(prediction.explained), f"{stem}.{settings.output.figure_format}",
                           scores={name: f"{value:.6f}" for name, value in (scores or {}).items()})

    def _write(self, pixels: np.ndarray, cam: np.ndarray, titles: list[Titles], row: ManifestRow,
               mask: np.ndarray | None = None) -> None:
        figure = self.settings.output_dir / row.output  # rewritten even if there: only a matching row proves a file
        write_figure(figure, pixels, cam, titles, raw_path=figure.with_suffix(".npy") if self.settings.output.save_raw else None,
                     outline=mask)
        _localize(row, cam, mask)
        self.manifest.add(row)
        self.outputs.append(figure)


def _localize(row: ManifestRow, cam: np.ndarray, mask: np.ndarray | None) -> None:
    """With an object mask, add the localization columns of the (first) CAM to the row: a hit as 1 or 0."""
    if mask is None:
        return
    scores = localization_scores(cam if cam.ndim == 2 else cam[0], mask)
    row.scores.update({name: f"{value:.0f}" if name == "pointing_hit" else f"{value:.6f}"
                       for name, value in scores.items()})


class SingleWriter:
    """Single mode: `{stem}_{M}.{ext}` (three panels), `{stem}_{M}_overlay.{ext}`, and `.npy` with --save-raw."""

    def __init__(self, settings: WriterSettings, warn: Callable[[str], None]) -> None:
        self.settings = settings
        self.warn = warn
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """A single image that cannot be decoded ends the run."""
        raise ImageDecodeError(error)

    def done(self, sample: Sample, pixels: np.ndarray, cam: np.ndarray, probabilities: np.ndarray,
             scores: dict[str, float] | None = None, *, truth: ObjectTruth | None = None) -> None:
        """Write the figure, overlay (and raw CAM) of the one image (ground truth is for batch runs: not used)."""
        settings = self.settings
        problem = cam_problem(cam, probabilities)
        if problem is not None:
            self.warn(f"{sample.relative_path}: {problem}")
        stem = single_stem(sample.path, settings.method)
        figure = settings.output_dir / f"{stem}.{settings.output.figure_format}"
        overlay_path = settings.output_dir / f"{stem}_overlay.{settings.output.figure_format}"
        titles = settings.titles(sample.relative_path, settings.prediction(probabilities))
        raw = settings.output_dir / f"{stem}.npy" if settings.output.save_raw else None
        write_figure(figure, pixels, np.nan_to_num(cam), titles, overlay_path=overlay_path, raw_path=raw)
        self.outputs += [figure, overlay_path] + ([raw] if raw else [])
