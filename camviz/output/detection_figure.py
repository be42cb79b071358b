"""A detector's figure, one per (image, detection): the input with every explained detection drawn (box, label,
score; the explained one in white, the others in grey, true boxes in magenta), the detection's CAM with its colour
bar, and the overlay with the explained box outlined. Panels as the classifier's figure (`camviz.output.figures`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from camviz.cam.detection import Box, Detection
from camviz.output.figures import display_image, enlarge, heatmap_figure, join, overlay, titled
from camviz.output.segmentation_figure import class_name

EXPLAINED_COLOUR = (255, 255, 255)  # white: neither it nor the others' colours occur in a JET overlay
OTHER_COLOUR = (160, 160, 160)
TRUTH_COLOUR = (255, 0, 255)  # magenta
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True, kw_only=True)
class DetectionFigure:
    """What a detection figure shows: the pixels the model saw, its detections, which one is explained, its CAM."""

    pixels: np.ndarray  # uint8 [H, W, C], before normalising
    detections: Sequence[Detection]
    explained: int  # position in `detections`
    cam: np.ndarray  # [H, W] in [0, 1]
    class_names: Sequence[str]
    truths: Sequence[tuple[Box, int]] = ()  # true boxes (model-input pixels) and labels, drawn when given
    subject: str = ""
    method: str = "CAM"


def draw_box(panel: np.ndarray, box: Box, scale: float, colour: tuple[int, int, int], text: str = "") -> None:
    """Draw a box (model-input pixels, `scale`d to the panel) and its caption above it, in place."""
    x0, y0, x1, y1 = (round(v * scale) for v in box)
    thickness = max(1, round(min(panel.shape[:2]) / 112))
    cv2.rectangle(panel, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), colour, thickness, cv2.LINE_AA)
    if text:
        origin = (max(0, x0), max(10, y0 - 3))
        cv2.putText(panel, text, origin, _FONT, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(panel, text, origin, _FONT, 0.4, colour, 1, cv2.LINE_AA)


def detection_figure(shown: DetectionFigure) -> np.ndarray:
    """The three-panel figure of one detection, RGB uint8 (panels at least 224 px, as the classifier's)."""
    if shown.cam.shape != shown.pixels.shape[:2]:
        raise ValueError(f"panels of different sizes: pixels {shown.pixels.shape[:2]}, cam {shown.cam.shape}")
    display = display_image(shown.pixels)
    image = enlarge(np.round(display * 255).astype(np.uint8)).copy()
    scale = image.shape[0] / shown.pixels.shape[0]
    for box, _ in shown.truths:
        draw_box(image, box, scale, TRUTH_COLOUR)
    for position, detection in enumerate(shown.detections):
        if position != shown.explained:
            draw_box(image, detection.box, scale, OTHER_COLOUR, _caption(detection, shown.class_names))
    target = shown.detections[shown.explained]
    draw_box(image, target.box, scale, EXPLAINED_COLOUR, _caption(target, shown.class_names))
    blend = enlarge(overlay(display, shown.cam)).copy()
    draw_box(blend, target.box, scale, EXPLAINED_COLOUR)
    name = class_name(shown.class_names, target.label)
    key = "white: explained" + (", magenta: true" if shown.truths else "")
    return join([titled(image, f"Input | {shown.subject}"),
                 heatmap_figure(shown.cam, f"{shown.method} heatmap | explained: {name} {target.score:.2f}"),
                 titled(blend, f"Overlay: {name} #{shown.explained + 1} | {key}")], axis=1)


def _caption(detection: Detection, class_names: Sequence[str]) -> str:
    return f"{class_name(class_names, detection.label)} {detection.score:.2f}"
