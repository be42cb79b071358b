"""Output names: stable, safe on any filesystem, distinct where safe spellings collide, never too long."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

_UNSAFE = re.compile(r"[^\w.+-]+")  # \w: Unicode letters and digits and `_` (never a surrogate or a control)


def filename_safe(name: str) -> str:
    """A class or file name made safe for any filesystem: Unicode letters and digits, `.`, `_`, `+` and `-` are
    kept (NFC), every other run of characters becomes `_`; at most `STEM_BYTES` long (see `fit_name`)."""
    safe = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip("_").lstrip(".")
    return fit_name(safe or "_")


def distinct_safe_names(names: Sequence[str]) -> dict[str, str]:
    """`filename_safe` of each name; names whose safe spellings collide (also ignoring case, as macOS and
    Windows do) get a short stable hash of the original name, so their files stay distinct."""
    spelled = {name: filename_safe(name) for name in names}
    counts = Counter(safe.casefold() for safe in spelled.values())
    return {name: safe if counts[safe.casefold()] == 1 else fit_name(f"{safe}~{_short_hash(name)}")
            for name, safe in spelled.items()}


STEM_BYTES = 200  # a stem leaves room for the longest suffix (`_overlay.webp`) under the usual 255-byte limit


def fit_name(stem: str, limit: int = STEM_BYTES) -> str:
    """`stem` if it fits in `limit` UTF-8 bytes, else its head and `~` and a stable hash of the whole."""
    if len(os.fsencode(stem)) <= limit:
        return stem
    return f"{cut_to_bytes(stem, limit - 9)}~{_short_hash(stem)}"


def cut_to_bytes(text: str, limit: int) -> str:
    """The longest head of `text` that fits in `limit` bytes, never splitting a character."""
    head, used = [], 0
    for char in text:
        used += len(os.fsencode(char))
        if used > limit:
            break
        head.append(char)
    return "".join(head)


def _short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]


def batch_stem(method: str, index: int, true_class: str, pred_class: str) -> str:
    """`{method}_{XXXX}_true_{Class}_pred_{Class}`, the batch-mode figure name without extension."""
    return fit_name(f"{method}_{index:04d}_true_{filename_safe(true_class)}_pred_{filename_safe(pred_class)}")


def single_stem(image_path: Path, method: str) -> str:
    """`{image stem}_{method}`, the single-mode figure name without extension."""
    return fit_name(f"{filename_safe(image_path.stem)}_{method}")
