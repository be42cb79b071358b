"""`audit_{Class}.png`: one figure per audited class, a row per cluster (flagged ones first, framed in red): the
cluster's mean map, then its most typical images' overlays (the images whose maps are nearest that mean)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camviz.output.figures import display_image, encode_image, heatmap, join, overlay, titled
from camviz.output.files import write_atomic

PANEL = 160  # rows of each panel
FLAG_COLOUR = (220, 30, 30)
_FRAME = 6


@dataclass(frozen=True, kw_only=True)
class TypicalImage:
    """One typical image of a cluster: its name, the pixels the model saw (None: the image cannot be read now)
    and its map."""

    name: str
    pixels: np.ndarray | None  # uint8 [H, W, C]
    cam: np.ndarray  # float [h, w] in [0, 1], any size (resized to the pixels)


@dataclass(frozen=True, kw_only=True)
class ClusterRow:
    """One row of a class's audit figure."""

    title: str  # e.g. `square/2 | 10 of 27 images`
    flagged: bool
    mean: np.ndarray  # the cluster's mean map, float [h, w]
    typical: Sequence[TypicalImage] = field(default_factory=tuple)


def _panel(rgb: np.ndarray, width: int) -> np.ndarray:
    return cv2.resize(rgb, (width, PANEL), interpolation=cv2.INTER_AREA if rgb.shape[0] > PANEL else cv2.INTER_NEAREST)


def _scaled(cam: np.ndarray) -> np.ndarray:
    """A map scaled to [0, 1] (a flat map stays flat at 0)."""
    cam = np.asarray(cam, np.float32)
    return (cam - cam.min()) / max(float(np.ptp(cam)), 1e-12)


def _overlay(image: TypicalImage, width: int) -> np.ndarray:
    """The image with its map over it, or the map alone when the image cannot be read."""
    if image.pixels is None:
        return _panel(heatmap(_scaled(image.cam)), width)
    height, image_width = image.pixels.shape[:2]
    cam = cv2.resize(np.asarray(image.cam, np.float32), (image_width, height), interpolation=cv2.INTER_LINEAR)
    return _panel(overlay(display_image(image.pixels), np.clip(cam, 0.0, 1.0)), width)


def class_figure(rows: Sequence[ClusterRow], aspect: float = 1.0, columns: int = 5) -> np.ndarray:
    """RGB uint8: a row per cluster, the mean map and up to `columns - 1` typical overlays; `aspect`: width over
    height of the model's input."""
    width = max(1, round(PANEL * aspect))
    blank = np.full((PANEL, width, 3), 255, np.uint8)
    drawn = []
    for row in rows:
        panels = [titled(_panel(heatmap(_scaled(row.mean)), width), f"{row.title} | mean map (scaled)")]
        panels += [titled(_overlay(image, width), image.name) for image in row.typical[: columns - 1]]
        panels += [titled(blank, "")] * (columns - len(panels))
        joined = join(panels, axis=1)
        colour = FLAG_COLOUR if row.flagged else (255, 255, 255)
        drawn.append(cv2.copyMakeBorder(joined, _FRAME, _FRAME, _FRAME, _FRAME, cv2.BORDER_CONSTANT, value=colour))
    return join(drawn, axis=0)


def write_class_figure(path: Path, figure: np.ndarray) -> Path:
    """Write one class's figure, `audit_{Class}.{png|jpg|webp}` (the format from the name; the caller makes class
    names distinct and file-name safe with `distinct_safe_names`)."""
    write_atomic(path, encode_image(figure, path.suffix[1:]))
    return path
