"""Pictures: the three-panel figure, the overlay, the class-mean heatmap and the comparison grid, encoded.

The overlay is pytorch-grad-cam's `show_cam_on_image`. The figure is composed with numpy and OpenCV
(no matplotlib figure per image: that alone would cost more than the CAM of a small model).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image

from camviz.output.files import encode_npy, write_atomic
from camviz.output.options import FigureFormat

_FONT = cv2.FONT_HERSHEY_SIMPLEX

_MIN_PANEL = 224  # small model inputs are scaled up (nearest) so titles stay readable

_TITLE_BAND = 48

_COLORBAR_WIDTH = 56

_GAP = 12  # white pixels between panels


def overlay(display: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """RGB uint8 overlay of a [0, 1] CAM on a float RGB image, by pytorch-grad-cam's `show_cam_on_image`."""
    return show_cam_on_image(display, cam, use_rgb=True)


def heatmap(cam: np.ndarray) -> np.ndarray:
    """RGB uint8 rendering of a [0, 1] CAM with the JET colour map (the overlay's colours)."""
    return cv2.cvtColor(cv2.applyColorMap((255 * cam).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def compose_figure(
    display: np.ndarray, cam: np.ndarray, overlay_rgb: np.ndarray, titles: tuple[str, str, str],
    outline: np.ndarray | None = None,
) -> np.ndarray:
    """Three panels side by side (input, heatmap with colour bar, overlay), each under its title; RGB uint8.

    `outline` (a bool object mask of any size, e.g. the original image's) is outlined on the overlay.
    """
    image, heat, blend = (enlarge(p) for p in (np.round(display * 255).astype(np.uint8), heatmap(cam), overlay_rgb))
    if outline is not None:
        blend = outlined(blend, outline)
    heat = np.hstack([heat, _colorbar(heat.shape[0])])
    return join([titled(panel, title) for panel, title in zip((image, heat, blend), titles, strict=True)], axis=1)


OUTLINE_COLOUR = (255, 255, 255)


def outlined(panel: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = OUTLINE_COLOUR) -> np.ndarray:
    """A copy of an RGB panel with the outer contours of a bool mask (resized, nearest, to the panel) drawn on it."""
    height, width = panel.shape[:2]
    scaled = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(scaled, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    drawn = np.ascontiguousarray(panel).copy()
    cv2.drawContours(drawn, contours, -1, colour, max(1, round(min(height, width) / 112)), cv2.LINE_AA)
    return drawn


def heatmap_figure(cam: np.ndarray, title: str) -> np.ndarray:
    """One heatmap panel with colour bar under a title (used for per-class mean heatmaps); RGB uint8."""
    panel = enlarge(heatmap(cam))
    return titled(np.hstack([panel, _colorbar(panel.shape[0])]), title)


def figure_bytes(height: int, width: int) -> int:
    """Working memory of one three-panel figure for a `height` x `width` input: its panels as `enlarge` scales
    them, at about 20 bytes a pixel each (uint8 RGB panels, float32 heat and overlay work, the joined figure)."""
    scale = max(1, -(-_MIN_PANEL // height))
    return 3 * 20 * (height * scale) * (width * scale)


def enlarge(panel: np.ndarray) -> np.ndarray:
    """A small model-input-size panel scaled up (nearest, integer factor) to at least 224 px, for legible figures."""
    scale = max(1, -(-_MIN_PANEL // panel.shape[0]))
    return cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) if scale > 1 else panel


def join(parts: Sequence[np.ndarray], axis: int) -> np.ndarray:
    """Images joined along `axis` (0: rows, 1: columns) with white gaps; all have the same other size."""
    shape = list(parts[0].shape)
    shape[axis] = _GAP
    gap = np.full(shape, 255, np.uint8)
    return np.concatenate([part for item in parts for part in (gap, item)][1:], axis=axis)


@functools.lru_cache(maxsize=8)
def _colorbar(height: int) -> np.ndarray:
    """A vertical JET colour bar from 1 (top) to 0 (bottom) with tick labels, on white (drawn once per height)."""
    bar = np.full((height, _COLORBAR_WIDTH, 3), 255, np.uint8)
    ramp = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None].repeat(12, axis=1)
    bar[:, 6:18] = heatmap(ramp)
    for value in (1.0, 0.5, 0.0):
        y = round((1.0 - value) * (height - 1))
        cv2.line(bar, (18, y), (22, y), (0, 0, 0), 1)
        text_y = min(max(y + 4, 10), height - 2)
        cv2.putText(bar, f"{value:.1f}", (24, text_y), _FONT, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    bar.flags.writeable = False  # shared by every figure of this height
    return bar


def titled(panel: np.ndarray, title: str) -> np.ndarray:
    """The panel under a white band holding up to two lines of title text (split at ' | ')."""
    band = np.full((_TITLE_BAND, panel.shape[1], 3), 255, np.uint8)
    for line_number, line in enumerate(title.split(" | ")[:2]):
        scale = min(0.5, 0.5 * (panel.shape[1] - 8) / max(1, cv2.getTextSize(line, _FONT, 0.5, 1)[0][0]))
        cv2.putText(band, line, (4, 18 + 20 * line_number), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([band, panel])


def encode_image(rgb: np.ndarray, figure_format: FigureFormat | str = FigureFormat.png) -> bytes:
    """`png`, `jpg` or `webp` bytes of an RGB uint8 image."""
    figure_format = FigureFormat(figure_format)
    ok, buffer = cv2.imencode(f".{figure_format}", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                              figure_format.encoder_parameters)
    if not ok:
        raise OSError(f"OpenCV could not encode the {figure_format} image")
    return buffer.tobytes()


def display_image(pixels: np.ndarray) -> np.ndarray:
    """uint8 HWC pixels as the figure shows them: float32 RGB in [0, 1] (one channel repeated as grey)."""
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels
    return rgb.astype(np.float32) / 255.0


Titles = tuple[str, str, str]  # input, heatmap, overlay


@dataclass(frozen=True, kw_only=True)
class CamFigure:
    """What a three-panel figure shows: the pixels the model saw, the CAM (a row per label), titles, the object."""

    pixels: np.ndarray  # uint8 [H, W, C], before normalising
    cam: np.ndarray  # [H, W] in [0, 1]; multilabel: [K, H, W]
    titles: Titles | Sequence[Titles]  # one triple per CAM
    outline: np.ndarray | None = None  # the object's bool mask (any size), drawn on each overlay panel


def write_figure(figure_path: Path, shown: CamFigure, *, overlay_path: Path | None = None,
                 raw_path: Path | None = None) -> None:
    """Write the three-panel figure, and optionally the overlay alone and the raw float32 CAM, atomically.

    The image format follows the figure's extension (`.png`, `.jpg`, `.webp`); a multilabel CAM gets a row of
    panels per label.
    """
    figure_format = figure_path.suffix[1:]
    figure, overlays = figure_and_overlays(shown.pixels, shown.cam, shown.titles, shown.outline)
    if raw_path is not None:
        write_atomic(raw_path, encode_npy(shown.cam.astype(np.float32)))
    if overlay_path is not None:
        write_atomic(overlay_path, encode_image(overlays, figure_format))
    write_atomic(figure_path, encode_image(figure, figure_format))


def figure_and_overlays(pixels: np.ndarray, cam: np.ndarray,
                        titles: Titles | Sequence[Titles],
                        outline: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The figure `write_figure` writes and the overlay beside it (one per label, side by side), as RGB uint8;
    `outline` (an object's bool mask) is drawn on the figure's overlay panels."""
    display = display_image(pixels)
    cams = cam if cam.ndim == 3 else cam[None]
    rows = [cast(Titles, titles)] if isinstance(titles[0], str) else list(cast(Sequence[Titles], titles))
    overlays = [overlay(display, one) for one in cams]
    figures = [compose_figure(display, one, blend, row, outline)
               for one, blend, row in zip(cams, overlays, rows, strict=True)]
    return join(figures, axis=0), join(overlays, axis=1)


def comparison_row(display: np.ndarray, cams: Sequence[np.ndarray], titles: Sequence[str]) -> np.ndarray:
    """The input and one overlay per CAM, enlarged for legibility, each under its title."""
    panels = [np.round(display * 255).astype(np.uint8), *(overlay(display, cam) for cam in cams)]
    return join([titled(enlarge(panel), title) for panel, title in zip(panels, titles, strict=True)], axis=1)
