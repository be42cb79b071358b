"""camviz.output.summary: the closing summary counts processed and skipped rows, and accuracy on labelled ones."""

from __future__ import annotations

import shutil
from pathlib import Path

from camviz.demo import write_image_folder
from camviz.output.result import ImageResult, Status
from camviz.output.summary import summarize
from tests.support.checkpoints import biased_demo_checkpoint
from tests.support.manifest import manifest_rows


def test_summary_counts_accuracy_on_processed_rows_only() -> None:
    rows = [
        ImageResult(index=0, path="a", true="cat", predicted=("cat",)),
        ImageResult(index=1, path="b", true="cat", predicted=("dog",)),
        ImageResult(index=2, path="c", true="dog", predicted=("dog",)),
        ImageResult(index=3, path="d", true="dog", status=Status.error, note="x"),
    ]
    summary = summarize(rows, resumed=1)
    assert (summary.processed, summary.skipped, summary.correct, summary.labelled) == (3, 1, 2, 3)
    assert summary.accuracy == 2 / 3
    assert any("66.7%" in line for line in summary.lines())


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


def test_a_result_is_correct_when_its_true_class_is_predicted() -> None:
    """Softmax: the one predicted class, `+` and all; multi-label: any predicted label; unknown truth: neither."""
    assert not ImageResult(index=0, path="p", true="HER2", predicted=("HER2+",)).correct
    assert ImageResult(index=0, path="p", true="HER2+", predicted=("HER2+", "car")).correct
    no_label = ImageResult(index=0, path="p", true="car", confidence=(0.4,))
    assert no_label.mistake and not no_label.correct
    unknown = ImageResult(index=0, path="p", predicted=("car",))
    assert not unknown.correct and not unknown.mistake


def test_score_means_and_localization_count_only_what_results_hold() -> None:
    rows = [ImageResult(index=0, path="a", true="cat", predicted=("cat",),
                        scores={"deletion": 0.25, "pointing_hit": 1.0, "energy_in_object": 0.5, "iou": 0.2}),
            ImageResult(index=1, path="b", true="dog", predicted=("cat",), scores={"deletion": 0.75}),
            ImageResult(index=2, path="c", true="dog", status=Status.error, scores={"deletion": 9.0})]
    summary = summarize(rows, classes=["cat", "dog"])
    assert summary.score_means == {"deletion": 0.5}
    assert (summary.localization.overall.hits, summary.localization.overall.count) == (1, 1)
    assert list(summary.localization.per_class) == ["cat"]
