"""camviz.run.compare, and `camviz compare`: several methods side by side in one figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from camviz.discovery.options import ModelOptions
from camviz.errors import UsageError
from camviz.run.compare import compare_methods


def test_unknown_method_is_a_usage_error(trained_checkpoint: Path, shapes_split, tmp_path: Path) -> None:
    data_dir, _ = shapes_split
    image = data_dir / "square" / "square_000.png"
    model = ModelOptions(path=trained_checkpoint, cpu=True)
    with pytest.raises(UsageError, match="unknown --method 'nosuchcam'"):
        compare_methods(model, [image], ["gradcam", "nosuchcam"], destination=tmp_path / "c.png")
    with pytest.raises(UsageError, match=r"must end in \.png"):
        compare_methods(model, [image], ["gradcam"], destination=tmp_path / "c.jpg")
    assert not list(tmp_path.iterdir())
