"""A classifier with a planted shortcut (issue 27), trained here in seconds by the demo's own training script
(`camviz.demo.train_tagged`): part of the `square` class carries a tag in the top-left corner, some of those with no
square at all, so the tag alone comes to mean `square`."""

from __future__ import annotations

from pathlib import Path

import torch

from camviz.demo.tagged import DEMO_TAGGING, write_tagged_folder
from camviz.demo.train import checkpoint
from camviz.demo.train_tagged import train_shortcut_model


def write_shortcut_case(root: Path, per_class: int = 30) -> tuple[Path, Path, dict[str, bool]]:
    """The trained shortcut model's checkpoint, a test split it never saw, and whether each image carries the tag."""
    root.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint(train_shortcut_model()), root / "tagged.pth")
    tagged = write_tagged_folder(root / "test", per_class=per_class, seed=778, tagging=DEMO_TAGGING)
    return root / "tagged.pth", root / "test", tagged
