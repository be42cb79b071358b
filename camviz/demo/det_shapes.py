"""Synthetic scenes for the demo detector: one to three shapes per image, each with its class and box.

The shapes, colours and background are the classifier demo's (`camviz.demo.shapes`); here several objects share an
image, placed so that their boxes keep apart (a gap of `GAP` pixels), so every object is seen whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from camviz.demo.shapes import CLASS_NAMES, MAX_OBJ, MIN_OBJ, Box, _background, _object_colour, _polygon

MAX_OBJECTS = 3
GAP = 2  # pixels between two objects' boxes
_TRIES = 60  # placements tried per object before the scene keeps fewer objects


@dataclass(frozen=True, kw_only=True)
class DetectionSample:
    """One image, its objects' class indices (into `CLASS_NAMES`) and boxes `(x0, y0, x1, y1)`, x1/y1 exclusive."""

    image: Image.Image
    labels: tuple[int, ...]
    boxes: tuple[Box, ...]


def make_scene(rng: np.random.Generator, size: int = 96, count: int | None = None) -> DetectionSample:
    """Draw an image with `count` objects (None: one to `MAX_OBJECTS`, uniformly) of random classes."""
    wanted = int(rng.integers(1, MAX_OBJECTS + 1)) if count is None else count
    img = _background(rng, size)
    draw = ImageDraw.Draw(img)
    scale = size / 96
    labels: list[int] = []
    boxes: list[Box] = []
    for _ in range(wanted):
        label = int(rng.integers(0, len(CLASS_NAMES)))
        side = int(rng.integers(round(MIN_OBJ * scale), round(MAX_OBJ * scale) + 1))
        corner = _free_corner(rng, size, side, boxes)
        if corner is None:
            continue
        boxes.append(_draw(draw, rng, np.asarray(img), label, (*corner, side)))
        labels.append(label)
    return DetectionSample(image=img, labels=tuple(labels), boxes=tuple(boxes))


def _free_corner(rng: np.random.Generator, size: int, side: int, taken: list[Box]) -> tuple[int, int] | None:
    """A top-left corner whose `side`-square keeps `GAP` pixels from every box in `taken`, or None."""
    for _ in range(_TRIES):
        x0, y0 = (int(v) for v in rng.integers(1, size - side - 1, size=2))
        if all(x0 + side + GAP <= a or b + GAP <= x0 or y0 + side + GAP <= c or d + GAP <= y0
               for a, c, b, d in taken):
            return x0, y0
    return None


def _draw(draw: ImageDraw.ImageDraw, rng: np.random.Generator, pixels: np.ndarray, label: int,
          square: tuple[int, int, int]) -> Box:
    """Fill one shape of class `label` in the square (x0, y0, side); its tight box."""
    x0, y0, side = square
    colour = _object_colour(rng, pixels[y0:y0 + side, x0:x0 + side])
    if label == 0:
        draw.ellipse([x0, y0, x0 + side - 1, y0 + side - 1], fill=colour)
        return x0, y0, x0 + side, y0 + side
    points = _polygon(label, x0, y0, side - 1, float(rng.uniform(0, 2 * math.pi)))
    draw.polygon(points, fill=colour)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)) + 1, math.ceil(max(ys)) + 1


def make_scenes(n: int, seed: int, size: int = 96) -> list[DetectionSample]:
    """`n` scenes drawn from `seed`."""
    rng = np.random.default_rng(seed)
    return [make_scene(rng, size) for _ in range(n)]
