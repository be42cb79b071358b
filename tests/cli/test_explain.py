"""camviz.cli.commands `explain` end to end, through the entry point: batch and single runs of the trained shapes
classifier (names, raw CAMs, accuracy, pointing game, gallery, selection, metrics), and every checkpoint source's
input and output followed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.checkpoints import BUILDERS, Source, assert_batch_follows_the_model, expected, figure_shape
from tests.support.cli import invoke_ok
from tests.support.manifest import manifest_rows

BATCH_NAME = re.compile(r"^gradcam_(\d{4})_true_(\w+)_pred_(\w+)\.png$")


def _figures(output_dir: Path) -> list[str]:
    return sorted(p.name for p in output_dir.glob("gradcam_*.png"))


@pytest.fixture(scope="module")
def full_run(camviz_main, trained_checkpoint, shapes_split, tmp_path_factory):
    """One batch run over the whole synthetic split, with raw CAMs and two decoding workers."""
    data_dir, boxes = shapes_split
    out = tmp_path_factory.mktemp("full") / "gradcam_results" / "batch"
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir,
                         "--output-dir", out, "--save-raw", "--num-workers", "2")
    return result, out, data_dir, boxes


def test_batch_run_names_every_sample_by_index_truth_and_prediction(full_run) -> None:
    result, out, _, boxes = full_run
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out)
    listing = sorted(boxes)  # classes sorted, files sorted: the index order
    assert [row["path"] for row in rows] == listing
    for index, row in enumerate(rows):
        match = BATCH_NAME.match(row["output"])
        assert match, row["output"]
        assert int(match.group(1)) == index == int(row["index"])
        assert match.group(2) == row["true"] == row["path"].split("/")[0]
        assert match.group(3) == row["pred"] == row["target"]
        assert row["status"] == "ok" and 0.0 < float(row["confidence"]) <= 1.0
        figure = cv2.imread(str(out / row["output"]))
        assert figure is not None and figure.shape[0] > 96
    assert _figures(out) == sorted(row["output"] for row in rows)
    assert "processed: 36" in result.stdout and "skipped (errors): 0" in result.stdout


def test_raw_cams_are_float32_in_unit_range_at_model_input_size(full_run) -> None:
    _, out, _, _ = full_run
    raws = sorted(out.glob("gradcam_*.npy"))
    assert len(raws) == 36
    for path in raws:
        cam = np.load(path)
        assert cam.dtype == np.float32 and cam.shape == (96, 96)
        assert cam.min() >= 0.0 and cam.max() <= 1.0 and np.ptp(cam) > 0.5


def test_the_trained_model_is_accurate_and_its_cams_point_at_the_object(full_run) -> None:
    """Pointing game: the CAM's peak lies inside the object's box for >= 9 in 10 correct predictions."""
    result, out, _, boxes = full_run
    rows = manifest_rows(out)
    correct = [row for row in rows if row["true"] == row["pred"]]
    assert len(correct) >= 0.9 * len(rows)
    accuracy = re.search(r"accuracy on processed samples: ([\d.]+)%", result.stdout)
    assert accuracy and float(accuracy.group(1)) == pytest.approx(100 * len(correct) / len(rows), abs=0.1)
    hits = 0
    for row in correct:
        cam = np.load(out / row["output"].replace(".png", ".npy"))
        y, x = np.unravel_index(int(cam.argmax()), cam.shape)
        x0, y0, x1, y1 = boxes[row["path"]]
        hits += x0 <= x < x1 and y0 <= y < y1
    assert hits >= 0.9 * len(correct), f"pointing game {hits}/{len(correct)}"


def test_num_samples_is_seeded_and_covers_the_classes(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    data_dir, _ = shapes_split
    runs = []
    for name in ("a", "b"):
        result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir,
                             "--output-dir", tmp_path / name, "--num-samples", 6, "--seed", 5, "--num-workers", 0)
        assert result.returncode == 0, result.stderr
        runs.append(_figures(tmp_path / name))
    assert runs[0] == runs[1] and len(runs[0]) == 6
    assert {BATCH_NAME.match(name).group(2) for name in runs[0]} == {"circle", "square", "triangle"}


def test_classes_filter_and_target_category(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    data_dir, _ = shapes_split
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                         "--classes", "circle,square", "--target-category", 2, "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path)
    assert len(rows) == 24 and {row["true"] for row in rows} == {"circle", "square"}
    assert {row["target"] for row in rows} == {"triangle"}


def test_single_image_mode_writes_figure_overlay_and_raw(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    data_dir, _ = shapes_split
    image = data_dir / "square" / "square_003.png"
    outputs = {}
    for target in (None, 0):
        out = tmp_path / f"target_{target}"
        extra = [] if target is None else ["--target-category", target]
        result = camviz_main("explain", "--model-path", trained_checkpoint, "--image-path", image,
                             "--output-dir", out, "--save-raw", *extra)
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in out.iterdir()) == [
            "run.json", "square_003_gradcam.npy", "square_003_gradcam.png", "square_003_gradcam_overlay.png"
        ]
        assert cv2.imread(str(out / "square_003_gradcam_overlay.png")).shape == (96, 96, 3)
        figure = cv2.imread(str(out / "square_003_gradcam.png"))
        assert figure.shape[1] > 3 * figure.shape[0] - 200  # three panels side by side
        outputs[target] = np.load(out / "square_003_gradcam.npy")
    assert not np.allclose(outputs[None], outputs[0]), "explaining another class gives another map"


def test_batch_run_writes_gallery_and_class_means(full_run) -> None:
    _, out, _, _ = full_run
    assert (out / "index.html").is_file() and "gradcam_0000_true_circle" in (out / "index.html").read_text()
    for name in ("circle", "square", "triangle"):
        figure = cv2.imread(str(out / f"class_mean_{name}.png"))
        assert figure is not None and figure.shape[0] > 96


def test_only_misclassified_writes_figures_for_mistakes_only(camviz_main, trained_checkpoint, shapes_split, tmp_path):
    data_dir, _ = shapes_split
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    for name in ("circle_000.png", "circle_001.png"):  # mislabelled on purpose: filed as squares
        (data / "circle" / name).rename(data / "square" / f"x_{name}")
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data, "--output-dir", out,
                         "--only-misclassified", "--aug-smooth", "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out)
    mistakes = [row for row in rows if row["true"] != row["pred"]]
    assert len(rows) == 36 and {row["path"] for row in mistakes} >= {"square/x_circle_000.png", "square/x_circle_001.png"}
    assert _figures(out) == sorted(row["output"] for row in mistakes)
    assert all(row["output"] == "" for row in rows if row["true"] == row["pred"])


def test_metrics_are_numeric_manifest_columns_with_means_in_the_summary(
    camviz_main, trained_checkpoint, shapes_split, tmp_path
) -> None:
    data_dir, _ = shapes_split
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                         "--metrics", "--num-samples", 3, "--num-workers", 0, "--method", "gradcam++")
    assert result.returncode == 0, result.stderr
    names = ("road_combined", "cam_confidence_change", "deletion_auc", "insertion_auc")
    rows = manifest_rows(tmp_path, names)
    assert len(rows) == 3 and all(row["output"].startswith("gradcam++_") for row in rows)
    for name in names:
        values = [float(row[name]) for row in rows]
        assert all(np.isfinite(values))
        mean = re.search(rf"mean {name}: (-?[\d.]+)", result.stdout)
        assert mean and float(mean.group(1)) == pytest.approx(np.mean(values), abs=1e-3)


def test_metrics_takes_a_list_and_the_manifest_has_only_those_columns(
    camviz_main, trained_checkpoint, shapes_split, tmp_path
) -> None:
    data_dir, _ = shapes_split
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                         "--metrics", "insertion,deletion", "--num-samples", 2, "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    header = (tmp_path / "manifest.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[-2:] == ["deletion_auc", "insertion_auc"] and "road_combined" not in header
    assert "mean road_combined" not in result.stdout and "mean deletion_auc" in result.stdout
    faithfulness = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["faithfulness"]
    assert set(faithfulness["seconds_per_image"]) == {"deletion_auc", "insertion_auc"}
    assert all(seconds > 0 for seconds in faithfulness["seconds_per_image"].values())
    assert faithfulness["baseline_images"] == 2 and set(faithfulness["baseline_means"]) == {"centre", "random"}
    assert "faithfulness baselines on 2 images" in result.stdout


@pytest.mark.parametrize("name", list(BUILDERS))
def test_explain_single_and_batch_follow_the_model_input_and_output(sources: dict[str, Source], name: str,
                                                                    sources_data: Path, tmp_path: Path) -> None:
    source = sources[name]
    image = sources_data / "circle" / "circle_000.png"
    invoke_ok("explain", "--model-path", source.path, "--image-path", image, "--output-dir", tmp_path / "one",
              "--save-raw", *source.flags)
    raw = np.load(tmp_path / "one" / "circle_000_gradcam.npy")
    _, probabilities = expected(source, image)
    labels = max(1, len(probabilities))
    assert raw.shape == ((labels, *source.size) if source.output == "multilabel" else source.size)
    figure = cv2.imread(str(tmp_path / "one" / "circle_000_gradcam.png"))
    assert figure.shape[:2] == figure_shape(source.size, labels if source.output == "multilabel" else 1)
    if source.channels == 1:  # the input panel is the grey image the model saw
        panel = figure[48 : 48 + source.size[0], : source.size[1]].astype(int)
        assert np.abs(panel[..., 0] - panel[..., 1]).max() == 0 and np.abs(panel[..., 1] - panel[..., 2]).max() == 0

    invoke_ok("explain", "--model-path", source.path, "--data-dir", sources_data, "--output-dir", tmp_path / "all",
              "--num-workers", "0", "--batch-size", "2", *source.flags)
    assert_batch_follows_the_model(tmp_path / "all", sources_data, lambda image: expected(source, image))
