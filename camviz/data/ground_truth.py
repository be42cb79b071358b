"""Ground truth for localization: where each image's object is, from `--masks DIR` and/or `--boxes FILE`.

- `--masks DIR`: a mask image per data image at the same relative path, same stem, any image format
  (`DIR/cat/001.png` for `data/cat/001.jpg`); a pixel that is nonzero in a colour channel is the object (the
  alpha channel only where the colours are one value everywhere: see `_object_pixels`).
- `--boxes FILE`: CSV rows `path,x_min,y_min,x_max,y_max` (an optional header line), `path` relative to the data
  dir, in the decoded image's pixels; a box covers columns x_min <= x < x_max and rows y_min <= y < y_max. Several
  rows per image (all its objects).

With both, an image's object is the union. The frame is the image as decoded (`camviz.data.decode`: EXIF
orientation applied), and mask files are decoded into their own frame the same way (`oriented_frame`). The mask is
built per image at the decoded image's size (the loader workers call `object_mask`), so localization is measured at
the original scale, not the model's.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from camviz.data.decode import oriented_frame
from camviz.data.listing import Sample, is_image_file
from camviz.errors import UsageError

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max
Note = tuple[str, str]  # (kind, text): the run says each kind once


@dataclass(frozen=True)
class ObjectTruth:
    """One image's object as a bool map at the decoded image's size (None: unusable), and what was said about it."""

    mask: np.ndarray | None
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GivenTruth:
    """What was given for one image: its own mask file (None: none) and its boxes (what `--resume` stamps)."""

    mask_file: Path | None = None
    boxes: tuple[Box, ...] = ()

    @property
    def any(self) -> bool:
        """Whether the image has a mask or a box."""
        return self.mask_file is not None or bool(self.boxes)


@dataclass(frozen=True)
class GroundTruth:
    """Mask files by image key (relative path without suffix) and boxes by relative path."""

    masks: dict[str, Path] = field(default_factory=dict)
    boxes: dict[str, list[Box]] = field(default_factory=dict)

    def given(self, sample: Sample) -> GivenTruth:
        """The image's own mask file and boxes."""
        return GivenTruth(mask_file=self.masks.get(mask_key(sample.relative_path)),
                          boxes=tuple(self.boxes.get(sample.relative_path, ())))

    def covers(self, sample: Sample) -> bool:
        """Whether this image has a mask or a box."""
        return self.given(sample).any

    def object_mask(self, sample: Sample, height: int, width: int) -> ObjectTruth | None:
        """The image's object at `height` x `width` (the decoded image's size), or None without ground truth."""
        given = self.given(sample)
        if not given.any:
            return None
        notes: list[Note] = []
        mask = np.zeros((height, width), bool)
        if given.mask_file is not None:
            read = _read_mask(given.mask_file, height, width, sample.relative_path, notes)
            if read is None:
                return ObjectTruth(None, tuple(notes))
            mask |= read
        for box in given.boxes:
            _fill_box(mask, box, sample.relative_path, notes)
        if not mask.any():
            notes.append(("empty", f"{sample.relative_path}: its ground truth has no object pixels; "
                                   "such images get empty localization cells"))
            return ObjectTruth(None, tuple(notes))
        if mask.all():
            notes.append(("whole", f"{sample.relative_path}: its object covers the whole image, where every map "
                                   "would point at it; such images get empty localization cells"))
            return ObjectTruth(None, tuple(notes))
        return ObjectTruth(mask, tuple(notes))


def read_ground_truth(masks_dir: Path | None, boxes_file: Path | None) -> GroundTruth:
    """Index `--masks` and parse `--boxes`; a missing folder or file, or a malformed row, is a one-line error."""
    masks = mask_files(masks_dir) if masks_dir is not None else {}
    return GroundTruth(masks, read_boxes(boxes_file) if boxes_file is not None else {})


def mask_files(masks_dir: Path) -> dict[str, Path]:
    """`--masks`'s image files by `mask_key` (of several with one key, the first in sorted order); a path that is
    not a folder is a one-line error. Object masks and segmentation label maps are paired with images so."""
    if not masks_dir.is_dir():
        raise UsageError(f"--masks {masks_dir} is not a directory")
    files: dict[str, Path] = {}
    for path in sorted(masks_dir.rglob("*")):
        if path.is_file() and is_image_file(path):
            files.setdefault(mask_key(path.relative_to(masks_dir).as_posix()), path)
    return files


