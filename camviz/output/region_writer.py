"""A segmentation model's files: per image and explained class a figure and a manifest row.

Row by row: the class's predicted pixels and their share of the image, its mean probability over them (the row's
`confidence`), the CAM's energy inside that predicted region (does the map explain *this* region?), and with
`--masks` label maps the class's IoU against the truth and the CAM's energy inside the true region. An image where
nothing but background is predicted gets one row saying so, without a figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from camviz.cam.checks import cam_problem
from camviz.cam.regions import RegionCams
from camviz.cam.segmentation_scores import iou_per_class, region_energy
from camviz.data.label_maps import LabelMap, LabelMapFiles, read_label_map
from camviz.data.listing import Sample
from camviz.errors import ImageDecodeError, Say
from camviz.output.figures import encode_image
from camviz.output.files import encode_npy, write_atomic
from camviz.output.manifest import ManifestWriter
from camviz.output.names import filename_safe, fit_name, single_stem
from camviz.output.options import OutputOptions
from camviz.output.pool import WritePool
from camviz.output.result import ImageResult, Status
from camviz.output.segmentation_figure import SegmentationFigure, segmentation_figure
from camviz.output.small_maps import SmallMapWriter

REGION_NAMES: tuple[str, ...] = ("region_pixels", "region_share", "region_energy")  # every row
TRUTH_NAMES: tuple[str, ...] = ("class_iou", "truth_energy")  # rows of images with a label map
NOTHING_EXPLAINED = "nothing but background predicted (no class on enough pixels)"


@dataclass(frozen=True, kw_only=True)
class RegionSettings:
    """What decides a segmentation run's files: the output options, method, class names and label-map folder."""

    output: OutputOptions = field(default_factory=OutputOptions)
    method: str
    class_names: tuple[str, ...]
    background: frozenset[int] = frozenset()  # never counted as a missed or poorly segmented class
    label_maps: LabelMapFiles | None = None  # --masks: each image's ground-truth label map

    @property
    def output_dir(self) -> Path:
        """Where the files go."""
        return self.output.output_dir


@dataclass(frozen=True, kw_only=True)
class SegmentedImage:
    """What the engine gave for one decoded sample of a segmentation model."""

    sample: Sample
    pixels: np.ndarray  # uint8 [H, W, C], as the model saw the image
    regions: RegionCams


def region_stem(method: str, index: int, class_name: str) -> str:
    """`{method}_{XXXX}_{class}`, a segmentation figure's name without extension."""
    return fit_name(f"{method}_{index:04d}_{filename_safe(class_name)}")


class RegionWriter:
    """Batch mode for a segmentation model: `{method}_{XXXX}_{class}.{ext}` and a manifest row per explained class."""

    def __init__(self, settings: RegionSettings, *, manifest: ManifestWriter, pool: WritePool, say: Say,
                 small_maps: SmallMapWriter | None = None) -> None:
        self.settings = settings
        self.manifest = manifest
        self.pool = pool
        self.say = say
        self.small_maps = small_maps  # each image's class maps, as the audit and --resume read them
        self.said: set[str] = set()
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """Record a sample that could not be decoded."""
        self.manifest.add(ImageResult(index=sample.index, path=sample.relative_path, status=Status.error, note=error))

    def done(self, image: SegmentedImage) -> None:
        """Score each explained class of the image, queue its figure (unless --only-misclassified passes it by), and
        record its row; an image without any explained class gets one row without a figure."""
        truth = self._label_map(image)
        rows = region_rows(image, self.settings, truth)
        if self.small_maps is not None:
            self.small_maps.add(image.sample.index, np.nan_to_num(image.regions.cams))
        if not rows:
            self.manifest.add(ImageResult(index=image.sample.index, path=image.sample.relative_path,
                                          note=NOTHING_EXPLAINED))
            return
        chosen = not self.settings.output.only_misclassified or poorly_segmented(image.regions, truth, self.settings)
        for position, scored in enumerate(rows):
            row = self._checked(image, position, scored)
            if row.status is Status.error:
                self.manifest.add(row)
            elif chosen:
                self.pool.submit(self._write, image, position, row, truth)
            else:
                self.manifest.add(replace(row, output=""))

    def _checked(self, image: SegmentedImage, position: int, row: ImageResult) -> ImageResult:
        """The row with a warning when its CAM cannot be trusted as is (said); an error row without a figure when
        the CAM is not finite."""
        cam = image.regions.cams[position]
        problem = cam_problem(cam)
        if problem is None:
            return row
        self.say(f"{image.sample.relative_path} ({row.explained[0]}): {problem}")
        row = replace(row, note=f"warning: {problem}")
        return row if np.isfinite(cam).all() else replace(row, status=Status.error, output="")

    def _label_map(self, image: SegmentedImage) -> LabelMap | None:
        """The image's ground-truth label map at the model's input size, when --masks has one (notes said once)."""
        files = self.settings.label_maps
        path = files.path(image.sample.relative_path) if files is not None else None
        if path is None:
            return None
        label_map = read_label_map(path, size=image.regions.predicted.shape, num_classes=len(self.settings.class_names))
        for kind, text in label_map.notes:
            if kind not in self.said:
                self.said.add(kind)
                self.say(text)
        return label_map

    def _write(self, image: SegmentedImage, position: int, row: ImageResult, truth: LabelMap | None) -> None:
        path = self.settings.output_dir / row.output
        figure = region_figure(image, position, self.settings, truth)
        if self.settings.output.save_raw:
            write_atomic(path.with_suffix(".npy"), encode_npy(image.regions.cams[position].astype(np.float32)))
        write_atomic(path, encode_image(figure, self.settings.output.figure_format))
        self.manifest.add(row)
        self.outputs.append(path)


