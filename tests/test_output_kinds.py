"""Sigmoid heads on trained models (issue 11): a one-logit binary "is there a circle?" model and a multilabel
"which shapes are in this picture?" model, trained here in seconds on the synthetic shapes.

Both reuse the shipped demo classifier's backbone (it already tells the shapes apart) and train only a new head
on its frozen features. The CAM of the decided class (binary) and of each predicted label (multilabel) must peak
on that object.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from camviz.cli.commands import app
from camviz.demo import CHECKPOINT_PATH
from camviz.demo.shapes import CLASS_NAMES, make_sample
from camviz.demo.train import to_tensor

Box = tuple[int, int, int, int]
MARGIN = 4  # pixels around an object's box that still count as "on the object" (stride-8 maps, upsampled)


def _demo_backbone(num_outputs: int) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model("camviz_shapenet", num_classes=num_outputs)
    state = torch.load(CHECKPOINT_PATH)["state_dict"]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")}, strict=False)
    return model.eval()


def _train_head(model: torch.nn.Module, images: np.ndarray, targets: np.ndarray, steps: int = 300) -> torch.nn.Module:
    """Fit the head (BCE with logits) on the frozen backbone's pooled features."""
    head = model.head
    model.reset_classifier(0)
    with torch.no_grad():
        x = to_tensor(images)
        features = torch.cat([model(x[i : i + 64]) for i in range(0, len(x), 64)])
    y = torch.from_numpy(targets).reshape(len(targets), -1)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(head(features), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.head = head
    return model.eval()


def _circle_or_not(count: int, seed: int) -> tuple[list, np.ndarray]:
    rng = np.random.default_rng(seed)
    samples = [make_sample(rng, i % 3) for i in range(count)]
    return samples, np.array([s.label == 0 for s in samples], np.float32)


def _pairs(count: int, seed: int) -> tuple[list[tuple[Image.Image, dict[str, Box]]], np.ndarray]:
    """96x192 images: two different shapes side by side; the labels are the shapes present, with their boxes."""
    rng = np.random.default_rng(seed)
    pictures, targets = [], np.zeros((count, 3), np.float32)
    for i in range(count):
        a, b = (int(v) for v in rng.choice(3, size=2, replace=False))
        left, right = make_sample(rng, a), make_sample(rng, b)
        joined = Image.fromarray(np.concatenate([np.asarray(left.image), np.asarray(right.image)], axis=1))
        x0, y0, x1, y1 = right.box
        pictures.append((joined, {CLASS_NAMES[a]: left.box, CLASS_NAMES[b]: (x0 + 96, y0, x1 + 96, y1)}))
        targets[i, [a, b]] = 1
    return pictures, targets


@pytest.fixture(scope="module")
def binary_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Box]]:
    """A trained one-logit circle detector and a test split (`circle`, `not_circle`) it never saw."""
    root = tmp_path_factory.mktemp("binary")
    samples, targets = _circle_or_not(150, seed=1)
    model = _train_head(_demo_backbone(1), np.stack([np.asarray(s.image) for s in samples]), targets)
    torch.save({"model_name": "camviz_shapenet", "class_names": ["not_circle", "circle"], "img_size": 96,
                "mean": [0.5] * 3, "std": [0.5] * 3, "state_dict": model.state_dict()}, root / "circle.pth")
    boxes = {}
    for i, sample in enumerate(_circle_or_not(8, seed=777)[0]):
        folder = "circle" if sample.label == 0 else "not_circle"
        (root / "test" / folder).mkdir(parents=True, exist_ok=True)
        sample.image.save(root / "test" / folder / f"{i}.png")
        boxes[f"{folder}/{i}.png"] = sample.box
    return root / "circle.pth", root / "test", boxes


