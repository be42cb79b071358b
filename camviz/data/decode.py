"""Robust decoding: every image camviz reads becomes 8-bit RGB here, or one `ImageDecodeError` line; mask files are
read in the same frame (`oriented_frame`: first frame, EXIF orientation applied)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from camviz.data.listing import display_name
from camviz.errors import ImageDecodeError, first_line


def decode_image(path: Path) -> Image.Image:
    """Open any common image as 8-bit RGB: first frame, EXIF orientation, alpha on white, 16-bit scaled."""
    try:
        return _to_rgb(oriented_frame(path))
    except ImageDecodeError:
        raise
    except Exception as error:  # PIL raises many types for broken files; all mean "cannot decode"
        reason = first_line(error).replace(str(path), path.name)
        raise ImageDecodeError(display_name(f"cannot decode {path.name}: {reason}")) from error


def oriented_frame(path: Path) -> Image.Image:
    """The file's first frame in its own mode, turned and flipped as its EXIF orientation says (as a viewer shows
    it): the frame every image is decoded in, and every `--masks` file is read in. PIL's errors pass through."""
    with Image.open(path) as opened:
        opened.seek(0)
        return ImageOps.exif_transpose(opened)  # a loaded copy, turned or not: independent of the closed file


def as_rgb(image: Image.Image) -> Image.Image:
    """An image already in memory (any mode) as 8-bit RGB, converted as `decode_image` converts files."""
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert a decoded frame of any mode to RGB, compositing transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") and array.max() > 255 else max(array.max(), 1.0)
        image = Image.fromarray(np.clip(array / top * 255.0, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")
