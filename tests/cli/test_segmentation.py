"""`camviz explain` on a segmentation model: the shipped demo (trained on the shapes, a label per pixel), its
images in a plain folder and their label maps as --masks."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

from camviz.cam.engine import CamEngine
from camviz.cam.regions import RegionChoice
from camviz.demo import SEGMENTATION_CHECKPOINT_PATH
from camviz.demo.segmentation_shapes import write_segmentation_folder
from camviz.discovery.options import ModelOptions
from camviz.run.model import resolve_model

CLASSES = ("background", "circle", "square", "triangle")


@pytest.fixture(scope="module")
def seg_split(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[int, ...]]]:
    """12 held-out images (`images/`) and their label maps (`masks/`)."""
    root = tmp_path_factory.mktemp("segsplit")
    shown = write_segmentation_folder(root, count=12, seed=4242)
    return root, shown


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_a_row_and_figure_per_image_and_present_class_with_iou_and_energy_from_the_label_maps(
        camviz_main: Callable[..., object], seg_split: tuple[Path, dict], tmp_path: Path) -> None:
    root, shown = seg_split
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--data-dir", root / "images",
                         "--masks", root / "masks", "--output-dir", out, "--cpu")
    assert result.returncode == 0, result.stderr
    rows = _rows(out)
    by_image: dict[str, set[str]] = {}
    for row in rows:
        by_image.setdefault(row["path"], set()).add(row["target"])
        assert row["output"] == f"gradcam_{int(row['index']):04d}_{row['target']}.png"
        assert (out / row["output"]).is_file()
    truth = {name: {CLASSES[c] for c in classes} for name, classes in shown.items()}
    assert sum(by_image[name] == truth[name] for name in truth) >= 11  # the model finds the shapes present
    ious = [float(row["class_iou"]) for row in rows]
    energies = [float(row["region_energy"]) for row in rows]
    shares = [float(row["region_share"]) for row in rows]
    assert np.mean(ious) > 0.8
    assert np.mean(energies) > 3 * np.mean(shares)  # the map lies on the explained class's own region
    assert np.mean(energies) > 0.5
    assert "mean IoU over classes" in result.stdout
    trust = dict(csv.reader((out / "trust.csv").open()))
    assert float(trust["segmentation.mean_iou"]) > 0.8 and trust["images"] == "12"
    page = (out / "index.html").read_text()
    assert '"segmentation":[[' in page


def test_raw_cams_equal_plain_pytorch_grad_cam(seg_split: tuple[Path, dict]) -> None:
    root, _ = seg_split
    resolved = resolve_model(ModelOptions(path=SEGMENTATION_CHECKPOINT_PATH, cpu=True))
    model, layers = resolved.model, resolved.targets.modules
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / "images").glob("*.png"))[:4]])
    inputs = resolved.preprocessing.normalize(torch.from_numpy(pixels))
    with CamEngine(model, layers, regions=RegionChoice()) as engine:
        regions = engine.compute(inputs).regions
    assert regions is not None
    with torch.no_grad():
        predicted = model(inputs).argmax(1).numpy()
    compared = 0
    with GradCAM(model, list(layers)) as plain:
        for i, found in enumerate(regions):
            for position, category in enumerate(found.classes):
                mask = (predicted[i] == category).astype(np.float32)
                expected = plain(inputs[i:i + 1], targets=[SemanticSegmentationTarget(category, mask)])[0]
                assert np.abs(found.cams[position] - expected).max() < 1e-5
                assert expected.std() > 0.01  # not a constant map
                compared += 1
    assert compared >= 6


def test_resume_keeps_every_class_row_and_a_new_threshold_redoes_them(
        camviz_main: Callable[..., object], seg_split: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = seg_split
    out = tmp_path / "out"
    args = ("explain", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--data-dir", root / "images", "--masks",
            root / "masks", "--output-dir", out, "--cpu")
    assert camviz_main(*args).returncode == 0
    first = _rows(out)
    figure = out / first[0]["output"]
    stamp = figure.stat().st_mtime_ns
    again = camviz_main(*args, "--resume")
    assert again.returncode == 0
    assert _rows(out) == first and figure.stat().st_mtime_ns == stamp
    assert "already done before --resume: 12" in again.stdout
    changed = camviz_main(*args, "--resume", "--only-misclassified", "--iou-threshold", "1.0")
    assert changed.returncode == 0
    assert "other settings" in changed.stderr
    assert len(_rows(out)) == len(first)


def test_only_misclassified_keeps_the_figures_of_images_below_the_iou_threshold(
        camviz_main: Callable[..., object], seg_split: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = seg_split
    for threshold, expect_all in (("1.0", True), ("0.0", False)):
        out = tmp_path / threshold
        result = camviz_main("explain", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--data-dir", root / "images",
                             "--masks", root / "masks", "--output-dir", out, "--cpu", "--only-misclassified",
                             "--iou-threshold", threshold)
        assert result.returncode == 0, result.stderr
        rows = _rows(out)
        with_figure = [row for row in rows if row["output"]]
        assert (len(with_figure) == len(rows)) if expect_all else not with_figure


def test_a_single_image_gets_a_figure_per_present_class(camviz_main: Callable[..., object],
                                                       seg_split: tuple[Path, dict], tmp_path: Path) -> None:
    root, shown = seg_split
    name = next(name for name, classes in shown.items() if len(classes) >= 2)
    result = camviz_main("explain", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--image-path",
                         root / "images" / name, "--output-dir", tmp_path, "--cpu")
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    stem = Path(name).stem
    assert written == sorted(f"{stem}_gradcam_{CLASSES[c]}.png" for c in shown[name])


def test_bad_input_to_a_segmentation_model_is_one_line(camviz_main: Callable[..., object],
                                                        seg_split: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = seg_split
    base = ("explain", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--data-dir", root / "images", "--cpu")
    for extra, expected in (
            (("--target-category", "4"), "--target-category"),
            (("--metrics", "road"), "--metrics"),
            (("--only-misclassified",), "needs --masks"),
            (("--audit",), "--audit")):
        result = camviz_main(*base, "--output-dir", tmp_path / extra[0], *extra)
        assert result.returncode == 2, (extra, result.stdout, result.stderr)
        assert expected in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    masks = tmp_path / "masks"
    shutil.copytree(root / "masks", masks)
    Image.fromarray(np.full((96, 96), 7, np.uint8), mode="L").save(masks / "0003.png")  # class 7 of 4
    result = camviz_main(*base, "--output-dir", tmp_path / "beyond", "--masks", masks)
    assert result.returncode != 0 and "0003.png" in result.stderr and "Traceback" not in result.stderr


def test_label_maps_of_another_size_are_resized_and_said_once(camviz_main: Callable[..., object],
                                                              seg_split: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = seg_split
    masks = tmp_path / "masks"
    masks.mkdir()
    for path in sorted((root / "masks").glob("*.png")):
        with Image.open(path) as image:
            image.resize((192, 192), Image.NEAREST).save(masks / path.name)
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--data-dir", root / "images",
                         "--masks", masks, "--output-dir", out, "--cpu")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("resized (nearest)") == 1
    assert np.mean([float(row["class_iou"]) for row in _rows(out)]) > 0.8
    record = json.loads((out / "run.json").read_text())
    assert any("resized (nearest)" in note for note in record["notes"])


def test_compare_shows_each_method_on_the_first_predicted_class_and_sanity_refuses_in_one_line(
        camviz_main: Callable[..., object], seg_split: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = seg_split
    images = sorted((root / "images").glob("*.png"))[:2]
    figure = tmp_path / "compare.png"
    result = camviz_main("compare", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--image-path", images[0],
                         "--image-path", images[1], "--method", "gradcam", "--method", "eigencam", "--output", figure,
                         "--cpu")
    assert result.returncode == 0, result.stderr
    with Image.open(figure) as picture:
        assert picture.size[0] > 3 * 224  # the input and two methods side by side
    refused = camviz_main("sanity", "--model-path", SEGMENTATION_CHECKPOINT_PATH, "--image-path", images[0],
                          "--output-dir", tmp_path / "sanity", "--cpu")
    assert refused.returncode == 2 and "explains classifiers" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
