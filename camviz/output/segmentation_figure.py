"""A segmentation model's figure, one per (image, explained class): the input, the predicted mask (a colour per class,
with a legend of the classes present), the CAM with its colour bar, and the overlay with the explained class's
predicted region outlined in white (and, with a label map, its true region in magenta: neither colour occurs in a
JET overlay). Panels are sized and titled as the classifier's three-panel figure (`camviz.output.figures`).

The class colours are Pascal VOC's colour map (background black, then dark red, dark green, ...), the colours VOC's
own label maps carry, so a predicted mask looks like its ground truth.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from camviz.output.figures import (
    OUTLINE_COLOUR,
    display_image,
    enlarge,
    heatmap_figure,
    join,
    outlined,
    overlay,
    titled,
)

PREDICTED_OUTLINE = OUTLINE_COLOUR  # white
TRUTH_OUTLINE = (255, 0, 255)  # magenta

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LEGEND_WIDTH = 128
_ROW = 18  # legend row height, pixels
_SWATCH = 12


@functools.lru_cache(maxsize=8)
def class_colours(count: int) -> np.ndarray:
    """`count` RGB uint8 colours, one per class index: Pascal VOC's colour map (class 0 black), distinct for up to
    2**24 classes (each index's bits spread over the colours' high bits). Read-only, shared."""
    ids = np.arange(count, dtype=np.int64)
    colours = np.zeros((count, 3), np.int64)
    for bit in range(8):
        for channel in range(3):
            colours[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    shared = colours.astype(np.uint8)
    shared.flags.writeable = False
    return shared


def class_name(class_names: Sequence[str], label: int) -> str:
    """A class's name (`class {i}` for an index beyond the names)."""
    return class_names[label] if 0 <= label < len(class_names) else f"class {label}"


def mask_image(predicted: np.ndarray, count: int) -> np.ndarray:
    """An [H, W] label map as RGB uint8, a `class_colours` colour per class."""
    return class_colours(max(count, int(predicted.max()) + 1))[predicted]


def legend(labels: Sequence[int], class_names: Sequence[str], height: int, count: int,
           explained: int | None = None) -> np.ndarray:
    """A white column `height` pixels tall listing `labels` (a swatch and a name each; the explained class in bold),
    as many as fit and `+N more` for the rest."""
    column = np.full((height, _LEGEND_WIDTH, 3), 255, np.uint8)
    colours = class_colours(max(count, max(labels, default=0) + 1))
    fits = max(1, (height - 4) // _ROW)
    shown = list(labels) if len(labels) <= fits else list(labels)[: fits - 1]
    for row, label in enumerate(shown):
        top = 4 + row * _ROW
        cv2.rectangle(column, (4, top), (4 + _SWATCH, top + _SWATCH), colours[label].tolist(), cv2.FILLED)
        cv2.rectangle(column, (4, top), (4 + _SWATCH, top + _SWATCH), (128, 128, 128), 1)
        _text(column, class_name(class_names, label), (22, top + _SWATCH - 1), bold=label == explained)
    if len(shown) < len(labels):
        _text(column, f"+{len(labels) - len(shown)} more", (22, 4 + len(shown) * _ROW + _SWATCH - 1), bold=False)
    return column


def _text(image: np.ndarray, text: str, origin: tuple[int, int], *, bold: bool) -> None:
    """Black text at `origin`, shortened with `..` to fit the legend's width."""
    room = _LEGEND_WIDTH - origin[0] - 2
    thickness = 2 if bold else 1
    while len(text) > 1 and cv2.getTextSize(text, _FONT, 0.4, thickness)[0][0] > room:
        text = text[:-3] + ".."
    cv2.putText(image, text, origin, _FONT, 0.4, (0, 0, 0), thickness, cv2.LINE_AA)


@dataclass(frozen=True, kw_only=True)
class SegmentationFigure:
    """What a segmentation figure shows: the pixels the model saw, its mask, one class's CAM, the truth, names."""

    pixels: np.ndarray  # uint8 [H, W, C], before normalising
    predicted: np.ndarray  # int [H, W]: the predicted class per pixel
    cam: np.ndarray  # [H, W] in [0, 1]: the CAM of `explained`
    explained: int  # the class the CAM explains
    class_names: Sequence[str]
    truth: np.ndarray | None = None  # int [H, W] true label map (void: any value not a class), outlined when given
    subject: str = ""  # the image, as the input's title names it
    method: str = "CAM"  # as the heatmap's title names it


def segmentation_figure(shown: SegmentationFigure) -> np.ndarray:
    """The four-panel figure of one explained class, RGB uint8 (panels as the classifier figure's, at least 224 px)."""
    pixels, predicted, cam, truth, explained = shown.pixels, shown.predicted, shown.cam, shown.truth, shown.explained
    if predicted.shape != cam.shape or predicted.shape != pixels.shape[:2] or (
            truth is not None and truth.shape != predicted.shape):
        raise ValueError(f"panels of different sizes: pixels {pixels.shape[:2]}, predicted {predicted.shape}, "
                         f"cam {cam.shape}" + (f", truth {truth.shape}" if truth is not None else ""))
    name = class_name(shown.class_names, explained)
    region = predicted == explained
    display = display_image(pixels)
    image = enlarge(np.round(display * 255).astype(np.uint8))
    mask = enlarge(mask_image(predicted, len(shown.class_names)))
    present = [int(label) for label in np.unique(predicted)]
    mask = np.hstack([mask, legend(present, shown.class_names, mask.shape[0], len(shown.class_names), explained)])
    blend = outlined(enlarge(overlay(display, cam)), region, PREDICTED_OUTLINE)
    key = "white: predicted"
    if truth is not None:
        blend = outlined(blend, truth == explained, TRUTH_OUTLINE)
        key += ", magenta: true"
    return join([titled(image, f"Input | {shown.subject}"),
                 titled(mask, f"Predicted mask | {name}: {region.mean():.1%} of pixels"),
                 heatmap_figure(cam, f"{shown.method} heatmap | explained: {name}"),
                 titled(blend, f"Overlay: {name} | {key}")], axis=1)
