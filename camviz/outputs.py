"""From an explained sample to files on disk: figure names, figures, raw CAMs and manifest rows.

Encoding and writing run in a thread pool sized to the CPUs this run may use (OpenCV releases the GIL),
so the next batch's CAMs are computed while the previous batch's figures are written.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from camviz.cam import explained_classes, predicted_classes
from camviz.data import Sample, display_image
from camviz.errors import ImageDecodeError
from camviz.render import (
    batch_stem,
    compose_figure,
    encode_npy,
    distinct_safe_names,
    encode_image,
    heatmap_figure,
    join,
    overlay,
    single_stem,
    write_atomic,
)
from camviz.report import ManifestRow, ManifestWriter, is_correct

CONSTANT_CAM_WARNING = (
    "constant heatmap (the 'all black' case): the target layer may come after global pooling "
    "(see `camviz layers`, pass --target-layer), the weights may not fit the model, or the explained class "
    "has no positive evidence here (try --method gradcam++ or another --target-category)"
)


def cam_problem(cam: np.ndarray) -> str | None:
    """Why a CAM should not be trusted as is: non-finite values, or no variation at all; None if fine."""
    if not np.isfinite(cam).all():
        return "heatmap has NaN/inf values (the model's gradients overflowed; try --cpu or another --method)"
    if float(cam.max() - cam.min()) < 1e-6:
        return CONSTANT_CAM_WARNING
    return None


class WritePool:
    """Writer threads with a bounded queue, so memory stays flat however fast the CAMs come.

    Size it with `camviz.cpus.share_cpus`: composing and encoding a figure is OpenCV and zlib work that
    releases the GIL, so threads scale with the cores (and need no copies of the images, as processes would).
    """

    def __init__(self, workers: int = 1, max_pending: int = 16) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="camviz-writer")
        self._slots = threading.Semaphore(max_pending)
        self._pending: list[Future] = []

    def submit(self, function: Callable[..., None], *args: object) -> None:
        """Run `function(*args)` on a writer thread; waits while the queue is full; re-raises earlier failures."""
        self._slots.acquire()
        future = self._executor.submit(function, *args)
        future.add_done_callback(lambda _: self._slots.release())
        self._pending = [f for f in self._pending if not f.done() or f.result() is not None] + [future]

    def __enter__(self) -> WritePool:
        return self

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=exc_type is not None)  # interrupted: drop the queue
        if exc_type is None:
            for future in self._pending:
                future.result()


def write_figure(figure_path: Path, pixels: np.ndarray, cam: np.ndarray,
                 titles: tuple[str, str, str] | Sequence[tuple[str, str, str]],
                 overlay_path: Path | None = None, raw_path: Path | None = None) -> None:
    """Write the three-panel figure, and optionally the overlay alone and the raw float32 CAM, atomically.

    `pixels` are the uint8 HWC pixels the model was given (before normalising); the image format follows
    the figure's extension (`.png`, `.jpg`, `.webp`). A multilabel `cam` is [K, H, W] with one title triple
    per label: the figure gets a row of panels per label.
    """
    figure_format = figure_path.suffix[1:]
    display = display_image(pixels)
    cams = cam if cam.ndim == 3 else cam[None]
    rows = [titles] if isinstance(titles[0], str) else list(titles)
    overlays = [overlay(display, one) for one in cams]
    if raw_path is not None:
        write_atomic(raw_path, encode_npy(cam.astype(np.float32)))
    if overlay_path is not None:
        write_atomic(overlay_path, encode_image(join(overlays, axis=1), figure_format))
    figures = [compose_figure(display, one, blend, row) for one, blend, row in zip(cams, overlays, rows)]
    write_atomic(figure_path, encode_image(join(figures, axis=0), figure_format))


@dataclass
class Prediction:
    """One image's prediction as files and the manifest name it (by the model's output kind)."""

    pred: str  # the class name; multilabel: the predicted labels joined with `+`, `none` when none passes
    confidence: str  # manifest text, 6 decimals; multilabel: each predicted label's probability joined with `+`
    explained: list[str]  # the class of each CAM (multilabel: one per CAM)
    shown: str  # the prediction as figure titles show it: `cat (93.1%)`, `car 91.2% + person 73.0%`


class _Writer:
    """What both modes share: class names, the explained class, the method, the warnings channel."""

    def __init__(self, output_dir: Path, method: str, class_names: Sequence[str], target_category: int | None,
                 save_raw: bool, warn: Callable[[str], None], figure_format: str = "png", *,
                 output: str = "softmax", threshold: float = 0.5) -> None:
        self.output = output  # softmax, binary or multilabel
        self.threshold = threshold
        self.output_dir = output_dir
        self.figure_format = figure_format
        self.method = method
        self.class_names = list(class_names)
        self.target_category = target_category
        self.save_raw = save_raw
        self.warn = warn
        self.outputs: list[Path] = []

    def prediction(self, probabilities: np.ndarray) -> Prediction:
        """The prediction's names and probabilities, and the explained classes, by the output kind."""
        names = self.class_names
        predicted = predicted_classes(probabilities, self.output, self.threshold)
        explained = [names[i] for i in explained_classes(probabilities, self.output, self.threshold,
                                                         self.target_category)]
        if self.output != "multilabel":
            top = predicted[0]
            p = float(probabilities[top])
            return Prediction(names[top], f"{p:.6f}", explained, f"{names[top]} ({p:.1%})")
        if not predicted:
            top = int(probabilities.argmax())
            shown = f"none (top {names[top]} {probabilities[top]:.1%} < {self.threshold:g})"
            return Prediction("none", f"{probabilities[top]:.6f}", explained, shown)
        return Prediction("+".join(names[i] for i in predicted), "+".join(f"{probabilities[i]:.6f}" for i in predicted),
                          explained, " + ".join(f"{names[i]} {probabilities[i]:.1%}" for i in predicted))

    def titles(self, subject: str, prediction: Prediction) -> list[tuple[str, str, str]]:
        """One title triple per CAM: input, heatmap naming the explained class, overlay naming the prediction."""
        return [(f"Input | {subject}", f"{self.method} heatmap | explained: {name}",
                 f"Overlay | pred: {prediction.shown}") for name in prediction.explained]