def read_boxes(path: Path) -> dict[str, list[Box]]:
    """`path,x_min,y_min,x_max,y_max` rows by image path; a row that is not that names its line number."""
    if not path.is_file():
        raise UsageError(f"--boxes {path} does not exist or is not a file")
    boxes: dict[str, list[Box]] = {}
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as file:
        for line, row in enumerate(csv.reader(file), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if line == 1 and [c.strip().lower() for c in row] == ["path", "x_min", "y_min", "x_max", "y_max"]:
                continue
            image, box = _box_row(row, path, line)
            boxes.setdefault(image, []).append(box)
    return boxes


def _box_row(row: list[str], path: Path, line: int) -> tuple[str, Box]:
    """One CSV row as (relative image path, box), or a usage error naming the line."""
    problem = f"--boxes {path} line {line}: expected path,x_min,y_min,x_max,y_max"
    if len(row) != 5 or not row[0].strip():
        raise UsageError(f"{problem} (got {len(row)} fields)")
    try:
        x0, y0, x1, y1 = (float(cell) for cell in row[1:])
    except ValueError:
        raise UsageError(f"{problem} with numbers (got {','.join(row[1:])!r})") from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)) or x1 <= x0 or y1 <= y0:
        raise UsageError(f"{problem} with x_min < x_max and y_min < y_max (got {','.join(row[1:])})")
    return PurePosixPath(row[0].strip().replace("\\", "/").removeprefix("./")).as_posix(), (x0, y0, x1, y1)


def mask_key(relative_path: str) -> str:
    """What pairs a mask file with its image: the relative path without its suffix."""
    return PurePosixPath(relative_path).with_suffix("").as_posix()


def _read_mask(path: Path, height: int, width: int, image: str, notes: list[Note]) -> np.ndarray | None:
    """A mask file as bool (`_object_pixels`), resized (nearest) to the image when its size differs."""
    try:
        mask = _object_pixels(oriented_frame(path))  # in the frame its image is decoded in
    except Exception as error:  # PIL raises many types for broken files
        notes.append(("unreadable", f"--masks: cannot read {path.name} (for {image}): {error}; "
                                    "unreadable masks leave their images without ground truth"))
        return None
    if mask.shape != (height, width):
        notes.append(("resized", f"--masks: {path.name} is {mask.shape[1]}x{mask.shape[0]}, its image "
                                 f"{width}x{height}: masks of another size are resized to their image (nearest)"))
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST), bool)
    return mask


def _object_pixels(mask: Image.Image) -> np.ndarray:
    """Which pixels of a mask image are the object: nonzero in a colour channel. The alpha channel decides only
    where the colour says nothing (one colour everywhere, a cut-out): a mask saved with an opaque alpha
    (matplotlib's `imsave`) is read by its colours, a transparent background around a flat object by its alpha."""
    values = np.asarray(mask)
    if values.ndim == 2:
        return values != 0
    if mask.getbands()[-1] in ("A", "a"):  # LA, PA, RGBA, RGBa: the alpha band is the last
        colour, alpha = values[..., :-1], values[..., -1]
        if _constant(colour) and not _constant(alpha):
            return alpha != 0
        values = colour
    return np.asarray(values.any(axis=2))


def _constant(values: np.ndarray) -> bool:
    """Whether every pixel has the same value(s)."""
    return bool((values == values.reshape(-1, *values.shape[2:])[0]).all())


def _fill_box(mask: np.ndarray, box: Box, image: str, notes: list[Note]) -> None:
    """Set a box's pixels in `mask`, clipped to the image (and said)."""
    height, width = mask.shape
    x0, y0, x1, y1 = box
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if (left, top, right, bottom) != (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)):
        notes.append(("clipped", f"--boxes: a box of {image} ({x0:g},{y0:g},{x1:g},{y1:g}) reaches outside the "
                                 f"{width}x{height} image: boxes are clipped to their image"))
    if right > left and bottom > top:
        mask[top:bottom, left:right] = True
