"""camviz.discovery.build: a model name becomes an `nn.Module` (timm, then torchvision) fitted to its weights, or
one line that names the mismatch or the names that are close."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from camviz import load_model
from camviz.errors import CheckpointError, UsageError
from tests.support.checkpoints import save_timm_weights


def test_model_name_overrides_the_checkpoint_and_mismatches_name_keys(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    save_timm_weights(path, model_name="resnet34")

    with pytest.raises(CheckpointError, match=r"resnet34 \(timm\) does not fit its weights: missing layer1\.2\.conv1\.weight"):
        load_model(path)
    assert load_model(path, model_name="resnet18").model_name == "resnet18"


def test_recorded_class_count_that_disagrees_with_the_weights_names_the_shapes(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    save_timm_weights(path, num_classes=7, model_name="resnet18")
    torch.save({**torch.load(path), "num_classes": 5}, path)

    with pytest.raises(CheckpointError, match=r"shape fc\.weight \(7, 512\) vs model \(5, 512\)"):
        load_model(path)


def test_unknown_model_name_suggests_close_names(tmp_path: Path) -> None:
    path = tmp_path / "bare.pth"
    save_timm_weights(path)

    with pytest.raises(UsageError, match=r"unknown model 'resnet_18'.*did you mean.*resnet18.*--plugin"):
        load_model(path, "resnet_18")


def test_googlenet_without_aux_heads_builds_without_them(tmp_path: Path) -> None:
    path = tmp_path / "googlenet.pth"
    model = torchvision.models.googlenet(weights=None, num_classes=4, aux_logits=False, init_weights=False)
    torch.save({"model_name": "googlenet", "state_dict": model.state_dict()}, path)

    loaded = load_model(path)

    assert loaded.model.aux1 is None and loaded.num_classes == 4
