"""torchvision's detectors (Faster/Mask R-CNN, RetinaNet, FCOS, SSD, SSDlite, and plugins built on their classes):
their class count, the input camviz feeds them, and their Grad-CAM target layers.

- Class count: the rows of the head's class-logit weight, divided by its anchors per location (RetinaNet's 9,
  SSD's per level, one for FCOS and Faster R-CNN's box predictor). Read from the checkpoint's weights when it does
  not record `num_classes` (`detector_num_classes`), and from the built model (`detector_class_count`).
- Input: a torchvision detector resizes and normalises its input itself (`GeneralizedRCNNTransform`: `min_size`,
  `max_size`, `image_mean`, `image_std`) and maps its boxes back to the input's pixels. camviz feeds it pixels in
  [0, 1] (mean 0, std 1) at a square of `min_size` (SSD: its `fixed_size`), the size at which that transform leaves
  the image as it is; a recorded or given `img_size` wins (the detector then rescales internally), and the CAMs and
  boxes are at camviz's input size either way.
- Target layers: maps a box's score depends on, as plain tensors so gradient methods see their gradients (a
  backbone's `OrderedDict` output gets none in pytorch-grad-cam): every FPN level (`backbone.fpn.layer_blocks`:
  Faster/Mask R-CNN P2-P5, RetinaNet/FCOS P3-P5, whose P6/P7 come from P5), SSD's every source map
  (`backbone.features` and `backbone.extra`), else a plugin backbone's `body`. pytorch-grad-cam computes a CAM per
  level, each scaled to the input, and averages them: a box's evidence shows at the level that detected it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.models.detection.ssd import SSD

from camviz.discovery.hf_detection import hf_detector_layer_names, hf_detector_reshape
from camviz.errors import TargetLayerError

DETECTOR_TYPES: tuple[type[nn.Module], ...] = (GeneralizedRCNN, RetinaNet, FCOS, SSD)
Reshape = Callable[[torch.Tensor], torch.Tensor]


def is_torchvision_detector(model: nn.Module) -> bool:
    """Whether `model` is one of torchvision's detector classes (or a subclass)."""
    return isinstance(model, DETECTOR_TYPES)


def detector_num_classes(probe: nn.Module, weights: Mapping[str, torch.Tensor]) -> int | None:
    """The class count the checkpoint's weights were trained for (`probe`: the architecture at its defaults, on any
    device); None for a model that is not a torchvision detector or weights without its class head."""
    head = _class_logits(probe)
    if head is None:
        return None
    name, per_class = head
    weight = weights.get(f"{name}.weight")
    if weight is None or weight.shape[0] % per_class:
        return None
    return int(weight.shape[0]) // per_class


def detector_class_count(model: nn.Module) -> int | None:
    """A built torchvision detector's class count (its labels run 0 .. count - 1); None for other models."""
    head = _class_logits(model)
    if head is None:
        return None
    name, per_class = head
    weight: Any = model.get_submodule(name).weight
    return int(weight.shape[0]) // per_class


def _class_logits(model: nn.Module) -> tuple[str, int] | None:
    """The dotted name of the layer whose outputs are the class logits, and its rows per class (anchors per
    location at its level)."""
    if isinstance(model, GeneralizedRCNN):
        return "roi_heads.box_predictor.cls_score", 1
    if isinstance(model, (RetinaNet, FCOS)):
        head: Any = model.head.classification_head
        return "head.classification_head.cls_logits", int(head.cls_logits.weight.shape[0]) // int(head.num_classes)
    if isinstance(model, SSD):
        ssd_head: Any = model.head.classification_head
        first = ssd_head.module_list[0]
        name, conv = [(n, m) for n, m in first.named_modules() if isinstance(m, nn.Conv2d)][-1]
        dotted = ".".join(part for part in ("head.classification_head.module_list.0", name) if part)
        return dotted, int(conv.weight.shape[0]) // int(ssd_head.num_columns)
    return None


def detector_data_config(model: nn.Module) -> dict[str, Any] | None:
    """timm's data-config keys for a torchvision detector: a square input of its transform's `min_size` (SSD: its
    `fixed_size`) in [0, 1] (the model normalises itself); None for other models."""
    if not is_torchvision_detector(model):
        return None
    transform: Any = model.transform
    fixed = getattr(transform, "fixed_size", None)
    side = int(transform.min_size[-1])
    height, width = (int(fixed[0]), int(fixed[1])) if fixed else (side, side)
    return {"input_size": (3, height, width), "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def detector_layer_names(model: nn.Module) -> list[str] | None:
    """The dotted names of a detector's target layers: a torchvision detector's (see the module's notes), a Hugging
    Face one's (`camviz.discovery.hf_detection`); None for other models."""
    if not is_torchvision_detector(model):
        return hf_detector_layer_names(model)
    backbone: Any = model.backbone
    fpn = getattr(backbone, "fpn", None)
    if fpn is not None and hasattr(fpn, "layer_blocks"):
        return [f"backbone.fpn.layer_blocks.{i}" for i in range(len(fpn.layer_blocks))]
    if isinstance(model, SSD) and hasattr(backbone, "features") and hasattr(backbone, "extra"):
        features = [f"backbone.features.{i}" for i in range(len(backbone.features))] \
            if _feature_stages(backbone) else ["backbone.features"]
        return [*features, *(f"backbone.extra.{i}" for i in range(len(backbone.extra)))]
    if isinstance(getattr(backbone, "body", None), nn.Module):
        return ["backbone.body"]
    return None


def _feature_stages(backbone: nn.Module) -> bool:
    """Whether an SSD backbone's `features` is a list of source stages (SSDlite's two) rather than one (VGG's)."""
    features: Any = getattr(backbone, "features", None)
    return isinstance(features, nn.Sequential) and all(isinstance(stage, nn.Sequential) for stage in features)


def detector_target_layers(model: nn.Module, name: str | None = None) -> tuple[list[nn.Module], Reshape | None]:
    """A detector's target layers and the reshape pytorch-grad-cam needs for them (None: they output NCHW maps;
    YOLOS's tokens: `camviz.discovery.hf_detection.DetectionTokens`); `name`: the architecture, for the message."""
    names = detector_layer_names(model)
    if not names:
        raise TargetLayerError(f"no target layer known for the detector {name or type(model).__name__}; "
                               "pass --target-layer")
    return [model.get_submodule(path) for path in names], hf_detector_reshape(model)
