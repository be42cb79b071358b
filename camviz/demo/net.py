"""ShapeNet: a tiny stride-8 CNN for the synthetic shapes, laid out like ConvNeXtV2/StarNet.

``stem`` -> ``stages`` (an ``nn.Sequential`` of ``nn.Sequential`` stages of residual blocks) ->
global average pool -> ``head``, so ``model.stages[-1][-1]`` is the natural Grad-CAM layer and a
96 px input gives a 12x12 map there. Registered with timm as ``camviz_shapenet``: an ordinary plugin (the shipped
checkpoint records ``plugins: ["camviz.demo.net"]``), its target layer found from timm-style ``feature_info``
like any timm model's.
"""

from __future__ import annotations

import torch
from timm.models import register_model
from torch import nn

__all__ = ["IMG_SIZE", "MEAN", "STD", "Block", "ShapeNet", "camviz_shapenet"]

IMG_SIZE = 96
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
PRETRAINED_CFG = {"input_size": (3, IMG_SIZE, IMG_SIZE), "mean": MEAN, "std": STD,
                  "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "center",
                  "num_classes": 3, "first_conv": "stem.0.0", "classifier": "head"}


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution + batch norm (no activation)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))


class Block(nn.Module):
    """Residual block: two 3x3 conv-BN layers, ReLU after each and after the sum."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(dim, dim)
        self.conv2 = _conv_bn(dim, dim)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.conv2(self.act(self.conv1(x))))


class ShapeNet(nn.Module):
    """Stem (stride 2), then stages that each open with a stride-2 conv: total stride 8."""

    pretrained_cfg: dict[str, object]  # timm's, set by the entry point
    default_cfg: dict[str, object]

    def __init__(self, num_classes: int = 3, in_chans: int = 3,
                 dims: tuple[int, ...] = (16, 32, 48), depths: tuple[int, ...] = (1, 1, 2),
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.num_features = dims[-1]
        self.stem = nn.Sequential(_conv_bn(in_chans, dims[0], stride=2), nn.ReLU(inplace=True))
        stages = []
        for i, (dim, depth) in enumerate(zip(dims, depths, strict=True)):
            down = [] if i == 0 else [_conv_bn(dims[i - 1], dim, stride=2), nn.ReLU(inplace=True)]
            stages.append(nn.Sequential(*down, *[Block(dim) for _ in range(depth)]))
        self.stages = nn.Sequential(*stages)
        self.feature_info = [  # timm's metadata: each stage's output, at its last block
            {"num_chs": dim, "reduction": 2 ** (i + 1), "module": f"stages.{i}.{len(stage) - 1}"}
            for i, (dim, stage) in enumerate(zip(dims, stages, strict=True))]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.head: nn.Module = nn.Linear(dims[-1], num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.drop(self.pool(x).flatten(1))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


@register_model
def camviz_shapenet(pretrained: bool = False, num_classes: int = 3, **kwargs) -> ShapeNet:
    """timm entry point. There are no hub weights: load ``camviz.demo.CHECKPOINT_PATH``."""
    if pretrained:
        raise ValueError("camviz_shapenet has no hub weights; load camviz.demo.CHECKPOINT_PATH")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    model = ShapeNet(num_classes=num_classes, **kwargs)
    model.pretrained_cfg = model.default_cfg = {**PRETRAINED_CFG, "num_classes": num_classes}
    return model
