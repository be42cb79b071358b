"""`camviz explain`'s closing summary with class names that look like syntax: a `+` is part of a softmax name, and a
multi-label label named `none` is not "no label"."""

from __future__ import annotations

import shutil
from pathlib import Path

from camviz.demo import write_image_folder
from tests.support.checkpoints import biased_demo_checkpoint
from tests.support.manifest import manifest_rows


def _split_of(root: Path, folders: dict[str, str]) -> Path:
    """An ImageFolder with two demo images per folder, the demo shapes copied under new folder names."""
    write_image_folder(root / "shapes", per_class=2, seed=3)
    for folder, shape in folders.items():
        shutil.copytree(root / "shapes" / shape, root / "data" / folder)
    return root / "data"


def test_a_plus_in_a_softmax_class_name_is_part_of_the_name(camviz_main, tmp_path: Path) -> None:
    """Classes `HER2` and `HER2+`, a model that always predicts `HER2+`: two of four are mistakes, and
    `--only-misclassified` draws exactly those two."""
    checkpoint = biased_demo_checkpoint(tmp_path / "her2.pth", ["HER2", "HER2+", "HER2-low"], [0.0, 10.0, 0.0])
    data = _split_of(tmp_path, {"HER2": "circle", "HER2+": "square"})
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", checkpoint, "--data-dir", data, "--output-dir", out,
                         "--num-workers", 0, "--only-misclassified")
    assert result.returncode == 0, result.stderr
    assert "accuracy on processed samples: 50.0% (2/4)" in result.stdout
    assert sorted(row["true"] for row in manifest_rows(out) if row["output"]) == ["HER2", "HER2"]
    assert len(list(out.glob("gradcam_*.png"))) == 2


def test_a_multilabel_label_named_none_is_not_no_label(camviz_main, tmp_path: Path) -> None:
    """A label `none` and a model that predicts no label at all: the `none` images are mistakes (0 %), and
    "no label" is an empty `pred`, which no label can be."""
    checkpoint = biased_demo_checkpoint(tmp_path / "ml.pth", ["none", "cat", "dog"], [-10.0] * 3, multi_label=True)
    data = _split_of(tmp_path, {"none": "circle"})
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", checkpoint, "--data-dir", data, "--output-dir", out,
                         "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    assert "accuracy on processed samples: 0.0% (0/2)" in result.stdout
    rows = manifest_rows(out)
    assert [row["pred"] for row in rows] == ["", ""]
    assert all("_pred_no_label." in row["output"] for row in rows)
