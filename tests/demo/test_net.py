"""camviz.demo.net: the shipped demo checkpoint (ShapeNet) loads safely, has its documented stride and target layer,
classifies fresh shapes and its Grad-CAM points at the object; it is an ordinary plugin (recorded in the checkpoint,
its target layer read from its timm-style `feature_info`), named by no production table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

import camviz.discovery
from camviz.demo import CHECKPOINT_PATH, CLASS_NAMES
from camviz.demo.shapes import make_arrays
from camviz.discovery.families import FAMILIES

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
    assert ckpt["model_name"] == "camviz_shapenet" and ckpt["plugins"] == ["camviz.demo.net"]
    assert ckpt["class_names"] == list(CLASS_NAMES) and ckpt["num_classes"] == 3
    assert ckpt["img_size"] == 96 and len(ckpt["mean"]) == len(ckpt["std"]) == 3
    assert CKPT.stat().st_size < 1_000_000


def test_stride_and_target_layer(model: torch.nn.Module) -> None:
    feats = model.forward_features(torch.zeros(1, 3, 96, 96))
    assert feats.shape[-2:] == (12, 12)
    assert model.stages[-1][-1] in dict(model.named_modules()).values()


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
    for m, (x0, y0, x1, y1) in zip(maps, boxes[correct], strict=True):
        yy, xx = np.unravel_index(np.argmax(m), m.shape)
        hits.append(x0 <= xx < x1 and y0 <= yy < y1)
    assert np.mean(hits) >= 0.9, f"pointing game {np.mean(hits):.3f}"


@pytest.mark.process
def test_the_checkpoint_alone_finds_its_plugin_and_target_layer(camviz) -> None:
    """A fresh process that never imports camviz.demo: the recorded plugin registers the model, and timm's
    `feature_info` rule picks the last block of the last stage."""
    result = camviz("layers", "--model-path", CHECKPOINT_PATH, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["family"], info["target_layers"], info["reshape"]) == ("feature_info", ["stages.2.3"], None)


def test_no_production_table_or_import_names_the_demo() -> None:
    assert not [family for family in FAMILIES if "ShapeNet" in family.classes or "shapenet" in str(family.patterns)]
    sources = Path(camviz.discovery.__file__).parent.glob("*.py")
    assert not [path.name for path in sources if "camviz.demo" in path.read_text(encoding="utf-8")]
