"""camviz.discovery.metadata: what training scripts record beside the weights (top level, timm `args`, Lightning
`hyper_parameters`, a hub `config.json`) is read, and a value of the wrong type is one clear line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from camviz.discovery.metadata import read_metadata
from camviz.errors import CheckpointError
from tests.support.checkpoints import BAD_METADATA as WRONG
from tests.support.checkpoints import SHAPES, tiny_timm


def test_top_level_wins_over_args_and_hyper_parameters(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {}, "img_size": [3, 64, 48],
                "args": argparse.Namespace(model="resnet18", num_classes=3, mean=[0.5], img_size=224),
                "hyper_parameters": {"model_name": "ignored", "class_to_idx": {"b": 1, "a": 0, "c": 2},
                                     "std": torch.tensor([0.2, 0.3, 0.4]), "multi_label": True}}, path)
    meta = read_metadata(torch.load(path, weights_only=False), path)
    assert meta["model_name"] == "resnet18" and meta["num_classes"] == 3
    assert meta["img_size"] == (64, 48) and meta["in_chans"] == 3  # [C, H, W] at the top level
    assert meta["class_names"] == ["a", "b", "c"]  # class_to_idx ordered by index
    assert meta["mean"] == (0.5, 0.5, 0.5) and meta["std"] == pytest.approx((0.2, 0.3, 0.4))
    assert meta["multi_label"] is True


def test_a_timm_hub_config_beside_the_weights_is_read(tmp_path: Path) -> None:
    from timm.models._hub import save_for_hf

    save_for_hf(tiny_timm("test_vit", num_classes=3, img_size=64), tmp_path / "hub",
                model_config={"label_names": SHAPES}, safe_serialization=True)
    meta = read_metadata({}, tmp_path / "hub" / "model.safetensors", config=tmp_path / "hub" / "config.json")
    assert (meta["model_name"], meta["img_size"], meta["class_names"]) == ("test_vit", (64, 64), SHAPES)
    assert meta["model_args"]["img_size"] == [64, 64] and "num_classes" not in meta["model_args"]  # the head: from the weights


@pytest.mark.parametrize("key", WRONG)
def test_metadata_of_the_wrong_type_is_one_line_naming_the_file(tmp_path: Path, key: str) -> None:
    path = tmp_path / "bad.pth"
    with pytest.raises(CheckpointError) as refused:
        read_metadata({key: WRONG[key][0]}, path)
    message = str(refused.value)
    assert message.startswith(f"{path}: metadata ") and WRONG[key][1] in message and "\n" not in message
