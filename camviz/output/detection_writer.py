"""An object detector's files: per image and explained detection a figure and a manifest row.

Row by row (`detection` numbers an image's rows: its detections best first, then its misses): the detection's label
(`pred`, `target`) and score (`confidence`), its box in the model-input pixels (`box_x0 .. box_y1`) and the share of
its CAM inside that box (`box_energy`: does the map explain *this* box?). With `--boxes` (`camviz.data.detection_boxes`)
each detection is matched, best first, to an unmatched true box of its label at IoU >= `MATCH_IOU` (`matched` 1/0, the
best IoU with a true box of its label `true_iou`, the matched label as `true`), and each true box left unmatched gets a
row of its own, a miss (`true` its label, its box, no CAM, no figure). An image without any detection or truth gets
one row saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou

from camviz.cam.checks import cam_problem
from camviz.cam.detection import Box, Detection, box_energy
from camviz.cam.detection_cams import DetectionCams
from camviz.data.decode import decode_image
from camviz.data.detection_boxes import TrueBox
from camviz.data.listing import Sample
from camviz.errors import ImageDecodeError, Say
from camviz.output.detection_figure import DetectionFigure, detection_figure
from camviz.output.detection_summary import NOTHING_DETECTED
from camviz.output.figures import encode_image
from camviz.output.files import encode_npy, write_atomic
from camviz.output.manifest import ManifestWriter
from camviz.output.names import filename_safe, fit_name, single_stem
from camviz.output.options import OutputOptions
from camviz.output.pool import WritePool
from camviz.output.result import ImageResult, Status
from camviz.output.segmentation_figure import class_name
from camviz.output.small_maps import SmallMapWriter

DETECTION_NAMES: tuple[str, ...] = ("detection", "box_x0", "box_y0", "box_x1", "box_y1", "box_energy")  # every row
MATCH_NAMES: tuple[str, ...] = ("matched", "true_iou")  # with --boxes
MATCH_IOU = 0.5
MISSED = "missed: no detection matches this true box"


@dataclass(frozen=True, kw_only=True)
class DetectionSettings:
    """What decides a detector run's files: the output options, method, class names and the true boxes."""

    output: OutputOptions = field(default_factory=OutputOptions)
    method: str
    class_names: tuple[str, ...]
    boxes: dict[str, list[TrueBox]] | None = None  # --boxes: by image path, in the decoded image's pixels

    @property
    def output_dir(self) -> Path:
        """Where the files go."""
        return self.output.output_dir


@dataclass(frozen=True, kw_only=True)
class DetectedImage:
    """What the engine gave for one decoded sample of a detector."""

    sample: Sample
    pixels: np.ndarray  # uint8 [H, W, C], as the model saw the image
    found: DetectionCams


@dataclass(frozen=True, kw_only=True)
class Matching:
    """Each detection's matched true box (position, or None) and best IoU with a true box of its label; the misses."""

    matched: tuple[int | None, ...]
    ious: tuple[float, ...]
    missed: tuple[int, ...]  # positions of the true boxes no detection matched


def detection_stem(method: str, index: int, label: str, number: int) -> str:
    """`{method}_{XXXX}_{label}_{k}` (k: the detection's rank in its image, from 1), a figure's name without extension."""
    return fit_name(f"{method}_{index:04d}_{filename_safe(label)}_{number}")


