"""ShapeDet: a tiny FCOS detector for the synthetic shapes scenes, registered with timm as `camviz_shapedet`.

torchvision's `FCOS` (anchor-free, its own post-processing: score threshold, NMS, top detections) on a three-stage
stride-8 CNN: one feature level, 12x12 at 96 px, `backbone.body` its Grad-CAM layer. The model normalises its input
itself (torchvision's `GeneralizedRCNNTransform`), so camviz feeds it pixels in [0, 1] (mean 0, std 1) at 96 px,
the size at which that transform leaves an image as it is. Like `camviz.demo.net`, an ordinary plugin: the shipped
checkpoint records `plugins: ["camviz.demo.det_net"]`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from timm.models import register_model
from torch import nn
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOSHead

__all__ = ["IMG_SIZE", "MEAN", "STD", "ShapeDetBackbone", "camviz_shapedet"]

IMG_SIZE = 96
MEAN = (0.5, 0.5, 0.5)  # applied inside the model (FCOS's transform)
STD = (0.5, 0.5, 0.5)
STRIDE = 8
PRETRAINED_CFG = {"input_size": (3, IMG_SIZE, IMG_SIZE), "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0),
                  "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "center", "num_classes": 3}


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ShapeDetBackbone(nn.Module):
    """Three stride-2 stages (two convolutions each): one feature map at stride 8, as FCOS's `OrderedDict`."""

    def __init__(self, dims: tuple[int, ...] = (16, 32, 64)) -> None:
        super().__init__()
        layers, cin = [], 3
        for dim in dims:
            layers.append(nn.Sequential(_conv_bn_relu(cin, dim, 2), _conv_bn_relu(dim, dim, 1)))
            cin = dim
        self.body = nn.Sequential(*layers)
        self.out_channels = dims[-1]

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return OrderedDict([("0", self.body(x))])


@register_model
def camviz_shapedet(pretrained: bool = False, num_classes: int = 3, **kwargs: object) -> FCOS:
    """timm entry point. There are no hub weights: load `camviz.demo.DETECTOR_PATH`."""
    if pretrained:
        raise ValueError("camviz_shapedet has no hub weights; load camviz.demo.DETECTOR_PATH")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    backbone = ShapeDetBackbone()
    anchors = AnchorGenerator(sizes=((STRIDE,),), aspect_ratios=((1.0,),))  # one point per cell, sized by its stride
    head = FCOSHead(backbone.out_channels, num_anchors=1, num_classes=num_classes, num_convs=2)
    model = FCOS(backbone, num_classes, min_size=IMG_SIZE, max_size=IMG_SIZE, image_mean=list(MEAN),
                 image_std=list(STD), anchor_generator=anchors, head=head, score_thresh=0.2, detections_per_img=20,
                 topk_candidates=200)
    model.pretrained_cfg = model.default_cfg = {**PRETRAINED_CFG, "num_classes": num_classes}
    return model
