"""Small image files for data-path tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def write_png(path: Path, colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (20, 16)) -> Path:
    """A plain RGB PNG at `path` (its folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path
