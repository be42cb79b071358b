"""The shipped demo checkpoint: it classifies fresh shapes and its Grad-CAM points at the object."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from camviz.demo import CHECKPOINT_PATH, CLASS_NAMES, write_image_folder
from camviz.demo.shapes import make_arrays, make_sample

FRESH_SEED = 20_240_611  # differs from every seed the training script uses
N_FRESH = 60


CKPT = Path(os.environ.get("CAMVIZ_DEMO_CKPT", CHECKPOINT_PATH))  # override to vet a retrained one


@pytest.fixture(scope="module")
def ckpt() -> dict:
    return torch.load(CKPT, map_location="cpu", weights_only=True)  # must load safely


@pytest.fixture(scope="module")
def model(ckpt: dict) -> torch.nn.Module:
    m = timm.create_model(ckpt["model_name"], num_classes=ckpt["num_classes"])
    m.load_state_dict(ckpt["state_dict"])
    return m.eval()


def _normalise(images: np.ndarray, ckpt: dict) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(ckpt["mean"]).view(1, 3, 1, 1)
    return (x - mean) / torch.tensor(ckpt["std"]).view(1, 3, 1, 1)


def test_checkpoint_metadata(ckpt: dict) -> None:
    assert ckpt["model_name"] == "camviz_shapenet"
    assert ckpt["class_names"] == list(CLASS_NAMES) and ckpt["num_classes"] == 3
    assert ckpt["img_size"] == 96 and len(ckpt["mean"]) == len(ckpt["std"]) == 3
    assert CKPT.stat().st_size < 1_000_000


def test_stride_and_target_layer(model: torch.nn.Module) -> None:
    feats = model.forward_features(torch.zeros(1, 3, 96, 96))
    assert feats.shape[-2:] == (12, 12)
    assert model.stages[-1][-1] in dict(model.named_modules()).values()


def test_generator_is_deterministic_and_boxes_fit() -> None:
    a = make_sample(np.random.default_rng(3), 2)
    b = make_sample(np.random.default_rng(3), 2)
    assert a.box == b.box and np.array_equal(np.asarray(a.image), np.asarray(b.image))
    _, _, boxes = make_arrays(30, seed=5)
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= 96).all()
    sides = boxes[:, 2:] - boxes[:, :2]
    assert (sides >= 15).all() and (sides <= 36).all()


def test_write_image_folder(tmp_path) -> None:
    boxes = write_image_folder(tmp_path / "data", per_class=2, seed=1,
                               boxes_path=tmp_path / "b.json")
    files = sorted(p.relative_to(tmp_path / "data").as_posix()
                   for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert files == sorted(boxes) and len(files) == 6
    assert files[0] == "circle/circle_000.png" and (tmp_path / "b.json").is_file()


def test_accuracy_and_pointing_game(model: torch.nn.Module, ckpt: dict) -> None:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    images, labels, boxes = make_arrays(N_FRESH, seed=FRESH_SEED)
    x = _normalise(images, ckpt)
    with torch.no_grad():
        preds = model(x).argmax(1).numpy()
    correct = preds == labels
    assert correct.mean() >= 0.9
    with GradCAM(model, target_layers=[model.stages[-1][-1]]) as cam:
        maps = cam(x[correct], targets=[ClassifierOutputTarget(int(c)) for c in labels[correct]])
    hits = []
    for m, (x0, y0, x1, y1) in zip(maps, boxes[correct]):
        yy, xx = np.unravel_index(np.argmax(m), m.shape)
        hits.append(x0 <= xx < x1 and y0 <= yy < y1)
    assert np.mean(hits) >= 0.9, f"pointing game {np.mean(hits):.3f}"
