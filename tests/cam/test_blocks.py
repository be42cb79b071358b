"""The cascade's blocks: named after the model's own modules, output side first, split at the target layer."""

from __future__ import annotations

import timm
import torch
import torchvision
from torch import nn

from camviz.cam.blocks import cascade_blocks, target_block
from camviz.discovery.layers import resolve_targets
from camviz.discovery.models import LoadedModel


def test_the_demo_model_steps_from_its_head_through_each_block_to_its_stem(loaded: LoadedModel) -> None:
    blocks = cascade_blocks(loaded.model, ["stages.2.3"], 96)
    assert blocks.names == ["head", "stages.2.3", "stages.2.2", "stages.2.0", "stages.1.2", "stages.1.0",
                            "stages.0.0", "stem"]  # ReLUs and the pool have no weights: no step
    assert blocks.above == ["head"] and blocks.target_blocks == ["stages.2.3"]


def test_resnet_blocks_are_its_bottlenecks_in_every_stage() -> None:
    model = torchvision.models.resnet18(weights=None).eval()
    blocks = cascade_blocks(model, resolve_targets(model, "resnet18", img_size=64).names, 64)
    assert blocks.names == ["fc", "layer4.1", "layer4.0", "layer3.1", "layer3.0", "layer2.1", "layer2.0",
                            "layer1.1", "layer1.0", "bn1", "conv1"]
    assert blocks.above_target == 1


def test_a_vit_target_inside_a_block_randomises_head_and_final_norm_above_it() -> None:
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, num_classes=4).eval()
    blocks = cascade_blocks(model, ["blocks.11.norm1"], 64)
    assert target_block(model, "blocks.11.norm1") == "blocks.11"
    assert blocks.names[:3] == ["head", "norm", "blocks.11"] and blocks.above == ["head", "norm"]
    assert blocks.names[-2:] == ["blocks.0", "patch_embed"]


class _ShuffledNet(nn.Module):
    """Modules registered in another order than the forward calls them, and an auxiliary head it never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Linear(8, 3)
        self.aux = nn.Linear(8, 3)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean((2, 3)))


def test_order_is_the_forward_pass_and_uncalled_modules_are_left_out() -> None:
    blocks = cascade_blocks(_ShuffledNet().eval(), ["features.2"], 16)
    assert blocks.names == ["classifier", "features.2", "features.0"]
    assert blocks.above_target == 1