@pytest.fixture(scope="module")
def multilabel_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, dict[str, Box]]]:
    """A trained 3-label "which shapes" model (the flag recorded) and 96x192 test pictures, filed by the left shape."""
    root = tmp_path_factory.mktemp("multilabel")
    pictures, targets = _pairs(150, seed=2)
    model = _train_head(_demo_backbone(3), np.stack([np.asarray(p) for p, _ in pictures]), targets)
    torch.save({"model_name": "camviz_shapenet", "class_names": list(CLASS_NAMES), "multi_label": True,
                "img_size": [96, 192], "mean": [0.5] * 3, "std": [0.5] * 3, "state_dict": model.state_dict()},
               root / "shapes.pth")
    boxes = {}
    for i, (picture, labels) in enumerate(_pairs(6, seed=778)[0]):
        left = min(labels, key=lambda name: labels[name][0])
        (root / "test" / left).mkdir(parents=True, exist_ok=True)
        picture.save(root / "test" / left / f"{i}.png")
        boxes[f"{left}/{i}.png"] = labels
    return root / "shapes.pth", root / "test", boxes


def _peak(cam: np.ndarray) -> tuple[int, int]:
    y, x = np.unravel_index(int(np.argmax(cam)), cam.shape)
    return int(x), int(y)


def _inside(point: tuple[int, int], box: Box) -> bool:
    x, y = point
    x0, y0, x1, y1 = box
    return x0 - MARGIN <= x < x1 + MARGIN and y0 - MARGIN <= y < y1 + MARGIN


def _run(*args: object) -> list[dict[str, str]]:
    result = CliRunner().invoke(app, ["explain", *map(str, args)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_binary_model_decides_by_sigmoid_and_its_cam_lands_on_the_object(binary_case, tmp_path: Path) -> None:
    checkpoint, data_dir, boxes = binary_case
    result = _run("--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path, "--save-raw",
                  "--num-workers", "0")
    rows = list(csv.DictReader((tmp_path / "manifest.csv").open()))
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
    _run("--model-path", checkpoint, "--image-path", data_dir / path, "--output-dir", tmp_path, "--save-raw",
         "--target-category", "1")
    cam = np.load(tmp_path / f"{Path(path).stem}_gradcam.npy")
    assert cam.shape == (96, 96) and _inside(_peak(cam), boxes[path])


def test_multilabel_model_explains_every_predicted_label_on_its_own_object(multilabel_case, tmp_path: Path,
                                                                           camviz) -> None:
    checkpoint, data_dir, boxes = multilabel_case
    result = camviz("explain", "--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                    "--save-raw", "--num-workers", "0")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "manifest.csv").open()))
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
        for label, cam in zip(labels, cams):
            if label in truth:
                assert _inside(_peak(cam), truth[label]), (row, label, _peak(cam))
    assert exact >= 5
    assert "accuracy on processed samples" in result.stdout


def test_multilabel_threshold_decides_the_label_set(multilabel_case, tmp_path: Path) -> None:
    checkpoint, data_dir, _ = multilabel_case
    _run("--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path / "strict",
         "--num-workers", "0", "--threshold", "0.999999")
    _run("--model-path", checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path / "loose",
         "--num-workers", "0", "--threshold", "0.000001")
    strict = list(csv.DictReader((tmp_path / "strict" / "manifest.csv").open()))
    loose = list(csv.DictReader((tmp_path / "loose" / "manifest.csv").open()))
    assert all(len(row["pred"].split("+")) == 3 for row in loose)
    for row in strict:  # nothing that sure: `none`, the CAM explains the most probable label
        assert row["pred"] == "none" or all(float(p) >= 0.999999 for p in row["confidence"].split("+"))


def test_decision_rules_of_each_output_kind() -> None:
    from camviz.discovery.output_kind import OutputKind

    binary, softmax = OutputKind("binary"), OutputKind("softmax")
    assert binary.predicted(np.array([0.5, 0.5])) == [1]  # p >= 0.5 is the positive class
    assert binary.predicted(np.array([0.51, 0.49])) == [0]
    labels = np.array([0.7, 0.2, 0.9, 0.5])
    assert OutputKind("multilabel", 0.5).predicted(labels) == [2, 0, 3]  # most probable first
    assert OutputKind("multilabel", 0.95).predicted(labels) == []
    assert OutputKind("multilabel", 0.95).explained(labels) == [2]  # nothing passes: the top label is explained
    assert OutputKind("multilabel", 0.5).explained(labels, target_category=1) == [1]
    assert softmax.predicted(np.array([0.2, 0.5, 0.3])) == [1]