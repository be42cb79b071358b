"""camviz.data.classes: class folders that do not match the model's classes are named before the run, folders that
differ only in case are matched ignoring it, and accuracy counts only samples whose class the model knows."""

from __future__ import annotations

import shutil
from pathlib import Path

from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.output.options import OutputOptions
from camviz.run.job import explain
from camviz.run.options import ExplainOptions
from camviz.run.progress import SilentProgress
from tests.support.checkpoints import save_demo_checkpoint
from tests.support.manifest import manifest_rows


def _run(checkpoint: Path, data_dir: Path, out: Path) -> tuple[list[str], object, list[dict[str, str]]]:
    progress = SilentProgress()
    options = ExplainOptions(model=ModelOptions(path=checkpoint), inputs=InputOptions(data_dir=data_dir),
                             output=OutputOptions(output_dir=out), num_workers=0)
    result = explain(options, progress)
    return progress.warnings, result.summary, manifest_rows(out)


def _copy(split: Path, target: Path, rename: dict[str, str]) -> Path:
    for folder in split.iterdir():
        shutil.copytree(folder, target / rename.get(folder.name, folder.name))
    return target


def test_folders_differing_only_in_case_are_matched_and_said_so(trained_checkpoint, small_split, tmp_path) -> None:
    data = _copy(small_split, tmp_path / "data", {"circle": "Circle", "square": "SQUARE"})
    warnings, summary, rows = _run(trained_checkpoint, data, tmp_path / "out")
    assert any("only in case" in w and "Circle -> circle" in w and "SQUARE -> square" in w for w in warnings)
    assert {row["true"] for row in rows} == {"circle", "square", "triangle"}
    assert summary.labelled == 6 and summary.correct == sum(row["true"] == row["pred"] for row in rows) >= 5


def test_unknown_and_extra_folders_are_named_and_left_out_of_the_accuracy(trained_checkpoint, small_split,
                                                                         tmp_path) -> None:
    data = _copy(small_split, tmp_path / "data", {"triangle": "hexagon"})
    warnings, summary, rows = _run(trained_checkpoint, data, tmp_path / "out")
    assert any("not among the checkpoint's classes (circle, square, triangle): hexagon" in w for w in warnings)
    assert len(rows) == 6 and summary.processed == 6 and summary.labelled == 4  # the hexagon images do not count


def test_a_data_dir_one_level_too_high_is_pointed_out(trained_checkpoint, small_split, tmp_path) -> None:
    data = tmp_path / "data"
    _copy(small_split, data / "test", {})
    warnings, summary, _ = _run(trained_checkpoint, data, tmp_path / "out")
    assert any(f"did you mean --data-dir {data / 'test'}?" in w for w in warnings)
    assert summary.labelled == 0 and summary.accuracy is None  # "test" is none of the model's classes


def test_a_checkpoint_without_names_takes_the_folders_holding_images(small_split, tmp_path) -> None:
    """An extra empty folder (torchvision's ImageFolder would not count it) does not push names to indices."""
    nameless = save_demo_checkpoint(tmp_path / "nameless.pth", drop=("class_names",))
    data = _copy(small_split, tmp_path / "data", {})
    (data / "empty").mkdir()
    warnings, summary, rows = _run(nameless, data, tmp_path / "out")
    assert warnings == [] and {row["pred"] for row in rows} <= {"circle", "square", "triangle"}
    assert summary.labelled == 6 and summary.correct >= 5


def test_a_nameless_checkpoint_with_other_class_counts_says_accuracy_is_not_computed(small_split, tmp_path) -> None:
    nameless = save_demo_checkpoint(tmp_path / "nameless.pth", drop=("class_names",))
    data = _copy(small_split, tmp_path / "data", {})
    shutil.copytree(small_split / "circle", data / "oval")
    warnings, summary, rows = _run(nameless, data, tmp_path / "out")
    assert any("4 class folders vs 3 model classes" in w and "by index" in w for w in warnings)
    assert {row["pred"] for row in rows} <= {"0", "1", "2"} and summary.accuracy is None
