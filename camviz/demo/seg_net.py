"""ShapeSegNet: a tiny fully convolutional net for the segmentation shapes, ShapeNet's encoder with a light decoder.

``stem`` -> ``stages`` (ShapeNet's: maps at stride 2, 4, 8) -> ``decoder`` (each block upsamples by 2 and adds
the encoder's map at that stride, U-Net style) -> ``head`` (a 1x1 conv to per-class logits at stride 2), upsampled
bilinearly to the input's size -> plus ``refine``'s correction (a small conv on those logits and the image, sharpening
the edges): the forward returns ``[B, 4, H, W]`` logits at the input's size. Registered with timm as
``camviz_segnet``, an ordinary plugin (the shipped checkpoint records ``plugins: ["camviz.demo.seg_net"]``); its
timm-style ``feature_info`` lists the encoder's stages, then the decoder's blocks, so the decoder's last block,
``decoder.1`` (48x48 at 96 px), is its Grad-CAM layer by timm's rule: its CAM for a class lies inside the class's
predicted region far more than the encoder's last stage's (12x12) does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import nn

from camviz.demo.net import IMG_SIZE, MEAN, STD, Block, _conv_bn

__all__ = ["NUM_CLASSES", "DecoderBlock", "ShapeSegNet", "camviz_segnet"]

NUM_CLASSES = 4  # background, circle, square, triangle
PRETRAINED_CFG = {"input_size": (3, IMG_SIZE, IMG_SIZE), "mean": MEAN, "std": STD,
                  "interpolation": "bilinear", "crop_pct": 1.0, "crop_mode": "center",
                  "num_classes": NUM_CLASSES, "first_conv": "stem.0.0", "classifier": "head"}


def _stage(cin: int, cout: int, depth: int, *, down: bool) -> nn.Sequential:
    """ShapeNet's stage: a stride-2 conv-BN-ReLU when `down`, then `depth` residual blocks."""
    opening = [_conv_bn(cin, cout, stride=2), nn.ReLU(inplace=True)] if down else []
    return nn.Sequential(*opening, *(Block(cout) for _ in range(depth)))


class DecoderBlock(nn.Module):
    """Upsample the coarser map by 2, add the encoder's map at that stride (projected), then one 3x3 conv-BN-ReLU."""

    def __init__(self, cin: int, skip: int, cout: int) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = nn.Sequential(nn.Conv2d(skip, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.fuse = nn.Sequential(_conv_bn(cout, cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.reduce(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(F.relu(up + self.skip(skip)))


class ShapeSegNet(nn.Module):
    """ShapeNet's stem and stages, a decoder back to stride 2, a 1x1 conv head, logits at the input's size."""

    pretrained_cfg: dict[str, object]  # timm's, set by the entry point
    default_cfg: dict[str, object]

    def __init__(self, num_classes: int = NUM_CLASSES, in_chans: int = 3,
                 dims: tuple[int, ...] = (16, 32, 48), depths: tuple[int, ...] = (1, 1, 2)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.stem = nn.Sequential(_conv_bn(in_chans, dims[0], stride=2), nn.ReLU(inplace=True))
        stages = [_stage(dims[i - 1] if i else dims[0], dim, depth, down=i > 0)
                  for i, (dim, depth) in enumerate(zip(dims, depths, strict=True))]
        self.stages = nn.Sequential(*stages)
        self.decoder = nn.ModuleList(DecoderBlock(dims[i + 1], dims[i], dims[i]) for i in reversed(range(len(dims) - 1)))
        self.feature_info = [  # timm's metadata: the maps in the order the forward makes them, the decoder's last
            *({"num_chs": dim, "reduction": 2 ** (i + 1), "module": f"stages.{i}.{len(stage) - 1}"}
              for i, (dim, stage) in enumerate(zip(dims, stages, strict=True))),
            *({"num_chs": dims[-2 - i], "reduction": 2 ** (len(dims) - 1 - i), "module": f"decoder.{i}"}
              for i in range(len(self.decoder)))]
        self.head = nn.Conv2d(dims[0], num_classes, 1)
        mix, correction = nn.Conv2d(num_classes + in_chans, 8, 3, padding=1), nn.Conv2d(8, num_classes, 1)
        with torch.no_grad():  # training starts from the upsampled logits
            for parameter in correction.parameters():
                parameter.zero_()
        self.refine = nn.Sequential(mix, nn.ReLU(inplace=True), correction)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's maps at strides 2, 4, 8 (the stem's stride 2 then each stage's output)."""
        maps = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.forward_features(x)
        y = maps[-1]
        for block, skip in zip(self.decoder, reversed(maps[:-1]), strict=True):
            y = block(y, skip)
        logits = F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits + self.refine(torch.cat([logits, x], dim=1))


@register_model
def camviz_segnet(pretrained: bool = False, num_classes: int = NUM_CLASSES, **kwargs) -> ShapeSegNet:
    """timm entry point. There are no hub weights: load ``camviz.demo.SEGMENTATION_CHECKPOINT_PATH``."""
    if pretrained:
        raise ValueError("camviz_segnet has no hub weights; load camviz.demo.SEGMENTATION_CHECKPOINT_PATH")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    model = ShapeSegNet(num_classes=num_classes, **kwargs)
    model.pretrained_cfg = model.default_cfg = {**PRETRAINED_CFG, "num_classes": num_classes}
    return model
