"""Deterministic synthetic shapes for segmentation: one to three shapes per image, each shape's pixels labelled.

The images are the classifier's (`camviz.demo.shapes`: a smooth noisy background with faint lines, shapes of a
random colour, size and position) with one to three shapes that do not overlap, each a circle, square or triangle at
random; the label map gives each pixel its class index (0 background, 1 circle, 2 square, 3 triangle), drawn with the
same primitives as the image, so a shape's pixels and its label agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from camviz.demo.shapes import CLASS_NAMES as SHAPE_NAMES
from camviz.demo.shapes import EXT, MAX_OBJ, MIN_OBJ, Box, _background, _object_colour, _polygon

SEGMENTATION_CLASS_NAMES: tuple[str, ...] = ("background", *SHAPE_NAMES)
MAX_SHAPES = 3
GAP = 2  # pixels kept free between two shapes' boxes
PALETTE: tuple[int, ...] = (0, 0, 0, 220, 60, 60, 60, 170, 60, 60, 90, 220)  # per class index: black, red, green, blue


@dataclass(frozen=True, kw_only=True)
class SegmentationSample:
    """One image, its label map (uint8 class indices, H x W) and the classes it shows (sorted, background left out)."""

    image: Image.Image
    mask: np.ndarray
    classes: tuple[int, ...]


def _place(rng: np.random.Generator, size: int, taken: list[Box], count: int) -> list[Box]:
    """Up to `count` square boxes of random sizes that keep `GAP` pixels from each other (rejection sampling)."""
    scale = size / 96
    for _ in range(50 * count):
        if len(taken) == count:
            break
        s = int(rng.integers(round(MIN_OBJ * scale), round(MAX_OBJ * scale) + 1))
        x0, y0 = (int(v) for v in rng.integers(1, size - s - 1, size=2))
        box = (x0, y0, x0 + s, y0 + s)
        if all(box[0] >= b[2] + GAP or b[0] >= box[2] + GAP or box[1] >= b[3] + GAP or b[1] >= box[3] + GAP
               for b in taken):
            taken.append(box)
    return taken


def _draw(draws: tuple[ImageDraw.ImageDraw, ImageDraw.ImageDraw], label: int, box: Box,
          colour: tuple[int, int, int], angle: float) -> None:
    """One shape of class index `label` (into `SHAPE_NAMES`) in `box`, on the image and, as label + 1, on the mask."""
    x0, y0, x1, _ = box
    s = x1 - x0
    image, mask = draws
    if label == 0:
        image.ellipse([x0, y0, x0 + s - 1, y0 + s - 1], fill=colour)
        mask.ellipse([x0, y0, x0 + s - 1, y0 + s - 1], fill=label + 1)
    else:
        points = _polygon(label, x0, y0, s - 1, angle)
        image.polygon(points, fill=colour)
        mask.polygon(points, fill=label + 1)


def make_segmentation_sample(rng: np.random.Generator, size: int = 96) -> SegmentationSample:
    """Draw one image with one to `MAX_SHAPES` non-overlapping shapes of random classes, and its label map."""
    img = _background(rng, size)
    mask = Image.new("L", (size, size), 0)
    boxes = _place(rng, size, [], int(rng.integers(1, MAX_SHAPES + 1)))
    labels = [int(rng.integers(0, len(SHAPE_NAMES))) for _ in boxes]
    pixels = np.asarray(img)
    draws = (ImageDraw.Draw(img), ImageDraw.Draw(mask))
    for label, box in zip(labels, boxes, strict=True):
        colour = _object_colour(rng, pixels[box[1]:box[3], box[0]:box[2]])
        _draw(draws, label, box, colour, float(rng.uniform(0, 2 * math.pi)))
    return SegmentationSample(image=img, mask=np.asarray(mask), classes=tuple(sorted({label + 1 for label in labels})))


def make_segmentation_arrays(n: int, seed: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """`n` samples from `seed`: uint8 images (N, H, W, 3) and uint8 label maps (N, H, W)."""
    rng = np.random.default_rng(seed)
    samples = [make_segmentation_sample(rng, size) for _ in range(n)]
    return np.stack([np.asarray(s.image) for s in samples]), np.stack([s.mask for s in samples])


def mask_image(mask: np.ndarray) -> Image.Image:
    """A label map as a palette PNG image (as VOC ships them): its pixel values are the class indices."""
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette(PALETTE)
    return image


def write_segmentation_folder(root: Path, count: int, seed: int, *, size: int = 96) -> dict[str, tuple[int, ...]]:
    """Write `root/images/NNNN.png` and their label maps `root/masks/NNNN.png` (palette PNGs of class indices),
    `count` of each from `seed`; images and masks an earlier call wrote beyond that count are removed.

    Returns the map from each image's name (its path relative to `root/images`, the same under `root/masks`) to the
    class indices it shows (sorted; 0, the background, left out).
    """
    images, masks = Path(root) / "images", Path(root) / "masks"
    rng = np.random.default_rng(seed)
    shown: dict[str, tuple[int, ...]] = {}
    for folder in (images, masks):
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        sample = make_segmentation_sample(rng, size)
        name = f"{i:04d}{EXT}"
        sample.image.save(images / name)
        mask_image(sample.mask).save(masks / name)
        shown[name] = sample.classes
    for folder in (images, masks):
        _remove_beyond(folder, count)
    return shown


def _remove_beyond(folder: Path, count: int) -> None:
    """Delete this writer's own files `NNNN.png` with `NNNN >= count` (nothing else)."""
    for path in folder.glob(f"[0-9][0-9][0-9][0-9]{EXT}"):
        if int(path.stem) >= count:
            path.unlink()
