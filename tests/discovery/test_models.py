"""camviz.discovery.models: checkpoint → built model, and what camviz knows of its input, classes and trust."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torchvision

from camviz import load_model
from camviz.discovery.options import ModelOptions
from camviz.errors import CheckpointError, UsageError
from tests.support.checkpoints import save_timm_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)


def test_bare_state_dict_needs_a_model_name_and_infers_the_class_count(tmp_path: Path) -> None:
    path = tmp_path / "bare.pth"
    weights = save_timm_weights(path)

    with pytest.raises(UsageError, match="--model-name"):
        load_model(path)
    loaded = load_model(ModelOptions(path=path, name="resnet18"))

    assert (loaded.model_name, loaded.num_classes, loaded.class_names) == ("resnet18", 7, None)
    assert torch.equal(loaded.model.fc.weight, weights["fc.weight"]) and not loaded.model.training


@pytest.mark.slow
def test_input_config_comes_from_checkpoint_then_model_then_imagenet(tmp_path: Path) -> None:
    plain, recorded, vit = tmp_path / "plain.pth", tmp_path / "recorded.pth", tmp_path / "vit.pth"
    save_timm_weights(plain, model_name="resnet18")
    save_timm_weights(recorded, model_name="resnet18", img_size=96, mean=(0.1, 0.2, 0.3), std=[0.5])
    torch.save({"arch": "vit_tiny_patch16_224", "img_size": 64,
                "state_dict": timm.create_model("vit_tiny_patch16_224", img_size=64, num_classes=2).state_dict()}, vit)

    defaults, custom, token = load_model(plain), load_model(recorded), load_model(vit)

    assert (defaults.input.img_size, defaults.input.mean) == (224, IMAGENET_MEAN)
    assert (custom.input.img_size, custom.input.mean, custom.input.std) == (96, (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    assert (token.input.img_size, token.input.mean, token.num_classes) == (64, (0.5, 0.5, 0.5), 2)  # mean: vit's own config
    assert tuple(token.model.patch_embed.grid_size) == (4, 4)  # built at the checkpoint's size


def test_pickled_module_loads_only_when_trusted(tmp_path: Path) -> None:
    path = tmp_path / "whole.pth"
    torch.save(torchvision.models.resnet18(num_classes=3), path)

    with pytest.raises(CheckpointError, match="--trust-checkpoint"):
        load_model(path)
    loaded = load_model(ModelOptions(path=path, trust_checkpoint=True))

    assert (loaded.model_name, loaded.num_classes, loaded.model.training) == ("ResNet", 3, False)
