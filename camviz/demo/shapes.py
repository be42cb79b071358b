"""Deterministic synthetic shapes: one localized object decides the class, its box is known.

Each image is a smooth, noisy colour background with a few faint straight lines (clutter that is
not shaped like any class) and exactly one filled object -- a circle, square or triangle -- of a
random colour, size and position, so only the object's *shape* decides the label.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASS_NAMES: tuple[str, ...] = ("circle", "square", "triangle")
EXT = ".png"  # lossless: the shapes' flat colours stay exact
MIN_OBJ, MAX_OBJ = 22, 34  # object extent in pixels (at size=96)
Box = tuple[int, int, int, int]


@dataclass
class ShapeSample:
    """One image, its class index and the object's box ``(x0, y0, x1, y1)``, x1/y1 exclusive."""

    image: Image.Image
    label: int
    box: Box


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """Smooth random colour field plus pixel noise and a few faint lines."""
    grid = rng.uniform(60, 190, size=(5, 5, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC), np.float32)
    smooth += rng.normal(0.0, 10.0, size=smooth.shape)
    img = Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        pts = rng.uniform(-0.2 * size, 1.2 * size, size=4).tolist()
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        draw.line(pts, fill=colour, width=int(rng.integers(1, 3)))
    return img


def _object_colour(rng: np.random.Generator, region: np.ndarray) -> tuple[int, int, int]:
    """A random colour that stands out from the mean colour of ``region``."""
    mean = region.reshape(-1, 3).mean(axis=0)
    colour = rng.integers(0, 256, size=3)
    for _ in range(50):
        if np.linalg.norm(colour - mean) >= 90:
            break
        colour = rng.integers(0, 256, size=3)
    return int(colour[0]), int(colour[1]), int(colour[2])


def _polygon(label: int, x0: float, y0: float, s: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of an axis-aligned square or a rotated equilateral triangle in an s-by-s box."""
    if label == 1:
        return [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s)]
    cx, cy, r = x0 + s / 2, y0 + s / 2, s / 2
    return [(cx + r * math.cos(angle + k * 2 * math.pi / 3),
             cy + r * math.sin(angle + k * 2 * math.pi / 3)) for k in range(3)]


def make_sample(rng: np.random.Generator, label: int, size: int = 96) -> ShapeSample:
    """Draw one image whose single object has class ``label`` (index into ``CLASS_NAMES``)."""
    if not 0 <= label < len(CLASS_NAMES):
        raise ValueError(f"label must be in [0, {len(CLASS_NAMES)}), got {label}")
    img = _background(rng, size)
    scale = size / 96
    s = int(rng.integers(round(MIN_OBJ * scale), round(MAX_OBJ * scale) + 1))
    x0, y0 = (int(v) for v in rng.integers(1, size - s - 1, size=2))
    colour = _object_colour(rng, np.asarray(img)[y0:y0 + s, x0:x0 + s])
    draw = ImageDraw.Draw(img)
    if label == 0:
        draw.ellipse([x0, y0, x0 + s - 1, y0 + s - 1], fill=colour)
        return ShapeSample(img, label, (x0, y0, x0 + s, y0 + s))
    pts = _polygon(label, x0, y0, s - 1, float(rng.uniform(0, 2 * math.pi)))
    draw.polygon(pts, fill=colour)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    box = (math.floor(min(xs)), math.floor(min(ys)), math.ceil(max(xs)) + 1, math.ceil(max(ys)) + 1)
    return ShapeSample(img, label, box)


def make_arrays(n: int, seed: int, size: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` samples with labels cycling over the classes: uint8 images (N,H,W,3), labels, boxes."""
    rng = np.random.default_rng(seed)
    samples = [make_sample(rng, i % len(CLASS_NAMES), size) for i in range(n)]
    images = np.stack([np.asarray(s.image) for s in samples])
    labels = np.array([s.label for s in samples], dtype=np.int64)
    boxes = np.array([s.box for s in samples], dtype=np.int64)
    return images, labels, boxes


def write_image_folder(root: Path, per_class: int, seed: int, *, size: int = 96,
                       boxes_path: Path | None = None) -> dict[str, Box]:
    """Write an ImageFolder tree ``root/{class}/{class}_{i:03d}.png``, ``per_class`` images per class; images an
    earlier call wrote beyond that count are removed, so the folder holds what this call says.

    Returns the map from each image's path relative to ``root`` (POSIX form) to its object box.
    Only images go under ``root``; pass ``boxes_path`` (outside ``root``) to also save the
    map as JSON.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    boxes: dict[str, Box] = {}
    for label, name in enumerate(CLASS_NAMES):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            sample = make_sample(rng, label, size)
            rel = f"{name}/{name}_{i:03d}{EXT}"
            sample.image.save(root / rel)
            boxes[rel] = sample.box
        _remove_beyond(root / name, name, per_class, EXT)
    if boxes_path is not None:
        Path(boxes_path).write_text(json.dumps(boxes, indent=1))
    return boxes


def _remove_beyond(folder: Path, name: str, count: int, ext: str) -> None:
    """Delete this generator's own images ``{name}_{i:03d}{ext}`` with ``i >= count`` (nothing else)."""
    for path in folder.glob(f"{name}_*{ext}"):
        number = path.name[len(name) + 1: -len(ext)]
        if number.isdigit() and int(number) >= count:
            path.unlink()