def region_rows(image: SegmentedImage, settings: RegionSettings, truth: LabelMap | None) -> list[ImageResult]:
    """One row per explained class of the image, with its scores and the figure name it will have."""
    regions, sample = image.regions, image.sample
    ious = iou_per_class(regions.predicted, truth.labels, regions.classes, truth.ignored) if truth is not None else {}
    rows = []
    for position, category in enumerate(regions.classes):
        name = settings.class_names[category]
        region = regions.region(position)
        cam = regions.cams[position]
        scores = {"region_pixels": float(region.sum()), "region_share": float(region.mean()),
                  "region_energy": region_energy(cam, region)}
        if truth is not None:
            scores |= {"class_iou": ious[category], "truth_energy": region_energy(cam, truth.labels == category)}
        stem = region_stem(settings.method, sample.index, name)
        rows.append(ImageResult(index=sample.index, path=sample.relative_path, predicted=(name,),
                                confidence=(regions.probability[position],), explained=(name,),
                                scores=scores, output=f"{stem}.{settings.output.figure_format}"))
    return rows


def poorly_segmented(regions: RegionCams, truth: LabelMap | None, settings: RegionSettings) -> bool:
    """--only-misclassified for a segmentation model: some class predicted or true in the image (background set
    aside) has an IoU below --iou-threshold."""
    if truth is None:
        return False
    present = set(np.unique(regions.predicted).tolist()) | set(np.unique(truth.labels[~_ignored(truth)]).tolist())
    classes = sorted(c for c in present if c not in settings.background)
    ious = iou_per_class(regions.predicted, truth.labels, classes, truth.ignored)
    return any(ious[c] < settings.output.iou_threshold for c in classes)


def _ignored(truth: LabelMap) -> np.ndarray:
    return truth.ignored if truth.ignored is not None else np.zeros(truth.labels.shape, bool)


def region_figure(image: SegmentedImage, position: int, settings: RegionSettings,
                  truth: LabelMap | None) -> np.ndarray:
    """The figure of one explained class: input, predicted mask, CAM, overlay with the region (and truth) outlined."""
    regions = image.regions
    return segmentation_figure(SegmentationFigure(
        pixels=image.pixels, predicted=regions.predicted, cam=np.nan_to_num(regions.cams[position]),
        explained=regions.classes[position], class_names=settings.class_names,
        truth=truth.labels if truth is not None else None,
        subject=f"{image.sample.relative_path} ({regions.probability[position]:.1%})", method=settings.method))


class SingleRegionWriter:
    """Single mode for a segmentation model: `{stem}_{method}_{class}.{ext}` per explained class."""

    def __init__(self, settings: RegionSettings, say: Say) -> None:
        self.settings = settings
        self.say = say
        self.outputs: list[Path] = []

    def failed(self, sample: Sample, error: str) -> None:
        """A single image that cannot be decoded ends the run."""
        raise ImageDecodeError(error)

    def done(self, image: SegmentedImage) -> None:
        """Write a figure per explained class (none, with a warning, when only background is predicted)."""
        regions, settings = image.regions, self.settings
        if not regions.classes:
            self.say(f"{image.sample.relative_path}: {NOTHING_EXPLAINED}; no figure written")
        stem = single_stem(image.sample.path, settings.method)
        for position, category in enumerate(regions.classes):
            path = settings.output_dir / f"{stem}_{filename_safe(settings.class_names[category])}." \
                                         f"{settings.output.figure_format}"
            write_atomic(path, encode_image(region_figure(image, position, settings, None), settings.output.figure_format))
            self.outputs.append(path)
            if settings.output.save_raw:
                raw = path.with_suffix(".npy")
                write_atomic(raw, encode_npy(regions.cams[position].astype(np.float32)))
                self.outputs.append(raw)

