"""Which images a run explains: given files, or an ImageFolder split with its sampling; one value for every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class InputOptions:
    """The images: `images` (single files), or `data_dir` (one sub-folder per class) with its seeded sampling."""

    images: tuple[Path, ...] = ()
    data_dir: Path | None = None
    num_samples: int | None = None  # a seeded subset covering every class; None: all
    classes: tuple[str, ...] = ()  # only these class folders
    seed: int = 0  # the subset (and whatever else a command seeds)