def match_detections(detections: Sequence[Detection], truths: Sequence[TrueBox],
                     threshold: float = MATCH_IOU) -> Matching:
    """Match detections, best first, each to the unmatched true box of its label it overlaps most, at IoU >=
    `threshold` (boxes in the same pixels)."""
    if not detections or not truths:
        return Matching(matched=(None,) * len(detections), ious=(0.0,) * len(detections),
                        missed=tuple(range(len(truths))))
    ious = box_iou(torch.tensor([d.box for d in detections]), torch.tensor([t.box for t in truths])).numpy()
    free = set(range(len(truths)))
    matched: list[int | None] = []
    best: list[float] = []
    for row, detection in enumerate(detections):
        same = [j for j in range(len(truths)) if truths[j].label == detection.label]
        best.append(max((float(ious[row, j]) for j in same), default=0.0))
        options = [j for j in same if j in free and ious[row, j] >= threshold]
        choice = max(options, key=lambda j: ious[row, j]) if options else None
        if choice is not None:
            free.discard(choice)
        matched.append(choice)
    return Matching(matched=tuple(matched), ious=tuple(best), missed=tuple(sorted(free)))


def scaled_truths(truths: Sequence[TrueBox], image_size: tuple[int, int], input_size: tuple[int, int]) -> list[TrueBox]:
    """True boxes from the decoded image's pixels (`image_size` (width, height)) to the model input's ((height, width))."""
    sx, sy = input_size[1] / image_size[0], input_size[0] / image_size[1]
    return [replace(t, box=(t.box[0] * sx, t.box[1] * sy, t.box[2] * sx, t.box[3] * sy)) for t in truths]


def detection_rows(image: DetectedImage, settings: DetectionSettings,
                   truths: Sequence[TrueBox] | None) -> list[ImageResult]:
    """The image's rows: one per detection (with its figure name), then one per missed true box; one row saying
    nothing was detected when there is neither."""
    sample, found = image.sample, image.found
    names = settings.class_names
    matching = match_detections(found.detections, truths or ())
    rows = []
    for position, detection in enumerate(found.detections):
        name = class_name(names, detection.label)
        scores = {"detection": position + 1, **_box_scores(detection.box),
                  "box_energy": box_energy(np.nan_to_num(found.cams[position]), detection.box)}
        true = ""
        if truths is not None:
            hit = matching.matched[position]
            scores |= {"matched": float(hit is not None), "true_iou": matching.ious[position]}
            true = name if hit is not None else ""
        stem = detection_stem(settings.method, sample.index, name, position + 1)
        rows.append(ImageResult(index=sample.index, path=sample.relative_path, true=true, predicted=(name,),
                                confidence=(detection.score,), explained=(name,), scores=scores,
                                output=f"{stem}.{settings.output.figure_format}"))
    for number, missed in enumerate(matching.missed, start=len(found.detections) + 1):
        truth = (truths or [])[missed]
        rows.append(ImageResult(index=sample.index, path=sample.relative_path, true=class_name(names, truth.label),
                                scores={"detection": number, **_box_scores(truth.box), "matched": 0.0,
                                        "true_iou": 0.0}, note=MISSED))
    return rows or [ImageResult(index=sample.index, path=sample.relative_path, note=NOTHING_DETECTED)]


def _box_scores(box: Box) -> dict[str, float]:
    return {"box_x0": box[0], "box_y0": box[1], "box_x1": box[2], "box_y1": box[3]}


def mistaken(rows: Sequence[ImageResult]) -> bool:
    """--only-misclassified for a detector: the image has a false positive or a miss."""
    return any(row.scores.get("matched") == 0.0 for row in rows)


