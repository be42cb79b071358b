"""camviz.classes: class folders that do not match the model's classes are named before the run, folders that
differ only in case are matched ignoring it, and accuracy counts only samples whose class the model knows."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from camviz.cli.commands import app
from camviz.demo import write_image_folder
from camviz.errors import CheckpointError, UsageError
from camviz.run.job import explain
from camviz.run.options import ExplainOptions
from camviz.run.progress import SilentProgress


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """circle/, square/, triangle/ with two images each (the shipped demo model's classes)."""
    root = tmp_path_factory.mktemp("classes") / "shapes"
    write_image_folder(root, per_class=2, seed=5)
    return root


def _run(checkpoint: Path, data_dir: Path, out: Path) -> tuple[list[str], object, list[dict[str, str]]]:
    progress = SilentProgress()
    result = explain(ExplainOptions(model_path=checkpoint, data_dir=data_dir, output_dir=out, num_workers=0), progress)
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    return progress.warnings, result.summary, rows


def _copy(shapes: Path, target: Path, rename: dict[str, str]) -> Path:
    for folder in shapes.iterdir():
        shutil.copytree(folder, target / rename.get(folder.name, folder.name))
    return target


def test_folders_differing_only_in_case_are_matched_and_said_so(trained_checkpoint, shapes, tmp_path) -> None:
    data = _copy(shapes, tmp_path / "data", {"circle": "Circle", "square": "SQUARE"})
    warnings, summary, rows = _run(trained_checkpoint, data, tmp_path / "out")
    assert any("only in case" in w and "Circle -> circle" in w and "SQUARE -> square" in w for w in warnings)
    assert {row["true"] for row in rows} == {"circle", "square", "triangle"}
    assert summary.labelled == 6 and summary.correct == sum(row["true"] == row["pred"] for row in rows) >= 5


def test_unknown_and_extra_folders_are_named_and_left_out_of_the_accuracy(trained_checkpoint, shapes, tmp_path) -> None:
    data = _copy(shapes, tmp_path / "data", {"triangle": "hexagon"})
    warnings, summary, rows = _run(trained_checkpoint, data, tmp_path / "out")
    assert any("not among the checkpoint's classes (circle, square, triangle): hexagon" in w for w in warnings)
    assert len(rows) == 6 and summary.processed == 6 and summary.labelled == 4  # the hexagon images do not count


def test_a_data_dir_one_level_too_high_is_pointed_out(trained_checkpoint, shapes, tmp_path) -> None:
    data = tmp_path / "data"
    _copy(shapes, data / "test", {})
    warnings, summary, _ = _run(trained_checkpoint, data, tmp_path / "out")
    assert any(f"did you mean --data-dir {data / 'test'}?" in w for w in warnings)
    assert summary.labelled == 0 and summary.accuracy is None  # "test" is none of the model's classes


def test_a_checkpoint_without_names_takes_the_folders_holding_images(trained_checkpoint, shapes, tmp_path) -> None:
    """An extra empty folder (torchvision's ImageFolder would not count it) does not push names to indices."""
    nameless = tmp_path / "nameless.pth"
    checkpoint = torch.load(trained_checkpoint, weights_only=False)
    del checkpoint["class_names"]
    torch.save(checkpoint, nameless)
    data = _copy(shapes, tmp_path / "data", {})
    (data / "empty").mkdir()
    warnings, summary, rows = _run(nameless, data, tmp_path / "out")
    assert warnings == [] and {row["pred"] for row in rows} <= {"circle", "square", "triangle"}
    assert summary.labelled == 6 and summary.correct >= 5


def test_a_nameless_checkpoint_with_other_class_counts_says_accuracy_is_not_computed(trained_checkpoint, shapes,
                                                                                    tmp_path) -> None:
    nameless = tmp_path / "nameless.pth"
    checkpoint = torch.load(trained_checkpoint, weights_only=False)
    del checkpoint["class_names"]
    torch.save(checkpoint, nameless)
    data = _copy(shapes, tmp_path / "data", {})
    shutil.copytree(shapes / "circle", data / "oval")
    warnings, summary, rows = _run(nameless, data, tmp_path / "out")
    assert any("4 class folders vs 3 model classes" in w and "by index" in w for w in warnings)
    assert {row["pred"] for row in rows} <= {"0", "1", "2"} and summary.accuracy is None


@pytest.mark.parametrize(("args", "exception", "message"), [
    (["--img-size", "96x"], None, "--img-size"),
    (["--img-size", "4"], UsageError, "at least 8 pixels"),
    (["--threshold", "1.5"], UsageError, "--threshold must be between 0 and 1"),
    (["--metrics", "--multi-label"], UsageError, "--metrics scores softmax classifiers only"),
], ids=["bad-size", "tiny-size", "threshold", "metrics-multilabel"])
def test_bad_options_are_one_line(trained_checkpoint, shapes, tmp_path, args, exception, message) -> None:
    result = CliRunner().invoke(app, ["explain", "--model-path", str(trained_checkpoint), "--data-dir", str(shapes),
                                      "--output-dir", str(tmp_path), "--num-workers", "0", *args])
    if exception is None:  # a click usage error
        assert result.exit_code == 2 and message in result.output
    else:  # camviz's own: `main()` prints it as one line with its exit code
        assert isinstance(result.exception, exception) and result.exception.exit_code == 2
        assert message in str(result.exception) and "\n" not in str(result.exception)


def test_folders_that_are_not_timm_folders_say_what_is_missing(tmp_path) -> None:
    from camviz.discovery.checkpoint import read_checkpoint

    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="folder without config.json"):
        read_checkpoint(tmp_path / "empty")
    (tmp_path / "config_only").mkdir()
    (tmp_path / "config_only" / "config.json").write_text('{"architecture": "resnet18"}')
    with pytest.raises(CheckpointError, match="has config.json but no weights"):
        read_checkpoint(tmp_path / "config_only")