class ClassMeans:
    """Running sums of the CAMs per true class, for `class_mean_{Class}.{png|jpg|webp}` (for aligned images)."""

    def __init__(self, classes: Sequence[str], size: tuple[int, int]) -> None:
        self.classes = list(classes)
        self.sums = np.zeros((len(self.classes), *size), np.float64)
        self.counts = np.zeros(len(self.classes), np.float64)

    def add(self, true_class: str | None, cam: np.ndarray) -> None:
        """Count one sample's CAM towards its true class."""
        if true_class in self.classes and np.isfinite(cam).all():
            position = self.classes.index(true_class)
            self.sums[position] += cam
            self.counts[position] += 1

    def write(self, output_dir: Path, method: str, figure_format: str = "png") -> list[Path]:
        """Write `class_mean_{Class}.{format}` for every class with samples, each mean scaled to [0, 1]."""
        written = []
        safe = distinct_safe_names(self.classes)  # `猫`, `狗` and `a:b`, `a?b` never share a file
        for name, total, count in zip(self.classes, self.sums, self.counts):
            if count:
                mean = total / count
                scaled = (mean - mean.min()) / max(float(np.ptp(mean)), 1e-12)
                title = f"mean {method} | {name}, {int(count)} images (scaled to 0..1)"
                path = output_dir / f"class_mean_{safe[name]}.{figure_format}"
                write_atomic(path, encode_image(heatmap_figure(scaled.astype(np.float32), title), figure_format))
                written.append(path)
        return written


