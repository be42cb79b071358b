"""A data dir full of hostile names: non-UTF-8 bytes, a carriage return, spreadsheet formulas, CJK class names,
class names too long for a file name."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

NON_UTF8 = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not valid UTF-8
LONG_FITS = "L" * 215  # the figure name fits in 255 bytes, its old temporary name did not
LONG_NEVER_FITS = "M" * 250  # no figure name with this class fits as is
FORMULAS = ["=HYPERLINK(1).png", "+x.png", "@y.png", "-z.png"]


def write_odd_names(data: Path, image: Path) -> Path:
    """Copies of `image` under every odd name, in `data` (an ImageFolder split of 7 classes)."""
    for name in (NON_UTF8, "a\rb.png", *FORMULAS):
        (data / "circle").mkdir(parents=True, exist_ok=True)
        shutil.copy(image, data / "circle" / name)
    for folder in ("猫", "狗", "狐", LONG_FITS, LONG_NEVER_FITS, "=cmd"):
        (data / folder).mkdir()
        shutil.copy(image, data / folder / "one.png")
    return data
