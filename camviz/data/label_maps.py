"""Ground truth for segmentation models: a label map per image from `--masks DIR`, at the model's input size.

A label map is an index image at the image's relative path and stem under `DIR`, any image extension (paired as
object masks are: `ground_truth.mask_files`), read in the frame its image is decoded in (`oriented_frame`):

- a palette ("P") PNG, as Pascal VOC ships its `SegmentationClass` maps, gives its palette indices, not its
  colours; a grey ("L", "I", 16-bit, "1") image gives its values;
- a colour image (RGB, RGBA, ...) is refused with one line: a colour-coded mask is a picture, not class indices;
- 255 is VOC's "void" (object borders, unlabelled pixels): those pixels are `ignored` (left out of IoU) when the model
  has at most 255 classes; any other value at or beyond the class count is a one-line `UsageError`;
- camviz's preprocessing stretches each image to the model's height x width (no crop: `Preprocessing.pixels`), so a
  label map is stretched the same way, nearest-neighbour, to the same size (the caller says the `resized` note once).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from camviz.data.decode import oriented_frame
from camviz.data.ground_truth import Note, mask_files, mask_key
from camviz.errors import ImageDecodeError, UsageError, first_line

VOID = 255  # Pascal VOC's "void" label: borders and unlabelled pixels, excluded from scores

RESIZED = "label_maps_resized"  # the kind of the note a resized label map carries

_INDEX_MODES = ("P", "L", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")


@dataclass(frozen=True, kw_only=True)
class LabelMap:
    """One image's classes per pixel at the model's input size, which pixels are void, and what was said."""

    labels: np.ndarray  # int64 [H, W]; void pixels keep their value (255)
    ignored: np.ndarray | None = None  # bool [H, W]: the void pixels, left out of scores; None: there are none
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LabelMapFiles:
    """`--masks`'s label map files by image key (relative path without suffix)."""

    files: dict[str, Path]

    def path(self, relative_path: str) -> Path | None:
        """The label map of the image at `relative_path` (relative to the data dir), or None when it has none."""
        return self.files.get(mask_key(relative_path))


def find_label_maps(masks_dir: Path) -> LabelMapFiles:
    """Index `--masks DIR`'s label maps (a missing folder is a one-line `UsageError`)."""
    return LabelMapFiles(files=mask_files(masks_dir))


def read_label_map(path: Path, *, size: tuple[int, int], num_classes: int) -> LabelMap:
    """The label map in `path` at `size` = (height, width), the model's input size, checked against `num_classes`.

    An unreadable file is an `ImageDecodeError`, a colour image or a label value out of range a `UsageError`
    (one line, naming the file)."""
    values = _index_values(path)
    _check_values(values, path, num_classes)
    notes: tuple[Note, ...] = ()
    if values.shape != size:
        values = _resized(values, size)
        notes = ((RESIZED, f"--masks: label maps not at the model's input size are resized (nearest) to "
                           f"{size[1]}x{size[0]}, as their images are"),)
    ignored = values == VOID if num_classes <= VOID else None
    return LabelMap(labels=values, ignored=ignored if ignored is not None and ignored.any() else None, notes=notes)


def _index_values(path: Path) -> np.ndarray:
    """A label map file's values as int64 [H, W]: a palette image's indices, a grey image's values."""
    try:
        image = oriented_frame(path)
    except Exception as error:  # PIL raises many types for broken files
        raise ImageDecodeError(f"--masks: cannot read the label map {path}: "
                               f"{first_line(error).replace(str(path), path.name)}") from error
    if image.mode not in _INDEX_MODES:
        raise UsageError(f"--masks: {path} is a {image.mode} image, not a label map: save one class index per pixel "
                         "(a palette PNG as Pascal VOC ships, or a greyscale PNG)")
    return np.asarray(image).astype(np.int64)


def _check_values(values: np.ndarray, path: Path, num_classes: int) -> None:
    """A one-line `UsageError` naming the file for a label outside 0..num_classes-1 (255 is void: allowed)."""
    present = np.unique(values)
    bad = present[(present < 0) | ((present >= num_classes) & ~((present == VOID) & (num_classes <= VOID)))]
    if bad.size:
        void = f"; {VOID} marks void pixels" if num_classes <= VOID else ""
        more = f" (and {bad.size - 1} other out-of-range values)" if bad.size > 1 else ""
        raise UsageError(f"--masks: {path} has label value {int(bad[-1])}{more}, beyond the model's {num_classes} "
                         f"classes (0..{num_classes - 1}{void})")


def _resized(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Values stretched to `size` = (height, width), nearest-neighbour (PIL's, as object masks are resized)."""
    height, width = size
    stretched = Image.fromarray(values.astype(np.int32)).resize((width, height), Image.Resampling.NEAREST)
    return np.asarray(stretched).astype(np.int64)