class BatchWriter(_Writer):
    """Batch mode: `{M}_{XXXX}_true_{C}_pred_{P}.{png|jpg|webp}` per sample and one manifest row each."""

    def __init__(self, output_dir: Path, method: str, class_names: Sequence[str], target_category: int | None,
                 save_raw: bool, manifest: ManifestWriter, warn: Callable[[str], None],
                 class_means: ClassMeans | None = None, only_mistakes: bool = False, figure_format: str = "png", *,
                 output: str = "softmax", threshold: float = 0.5) -> None:
        super().__init__(output_dir, method, class_names, target_category, save_raw, warn, figure_format,
                         output=output, threshold=threshold)
        self.manifest = manifest
        self.class_means = class_means
        self.only_mistakes = only_mistakes

    def failed(self, sample: Sample, error: str) -> None:
        """Record a sample that could not be decoded."""
        self.manifest.add(ManifestRow(sample.index, sample.relative_path, sample.true_class or "",
                                      status="error", error=error))

    def done(self, sample: Sample, pixels: np.ndarray, cam: np.ndarray, probabilities: np.ndarray,
             pool: WritePool, scores: dict[str, float] | None = None) -> None:
        """Queue the figure (and raw CAM) of an explained sample, then record its row (with --metrics scores)."""
        prediction = self.prediction(probabilities)
        pred = prediction.pred
        stem = batch_stem(self.method, sample.index, sample.true_class or "unknown", pred)
        row = ManifestRow(sample.index, sample.relative_path, sample.true_class or "", pred,
                          prediction.confidence, "+".join(prediction.explained), f"{stem}.{self.figure_format}",
                          scores={name: f"{value:.6f}" for name, value in (scores or {}).items()})
        problem = cam_problem(cam)
        if problem is not None:
            self.warn(f"{sample.relative_path}: {problem}")
            row.error = f"warning: {problem}"
            if not np.isfinite(cam).all():
                row.status, row.output = "error", ""
                self.manifest.add(row)
                return
        if self.class_means is not None:
            self.class_means.add(sample.true_class, cam if cam.ndim == 2 else cam[0])
        if self.only_mistakes and sample.true_class and is_correct(sample.true_class, pred):
            row.output = ""  # explained and counted, but no figure: --only-misclassified
            self.manifest.add(row)
            return
        titles = self.titles(f"true: {sample.true_class}", prediction)
        pool.submit(self._write, pixels, cam, titles, row)

    def _write(self, pixels: np.ndarray, cam: np.ndarray, titles: list[tuple[str, str, str]],
               row: ManifestRow) -> None:
        figure = self.output_dir / row.output  # rewritten even if there: only a matching manifest row proves a file
        write_figure(figure, pixels, cam, titles, raw_path=figure.with_suffix(".npy") if self.save_raw else None)
        self.manifest.add(row)
        self.outputs.append(figure)


class SingleWriter(_Writer):
    """Single mode: `{stem}_{M}.{ext}` (three panels), `{stem}_{M}_overlay.{ext}`, and `.npy` with --save-raw."""

    def failed(self, sample: Sample, error: str) -> None:
        """A single image that cannot be decoded ends the run."""
        raise ImageDecodeError(error)

    def done(self, sample: Sample, pixels: np.ndarray, cam: np.ndarray, probabilities: np.ndarray,
             pool: WritePool, scores: dict[str, float] | None = None) -> None:
        """Write the figure, overlay (and raw CAM) of the one image."""
        prediction = self.prediction(probabilities)
        problem = cam_problem(cam)
        if problem is not None:
            self.warn(f"{sample.relative_path}: {problem}")
        stem = single_stem(sample.path, self.method)
        figure = self.output_dir / f"{stem}.{self.figure_format}"
        overlay_path = self.output_dir / f"{stem}_overlay.{self.figure_format}"
        titles = self.titles(sample.relative_path, prediction)
        raw = self.output_dir / f"{stem}.npy" if self.save_raw else None
        write_figure(figure, pixels, np.nan_to_num(cam), titles, overlay_path, raw)
        self.outputs += [figure, overlay_path] + ([raw] if raw else [])
