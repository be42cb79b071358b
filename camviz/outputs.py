"""From an explained sample to files on disk: figure names, figures, raw CAMs and manifest rows.

Encoding and writing run in a thread pool sized to the CPUs this run may use (OpenCV releases the GIL),
so the next batch's CAMs are computed while the previous batch's figures are written.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from camviz.data import Sample, display_image
from camviz.errors import ImageDecodeError
from camviz.render import (
    batch_stem,
    compose_figure,
    encode_npy,
    distinct_safe_names,
    encode_image,
    heatmap_figure,
    overlay,
    single_stem,
    write_atomic,
)
from camviz.report import ManifestRow, ManifestWriter

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


def figure_titles(subject: str, method: str, explained: str, pred: str, confidence: float) -> tuple[str, str, str]:
    """Titles of the three panels; ' | ' separates a title's two lines."""
    return (f"Input | {subject}", f"{method} heatmap | explained: {explained}", f"Overlay | pred: {pred} ({confidence:.1%})")


def write_figure(figure_path: Path, pixels: np.ndarray, cam: np.ndarray, titles: tuple[str, str, str],
                 overlay_path: Path | None = None, raw_path: Path | None = None) -> None:
    """Write the three-panel figure, and optionally the overlay alone and the raw float32 CAM, atomically.

    `pixels` are the uint8 HWC pixels the model was given (before normalising); the image format follows
    the figure's extension (`.png`, `.jpg`, `.webp`).
    """
    figure_format = figure_path.suffix[1:]
    display = display_image(pixels)
    overlay_rgb = overlay(display, cam)
    if raw_path is not None:
        write_atomic(raw_path, encode_npy(cam.astype(np.float32)))
    if overlay_path is not None:
        write_atomic(overlay_path, encode_image(overlay_rgb, figure_format))
    write_atomic(figure_path, encode_image(compose_figure(display, cam, overlay_rgb, titles), figure_format))


class _Writer:
    """What both modes share: class names, the explained class, the method, the warnings channel."""

    def __init__(self, output_dir: Path, method: str, class_names: Sequence[str], target_category: int | None,
                 save_raw: bool, warn: Callable[[str], None], figure_format: str = "png") -> None:
        self.output_dir = output_dir
        self.figure_format = figure_format
        self.method = method
        self.class_names = list(class_names)
        self.target_category = target_category
        self.save_raw = save_raw
        self.warn = warn
        self.outputs: list[Path] = []

    def prediction(self, probabilities: np.ndarray) -> tuple[str, float, str]:
        """Predicted class name, its probability, and the explained class name."""
        pred = int(probabilities.argmax())
        explained = pred if self.target_category is None else self.target_category
        return self.class_names[pred], float(probabilities[pred]), self.class_names[explained]


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
                 class_means: ClassMeans | None = None, only_mistakes: bool = False, figure_format: str = "png") -> None:
        super().__init__(output_dir, method, class_names, target_category, save_raw, warn, figure_format)
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
        pred, confidence, explained = self.prediction(probabilities)
        stem = batch_stem(self.method, sample.index, sample.true_class or "unknown", pred)
        row = ManifestRow(sample.index, sample.relative_path, sample.true_class or "", pred,
                          f"{confidence:.6f}", explained, f"{stem}.{self.figure_format}",
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
            self.class_means.add(sample.true_class, cam)
        if self.only_mistakes and sample.true_class == pred:
            row.output = ""  # explained and counted, but no figure: --only-misclassified
            self.manifest.add(row)
            return
        titles = figure_titles(f"true: {sample.true_class}", self.method, explained, pred, confidence)
        pool.submit(self._write, pixels, cam, titles, row)

    def _write(self, pixels: np.ndarray, cam: np.ndarray, titles: tuple[str, str, str], row: ManifestRow) -> None:
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
        pred, confidence, explained = self.prediction(probabilities)
        problem = cam_problem(cam)
        if problem is not None:
            self.warn(f"{sample.relative_path}: {problem}")
        stem = single_stem(sample.path, self.method)
        figure = self.output_dir / f"{stem}.{self.figure_format}"
        overlay_path = self.output_dir / f"{stem}_overlay.{self.figure_format}"
        titles = figure_titles(sample.relative_path, self.method, explained, pred, confidence)
        raw = self.output_dir / f"{stem}.npy" if self.save_raw else None
        write_figure(figure, pixels, np.nan_to_num(cam), titles, overlay_path, raw)
        self.outputs += [figure, overlay_path] + ([raw] if raw else [])
