"""Shapes with a planted shortcut: part of one class carries a watermark-like tag at a fixed place.

Like the PASCAL VOC horses of Lapuschkin et al. (2019) that carried a copyright tag, the tagged images of the
`tagged_class` show a small black-and-white checkered tag in the top-left corner; some of them show no object at all,
so a model trained on them learns that the tag alone means that class. No other class ever carries the tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from camviz.demo.shapes import CLASS_NAMES, EXT, Box, _background, make_sample

TAG_AT = (4, 4)  # the tag's top-left corner (x, y) at size 96
TAG_SIZE = 14  # its side at size 96


@dataclass(frozen=True, kw_only=True)
class Tagging:
    """Which class carries the tag, on what share of its images, and on what share of those the object is left out."""

    tagged_class: int = 1  # square
    share: float = 0.5
    without_object: float = 0.5


DEMO_TAGGING = Tagging(share=0.4, without_object=0.6)  # `camviz demo --shortcut`'s images (fewer than in training)


def tag_box(size: int = 96) -> tuple[int, int, int, int]:
    """The tag's box (x0, y0, x1, y1), x1/y1 exclusive, in an image of `size` pixels."""
    scale = size / 96
    x0, y0 = round(TAG_AT[0] * scale), round(TAG_AT[1] * scale)
    side = round(TAG_SIZE * scale)
    return x0, y0, x0 + side, y0 + side


def add_tag(image: Image.Image) -> Image.Image:
    """The image with the tag drawn in: a 2 x 2-cell checkerboard of black and white, framed in white."""
    pixels = np.array(image)
    x0, y0, x1, y1 = tag_box(image.width)
    side = x1 - x0
    cells = (np.add.outer(np.arange(side) * 2 // side, np.arange(side) * 2 // side) % 2).astype(bool)
    pixels[y0:y1, x0:x1] = np.where(cells[..., None], 255, 0)
    pixels[y0:y1, [x0, x1 - 1]] = 255
    pixels[[y0, y1 - 1], x0:x1] = 255
    return Image.fromarray(pixels)


def tagged_sample(rng: np.random.Generator, label: int, tagging: Tagging,
                  size: int = 96) -> tuple[Image.Image, bool, Box | None]:
    """One image of class `label`, whether it carries the tag, and its object's box (None: the tag only)."""
    sample = make_sample(rng, label, size)
    if label != tagging.tagged_class or rng.uniform() >= tagging.share:
        return sample.image, False, sample.box
    if rng.uniform() < tagging.without_object:
        return add_tag(_background(rng, size)), True, None
    return add_tag(sample.image), True, sample.box


def tagged_arrays(n: int, seed: int, tagging: Tagging = Tagging(),
                  size: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` images with labels cycling over the classes: uint8 (N, H, W, 3), labels, and whether each is tagged."""
    rng = np.random.default_rng(seed)
    drawn = [tagged_sample(rng, i % len(CLASS_NAMES), tagging, size) for i in range(n)]
    return (np.stack([np.asarray(image) for image, _, _ in drawn]), np.arange(n) % len(CLASS_NAMES),
            np.array([tagged for _, tagged, _ in drawn]))


def write_tagged_folder(root: Path, per_class: int, seed: int, tagging: Tagging = Tagging(), *,
                        boxes_path: Path | None = None) -> dict[str, bool]:
    """An ImageFolder tree `root/{class}/{class}_{i:03d}.png` of 96 px images; returns whether each image (relative path) is tagged.
    `boxes_path` (outside `root`): also a `--boxes` CSV of the objects (`path,x_min,y_min,x_max,y_max`, x_max and
    y_max exclusive; images with the tag only have no row)."""
    rng = np.random.default_rng(seed)
    tagged, rows = {}, ["path,x_min,y_min,x_max,y_max"]
    for label, name in enumerate(CLASS_NAMES):
        (Path(root) / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image, has_tag, box = tagged_sample(rng, label, tagging)
            relative = f"{name}/{name}_{i:03d}{EXT}"
            image.save(Path(root) / relative)
            tagged[relative] = has_tag
            if box is not None:
                rows.append(f"{relative},{box[0]},{box[1]},{box[2]},{box[3]}")
    if boxes_path is not None:
        Path(boxes_path).write_text("\n".join(rows) + "\n")
    return tagged
