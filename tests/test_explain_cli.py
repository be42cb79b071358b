"""`camviz explain` end to end: the installed command, run as a subprocess on the trained shapes classifier."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from manifest_rows import manifest_rows

BATCH_NAME = re.compile(r"^gradcam_(\d{4})_true_(\w+)_pred_(\w+)\.png$")


def _figures(output_dir: Path) -> list[str]:
    return sorted(p.name for p in output_dir.glob("gradcam_*.png"))


@pytest.fixture(scope="module")
def full_run(camviz, trained_checkpoint, shapes_split, tmp_path_factory):
    """One batch run over the whole synthetic split, with raw CAMs."""
    data_dir, boxes = shapes_split
    out = tmp_path_factory.mktemp("full") / "gradcam_results" / "batch"
    result = camviz("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir,
                    "--output-dir", out, "--save-raw", "--num-workers", "2")
    return result, out, data_dir, boxes


def test_batch_run_names_every_sample_by_index_truth_and_prediction(full_run) -> None:
    result, out, data_dir, boxes = full_run
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


def test_single_image_mode_writes_figure_overlay_and_raw(camviz, trained_checkpoint, shapes_split, tmp_path) -> None:
    data_dir, _ = shapes_split
    image = data_dir / "square" / "square_003.png"
    outputs = {}
    for target in (None, 0):
        out = tmp_path / f"target_{target}"
        extra = [] if target is None else ["--target-category", target]
        result = camviz("explain", "--model-path", trained_checkpoint, "--image-path", image,
                        "--output-dir", out, "--save-raw", *extra)
        assert result.returncode == 0, result.stderr
        assert sorted(p.name for p in out.iterdir()) == [
            "square_003_gradcam.npy", "square_003_gradcam.png", "square_003_gradcam_overlay.png"
        ]
        assert cv2.imread(str(out / "square_003_gradcam_overlay.png")).shape == (96, 96, 3)
        figure = cv2.imread(str(out / "square_003_gradcam.png"))
        assert figure.shape[1] > 3 * figure.shape[0] - 200  # three panels side by side
        outputs[target] = np.load(out / "square_003_gradcam.npy")
    assert not np.allclose(outputs[None], outputs[0]), "explaining another class gives another map"


def test_config_preset_with_flags_winning(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    data_dir, _ = shapes_split
    preset = tmp_path / "preset.toml"
    preset.write_text(
        f'model-path = "{trained_checkpoint}"\ndata-dir = "{data_dir}"\n'
        f'output-dir = "{tmp_path / "out"}"\nnum-samples = 3\nnum-workers = 0\nclasses = "triangle"\n'
    )
    result = camviz_main("explain", "--config", preset, "--num-samples", 4)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path / "out")
    assert len(rows) == 4 and {row["true"] for row in rows} == {"triangle"}
    bad = tmp_path / "bad.toml"
    bad.write_text('modle-path = "x"\n')
    result = camviz_main("explain", "--config", bad)
    assert result.returncode == 2 and "modle_path" in result.stderr and "Traceback" not in result.stderr


def test_constant_heatmap_is_warned_about(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    """The guide's 'all black' case: a head with zero weights gives zero gradients, hence a flat CAM."""
    checkpoint = torch.load(trained_checkpoint, weights_only=True)
    checkpoint["state_dict"] = {
        key: torch.zeros_like(value) if key.startswith("head.") else value
        for key, value in checkpoint["state_dict"].items()
    }
    broken = tmp_path / "flat.pth"
    torch.save(checkpoint, broken)
    data_dir, _ = shapes_split
    result = camviz_main("explain", "--model-path", broken, "--data-dir", data_dir, "--output-dir", tmp_path / "out",
                    "--num-samples", 2, "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    assert "constant heatmap" in result.stderr and "--target-layer" in result.stderr
    assert all(row["error"].startswith("warning: constant heatmap") for row in manifest_rows(tmp_path / "out"))


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


def test_preset_can_extend_the_family_table(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    image = shapes_split[0] / "triangle" / "triangle_001.png"
    preset = tmp_path / "family.toml"
    preset.write_text('[[family]]\nname = "shapenet_early"\nclasses = ["ShapeNet"]\npaths = ["stages.-1.-2"]\n')
    raws = {}
    for name, extra in (("default", []), ("custom", ["--config", preset])):
        result = camviz_main("explain", *extra, "--model-path", trained_checkpoint, "--image-path", image,
                        "--output-dir", tmp_path / name, "--save-raw")
        assert result.returncode == 0, result.stderr
        raws[name] = np.load(tmp_path / name / "triangle_001_gradcam.npy")
    assert not np.allclose(raws["default"], raws["custom"]), "the preset's family row chose another layer"
    preset.write_text('[[family]]\nname = "incomplete"\n')
    result = camviz_main("explain", "--config", preset, "--model-path", trained_checkpoint, "--image-path", image)
    assert result.returncode == 2 and "needs name and paths" in result.stderr


def test_metrics_are_numeric_manifest_columns_with_means_in_the_summary(
    camviz_main, trained_checkpoint, shapes_split, tmp_path
) -> None:
    data_dir, _ = shapes_split
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                    "--metrics", "--num-samples", 3, "--num-workers", 0, "--method", "gradcam++")
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path, ("road_combined", "cam_confidence_change"))
    assert len(rows) == 3 and all(row["output"].startswith("gradcam++_") for row in rows)
    for name in ("road_combined", "cam_confidence_change"):
        values = [float(row[name]) for row in rows]
        assert all(np.isfinite(values))
        mean = re.search(rf"mean {name}: (-?[\d.]+)", result.stdout)
        assert mean and float(mean.group(1)) == pytest.approx(np.mean(values), abs=1e-3)
