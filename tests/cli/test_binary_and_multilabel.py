"""`camviz explain` on binary (one sigmoid logit) and multi-label models: the decision, --threshold and
--target-category, and CAMs that land on the object of each label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.checkpoints import Source
from tests.support.cli import invoke_ok
from tests.support.manifest import manifest_rows
from tests.support.trained import Box, write_binary_case, write_multilabel_case

MARGIN = 4  # pixels around an object's box that still count as "on the object" (stride-8 maps, upsampled)


@pytest.fixture(scope="module")
def binary_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Box]]:
    """A trained one-logit circle detector and a test split (`circle`, `not_circle`) it never saw."""
    return write_binary_case(tmp_path_factory.mktemp("binary"))


@pytest.fixture(scope="module")
def multilabel_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, Box]]]:
    """A trained 3-label "which shapes" model (the flag recorded) and 96x192 test pictures, filed by the left shape."""
    return write_multilabel_case(tmp_path_factory.mktemp("multilabel"))


def _peak(cam: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(x), int(y)


def _inside(point: tuple[int, int], box: Box) -> bool:
    x, y = point
    x0, y0, x1, y1 = box
    return x0 - MARGIN <= x < x1 + MARGIN and y0 - MARGIN <= y < y1 + MARGIN


def test_binary_model_decides_by_sigmoid_and_its_cam_lands_on_the_object(binary_case, tmp_path: Path) -> None:
    checkpoint, data_dir, boxes = binary_case
    result = invoke_ok("explain", "--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                       "--save-raw", "--num-workers", "0")
    rows = manifest_rows(tmp_path)
    assert len(rows) == 8 and all(row["pred"] == row["target"] for row in rows)
    assert sum(row["true"] == row["pred"] for row in rows) >= 7  # a trained detector, not "pred_0 at 100 %"
    assert all(0.5 <= float(row["confidence"]) <= 1.0 for row in rows)  # the decided class's probability
    assert "accuracy on processed samples" in result.output
    for row in rows:  # "circle" and "not circle" alike: the evidence for the decided class is the object
        cam = np.load(tmp_path / row["output"].replace(".png", ".npy"))
        assert _inside(_peak(cam), boxes[row["path"]]), (row, _peak(cam))


def test_binary_single_image_can_explain_the_positive_class_on_demand(binary_case, tmp_path: Path) -> None:
    checkpoint, data_dir, boxes = binary_case
    path = next(p for p in sorted(boxes) if p.startswith("circle/"))
    invoke_ok("explain", "--model-path", checkpoint, "--image-path", data_dir / path, "--output-dir", tmp_path,
              "--save-raw", "--target-category", "1")
    cam = np.load(tmp_path / f"{Path(path).stem}_gradcam.npy")
    assert cam.shape == (96, 96) and _inside(_peak(cam), boxes[path])


def test_multilabel_model_explains_every_predicted_label_on_its_own_object(multilabel_case, tmp_path: Path,
                                                                           camviz_main) -> None:
    checkpoint, data_dir, boxes = multilabel_case
    result = camviz_main("explain", "--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                         "--save-raw", "--num-workers", "0")
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path)
    assert len(rows) == 6
    exact = 0
    for row in rows:
        labels = row["pred"].split("+")
        assert row["target"] == row["pred"] and len(row["confidence"].split("+")) == len(labels)
        assert all(float(p) >= 0.5 for p in row["confidence"].split("+"))
        cams = np.load(tmp_path / row["output"].replace(".png", ".npy"))
        assert cams.shape == (len(labels), 96, 192)
        truth = boxes[row["path"]]
        exact += set(labels) == set(truth)
        for label, cam in zip(labels, cams, strict=True):
            if label in truth:
                assert _inside(_peak(cam), truth[label]), (row, label, _peak(cam))
    assert exact >= 5
    assert "accuracy on processed samples" in result.stdout


def test_multilabel_threshold_decides_the_label_set(multilabel_case, tmp_path: Path) -> None:
    checkpoint, data_dir, _ = multilabel_case
    invoke_ok("explain", "--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path / "strict",
              "--num-workers", "0", "--threshold", "0.999999")
    invoke_ok("explain", "--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path / "loose",
              "--num-workers", "0", "--threshold", "0.000001")
    strict = manifest_rows(tmp_path / "strict")
    loose = manifest_rows(tmp_path / "loose")
    assert all(len(row["pred"].split("+")) == 3 for row in loose)
    for row in strict:  # nothing that sure: no label (empty `pred`), the CAM explains the most probable label
        assert row["pred"] == "" or all(float(p) >= 0.999999 for p in row["confidence"].split("+"))


def test_binary_target_category_explains_either_class_and_keeps_the_names(sources: dict[str, Source],
                                                                          sources_data: Path, tmp_path: Path) -> None:
    source = sources["binary-one-logit"]
    for category in (0, 1):
        out = tmp_path / str(category)
        invoke_ok("explain", "--model-path", source.path, "--data-dir", sources_data, "--output-dir", out,
                  "--num-workers", "0", "--target-category", category)
        rows = manifest_rows(out)
        assert {row["target"] for row in rows} == {source.class_names[category]}
        assert {row["pred"] for row in rows} <= set(source.class_names)


def test_multilabel_target_category_explains_that_label_only(sources: dict[str, Source], sources_data: Path,
                                                             tmp_path: Path) -> None:
    source = sources["multilabel-5"]
    invoke_ok("explain", "--model-path", source.path, "--image-path", sources_data / "circle/circle_000.png",
              "--output-dir", tmp_path, "--save-raw", "--multi-label", "--target-category", "4")
    assert np.load(tmp_path / "circle_000_gradcam.npy").shape == (1, 48, 48)
