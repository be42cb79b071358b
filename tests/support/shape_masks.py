"""Ground truth for the synthetic shapes: each object's exact mask, recovered from the image itself.

`camviz.demo.shapes` fills its one object with a single flat colour after the noisy background is drawn, so the
object is exactly the pixels of its box that have the box's most common colour (the noisy background almost
never repeats an exact RGB value that often)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from camviz.demo.shapes import write_image_folder

Box = tuple[int, int, int, int]


def object_mask(image: np.ndarray, box: Box) -> np.ndarray:
    """The bool mask of the flat-coloured object inside `box` (x0, y0, x1, y1; x1/y1 exclusive)."""
    x0, y0, x1, y1 = box
    region = image[y0:y1, x0:x1].reshape(-1, 3)
    colours, counts = np.unique(region, axis=0, return_counts=True)
    mask = np.zeros(image.shape[:2], bool)
    mask[y0:y1, x0:x1] = (image[y0:y1, x0:x1] == colours[counts.argmax()]).all(axis=2)
    return mask


def write_shapes_with_masks(root: Path, per_class: int, seed: int, size: int = 96,
                            mask_ext: str = ".png") -> tuple[Path, Path, dict[str, Box]]:
    """`root/data/{class}/*.png` shapes, `root/masks/{class}/*{mask_ext}` their objects (255 on 0), and the boxes."""
    data, masks = root / "data", root / "masks"
    boxes = write_image_folder(data, per_class=per_class, seed=seed, size=size)
    for relative, box in boxes.items():
        mask = object_mask(np.asarray(Image.open(data / relative).convert("RGB")), box)
        target = (masks / relative).with_suffix(mask_ext)
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.uint8(mask) * 255).save(target)
    return data, masks, boxes