class DetectionWriter:
    """Batch mode for a detector: `{method}_{XXXX}_{label}_{k}.{ext}` and a manifest row per detection (and miss)."""

    def __init__(self, settings: DetectionSettings, *, manifest: ManifestWriter, pool: WritePool, say: Say,
                 small_maps: SmallMapWriter | None = None) -> None:
        self.settings = settings
        self.small_maps = small_maps  # each image's detection maps, as --resume reads them
        self.manifest = manifest
        self.pool = pool
        self.say = say
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """Record a sample that could not be decoded."""
        self.manifest.add(ImageResult(index=sample.index, path=sample.relative_path, status=Status.error, note=error))

    def done(self, image: DetectedImage) -> None:
        """Score and match each detection, queue its figure (unless --only-misclassified passes the image by), and
        record its row; misses and an image without detections get rows without figures."""
        truths = self._truths(image)
        rows = detection_rows(image, self.settings, truths)
        if self.small_maps is not None:
            self.small_maps.add(image.sample.index, np.nan_to_num(image.found.cams))
        chosen = not self.settings.output.only_misclassified or mistaken(rows)
        for position, scored in enumerate(rows):
            row = self._checked(image, position, scored)
            if not row.output or row.status is Status.error:
                self.manifest.add(row)
            elif chosen:
                self.pool.submit(self._write, image, position, row, truths)
            else:
                self.manifest.add(replace(row, output=""))

    def _truths(self, image: DetectedImage) -> list[TrueBox] | None:
        """The image's true boxes in the model-input pixels (None without --boxes; [] for an image without rows)."""
        if self.settings.boxes is None:
            return None
        given = self.settings.boxes.get(image.sample.relative_path, [])
        if not given:
            return []
        return scaled_truths(given, decode_image(image.sample.path).size, image.pixels.shape[:2])

    def _checked(self, image: DetectedImage, position: int, row: ImageResult) -> ImageResult:
        """A detection's row with a warning when its CAM cannot be trusted as is (said); an error row without a
        figure when the CAM is not finite."""
        if position >= len(image.found.detections):
            return row
        cam = image.found.cams[position]
        problem = cam_problem(cam)
        if problem is None:
            return row
        self.say(f"{image.sample.relative_path} ({row.explained[0]} #{position + 1}): {problem}")
        row = replace(row, note=f"warning: {problem}")
        return row if np.isfinite(cam).all() else replace(row, status=Status.error, output="")

    def _write(self, image: DetectedImage, position: int, row: ImageResult, truths: list[TrueBox] | None) -> None:
        path = self.settings.output_dir / row.output
        if self.settings.output.save_raw:
            write_atomic(path.with_suffix(".npy"), encode_npy(image.found.cams[position].astype(np.float32)))
        write_atomic(path, encode_image(figure_of(image, position, self.settings, truths),
                                        self.settings.output.figure_format))
        self.manifest.add(row)
        self.outputs.append(path)


def figure_of(image: DetectedImage, position: int, settings: DetectionSettings,
              truths: Sequence[TrueBox] | None) -> np.ndarray:
    """The figure of one detection of the image (its true boxes drawn too)."""
    detection = image.found.detections[position]
    return detection_figure(DetectionFigure(
        pixels=image.pixels, detections=image.found.detections, explained=position,
        cam=np.nan_to_num(image.found.cams[position]), class_names=settings.class_names,
        truths=[(t.box, t.label) for t in truths or ()],
        subject=f"{image.sample.relative_path} ({detection.score:.1%})", method=settings.method))


class SingleDetectionWriter:
    """Single mode for a detector: `{stem}_{method}_{label}_{k}.{ext}` per detection."""

    def __init__(self, settings: DetectionSettings, say: Say) -> None:
        self.settings = settings
        self.say = say
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """A single image that cannot be decoded ends the run."""
        raise ImageDecodeError(error)

    def done(self, image: DetectedImage) -> None:
        """Write a figure per detection (none, with a warning, when nothing was detected)."""
        settings, found = self.settings, image.found
        if not found.detections:
            self.say(f"{image.sample.relative_path}: {NOTHING_DETECTED}; no figure written")
        stem = single_stem(image.sample.path, settings.method)
        for position, detection in enumerate(found.detections):
            label = filename_safe(class_name(settings.class_names, detection.label))
            path = settings.output_dir / f"{stem}_{label}_{position + 1}.{settings.output.figure_format}"
            write_atomic(path, encode_image(figure_of(image, position, settings, None), settings.output.figure_format))
            self.outputs.append(path)
            if settings.output.save_raw:
                raw = path.with_suffix(".npy")
                write_atomic(raw, encode_npy(found.cams[position].astype(np.float32)))
                self.outputs.append(raw)
