"""From an explained sample to files on disk: figure names, figures, raw CAMs and manifest rows.

Encoding and writing run in a thread pool sized to the CPUs this run may use (OpenCV releases the GIL),
so the next batch's CAMs are computed while the previous batch's figures are written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from camviz.cam.baselines import baseline_scores
from camviz.cam.checks import cam_problem
from camviz.cam.localization import localization_scores
from camviz.data.ground_truth import ObjectTruth
from camviz.data.listing import Sample
from camviz.discovery.output_kind import OutputKind
from camviz.errors import ImageDecodeError, Say
from camviz.output.class_means import ClassMeans
from camviz.output.figures import CamFigure, Titles, write_figure
from camviz.output.manifest import ManifestWriter, joined
from camviz.output.names import batch_stem, single_stem
from camviz.output.options import OutputOptions
from camviz.output.pool import WritePool
from camviz.output.prediction import Prediction, prediction, titles
from camviz.output.result import ImageResult, Status
from camviz.output.small_maps import SmallMapWriter


@dataclass(frozen=True, kw_only=True)
class ExplainedImage:
    """What the engine gave for one decoded sample: its pixels, CAM and probabilities, and what else was scored."""

    sample: Sample
    pixels: np.ndarray  # uint8 [H, W, C], as the model saw the image
    cam: np.ndarray  # float32 [H, W] in [0, 1]; multilabel: [K, H, W], one per explained label
    probabilities: np.ndarray  # float32 [classes]
    scores: Mapping[str, float] = field(default_factory=dict)  # --metrics: faithfulness scores by name
    truth: ObjectTruth | None = None  # --masks / --boxes: the object (outlined on the overlay, scored)

    @property
    def first_cam(self) -> np.ndarray:
        """The [H, W] CAM (multilabel: the first explained label's)."""
        return self.cam if self.cam.ndim == 2 else self.cam[0]


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
        """One image's prediction and explained classes, by name."""
        return prediction(self.output_kind, probabilities, self.class_names, self.target_category)

    def titles(self, subject: str, explained: Prediction) -> list[Titles]:
        """One title triple per CAM: input, heatmap naming the explained class, overlay naming the prediction."""
        return titles(self.method, subject, explained)


@dataclass(frozen=True, kw_only=True)
class MapKeepers:
    """Where a batch run's maps go besides the figures: the class means and the small maps the audit reads."""

    class_means: ClassMeans | None = None
    small_maps: SmallMapWriter | None = None

    def add(self, result: ImageResult, cam: np.ndarray) -> None:
        """Count an explained image's (finite) CAM: its first map towards its class mean, all of it as small maps."""
        if self.class_means is not None:
            self.class_means.add(result, cam if cam.ndim == 2 else cam[0])
        if self.small_maps is not None:
            self.small_maps.add(result.index, cam)


class BatchWriter:
    """Batch mode: `{M}_{XXXX}_true_{C}_pred_{P}.{png|jpg|webp}` per sample and one manifest row each."""

    def __init__(self, settings: WriterSettings, *, manifest: ManifestWriter, pool: WritePool,
                 say: Say, keepers: MapKeepers | None = None) -> None:
        self.settings = settings
        self.manifest = manifest
        self.pool = pool  # figures are encoded and written on its threads
        self.say = say
        self.keepers = keepers or MapKeepers()
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """Record a sample that could not be decoded."""
        self.manifest.add(ImageResult(index=sample.index, path=sample.relative_path, true=sample.true_class or "",
                                      status=Status.error, note=error))

    def done(self, image: ExplainedImage) -> None:
        """Queue the figure (and raw CAM) of an explained sample, then record its result (with ground truth, the
        localization scores; the object is outlined on the overlay)."""
        explained = self.settings.prediction(image.probabilities)
        result = self._result(image, explained)
        problem = cam_problem(image.cam, image.probabilities)
        if problem is not None:
            self.say(f"{image.sample.relative_path}: {problem}")
            result = replace(result, note=f"warning: {problem}")
            if not np.isfinite(image.cam).all():
                self.manifest.add(replace(result, status=Status.error, output=""))
                return
        self.keepers.add(result, image.cam)
        if self.settings.output.only_misclassified and result.correct:
            self.manifest.add(_localized(replace(result, output=""), image))  # counted, no figure
            return
        titles = self.settings.titles(f"true: {image.sample.true_class}", explained)
        self.pool.submit(self._write, image, titles, result)

    def _result(self, image: ExplainedImage, explained: Prediction) -> ImageResult:
        """The sample's result, naming the figure it will have."""
        settings, sample = self.settings, image.sample
        stem = batch_stem(settings.method, sample.index, sample.true_class or "unknown",
                          joined(explained.predicted) or "no_label")
        return ImageResult(index=sample.index, path=sample.relative_path, true=sample.true_class or "",
                           predicted=explained.predicted, confidence=explained.confidence,
                           explained=explained.explained, scores=image.scores,
                           output=f"{stem}.{settings.output.figure_format}")

    def _write(self, image: ExplainedImage, titles: list[Titles], result: ImageResult) -> None:
        figure = self.settings.output_dir / result.output  # rewritten even if there: only a matching row proves a file
        raw = figure.with_suffix(".npy") if self.settings.output.save_raw else None
        write_figure(figure, CamFigure(pixels=image.pixels, cam=image.cam, titles=titles, outline=_mask(image)),
                     raw_path=raw)
        self.manifest.add(_localized(result, image))
        self.outputs.append(figure)


def _mask(image: ExplainedImage) -> np.ndarray | None:
    """The object's mask, with ground truth."""
    return image.truth.mask if image.truth is not None else None


def _localized(result: ImageResult, image: ExplainedImage) -> ImageResult:
    """With an object mask, the result with the localization scores of the (first) CAM and of the baselines
    (`camviz.cam.baselines`, the random map seeded by the image's index) added."""
    mask = _mask(image)
    if mask is None:
        return result
    return replace(result, scores={**result.scores, **localization_scores(image.first_cam, mask),
                                   **baseline_scores(mask, seed=result.index)})


class SingleWriter:
    """Single mode: `{stem}_{M}.{ext}` (three panels), `{stem}_{M}_overlay.{ext}`, and `.npy` with --save-raw."""

    def __init__(self, settings: WriterSettings, say: Say) -> None:
        self.settings = settings
        self.say = say
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """A single image that cannot be decoded ends the run."""
        raise ImageDecodeError(error)

    def done(self, image: ExplainedImage) -> None:
        """Write the figure, overlay (and raw CAM) of the one image (ground truth is for batch runs: not used)."""
        settings, sample = self.settings, image.sample
        problem = cam_problem(image.cam, image.probabilities)
        if problem is not None:
            self.say(f"{sample.relative_path}: {problem}")
        stem = single_stem(sample.path, settings.method)
        figure = settings.output_dir / f"{stem}.{settings.output.figure_format}"
        overlay_path = settings.output_dir / f"{stem}_overlay.{settings.output.figure_format}"
        titles = settings.titles(sample.relative_path, settings.prediction(image.probabilities))
        raw = settings.output_dir / f"{stem}.npy" if settings.output.save_raw else None
        write_figure(figure, CamFigure(pixels=image.pixels, cam=np.nan_to_num(image.cam), titles=titles),
                     overlay_path=overlay_path, raw_path=raw)
        self.outputs += [figure, overlay_path] + ([raw] if raw else [])
