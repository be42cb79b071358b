"""Hugging Face `AutoModelForObjectDetection` folders (DETR, Conditional/Deformable DETR, YOLOS, RT-DETR, ...), read
as detectors whose forward returns torchvision's form.

A transformers detector returns `logits` (per query, over the classes: DETR and YOLOS add a last "no object" class,
sigmoid families do not) and `pred_boxes` (normalised centre x, centre y, width, height). `HFDetector` turns them into
one dict per image, `boxes` (x0, y0, x1, y1 in the input's pixels), `labels`, `scores`, with the model's own image
processor's `post_process_object_detection` (softmax or sigmoid top-k, as the family's is) at threshold 0: every
query it keeps, the score threshold being camviz's to apply (`camviz.cam.detection.detections_of`). The outputs keep
their autograd graph, so pytorch-grad-cam's box-score target reaches the layers.

Target layers: a convolutional backbone's stages that feed the transformer (DETR: the last; RT-DETR, Deformable
DETR: each of `out_features`), or for YOLOS (a ViT) the last encoder layer's patch tokens, the class token before them
and the detection tokens after them set aside.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camviz.discovery.reshapes import TokenReshape, token_grid
from camviz.discovery.spec import height_width
from camviz.errors import CheckpointError, first_line

DETECTION_SUFFIX = "ForObjectDetection"
SINGLE_LEVEL = frozenset({"detr", "conditional_detr", "table-transformer"})  # the last backbone stage alone feeds
# their transformer (the others serve their segmentation heads)


def is_detection_config(config: Mapping[str, Any]) -> bool:
    """Whether a transformers `config.json` (as a dict) names an object-detection architecture."""
    return any(str(name).endswith(DETECTION_SUFFIX) for name in config.get("architectures") or ())


class HFDetector(nn.Module):
    """A transformers detector whose forward takes pixels `[B, C, H, W]` and returns torchvision's detections."""

    def __init__(self, model: nn.Module, processor: Any) -> None:
        super().__init__()
        self.model = model
        self.processor = processor  # its image processor: `post_process_object_detection`

    @property
    def config(self) -> Any:
        """The transformers model's config (its labels, image size, channels)."""
        return self.model.config

    def forward(self, pixel_values: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        outputs = self.model(pixel_values=pixel_values)
        sizes = [tuple(pixel_values.shape[-2:])] * len(pixel_values)
        return self.processor.post_process_object_detection(outputs, threshold=0.0, target_sizes=sizes)


def load_hf_detector(folder: Path) -> HFDetector:
    """The folder's detector via `AutoModelForObjectDetection`, offline, in eval mode, returning detections."""
    import transformers

    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on camviz's stderr
    try:
        model = transformers.AutoModelForObjectDetection.from_pretrained(folder, local_files_only=True)
        processor = image_processor(folder, model.config.model_type)
    except Exception as error:
        raise CheckpointError(f"cannot load {folder} as a transformers object detector: {first_line(error)}") from error
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    return HFDetector(model, processor).eval()


def image_processor(folder: Path, model_type: str) -> Any:
    """The folder's saved image processor, else the model type's own at its defaults (for post-processing only)."""
    import transformers
    from transformers.models.auto.image_processing_auto import get_image_processor_class_from_name

    if (folder / "preprocessor_config.json").is_file():
        return transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True)
    names = transformers.models.auto.image_processing_auto.IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type)
    name = next(iter(names.values())) if isinstance(names, Mapping) else names
    if isinstance(name, (tuple, list)):
        name = next(n for n in name if n)
    found = get_image_processor_class_from_name(name) if name else None
    if found is None:
        raise CheckpointError(f"no image processor known for the transformers model type {model_type!r}")
    return found()


def hf_detector_layer_names(model: nn.Module) -> list[str] | None:
    """The dotted names of an `HFDetector`'s target layers: the convolutional backbone's fed stages, or YOLOS's last
    encoder layer; None for other models and layouts."""
    if not isinstance(model, HFDetector):
        return None
    inner: Any = model.model
    vit = getattr(inner, "vit", None)
    if vit is not None and hasattr(vit, "encoder"):
        return [f"model.vit.encoder.layer.{len(vit.encoder.layer) - 1}.layernorm_before"]  # its patch tokens feed the
        # detection tokens in this last attention (after it, only the detection tokens go on)
    encoder = getattr(getattr(inner, "model", None), "backbone", None)
    backbone = getattr(encoder, "model", None)
    if backbone is None:
        return None
    prefix = "model.model.backbone.model"
    names = _backbone_stages(backbone, prefix)
    single = getattr(model.config, "model_type", "") in SINGLE_LEVEL  # only the last stage feeds the transformer
    return names[-1:] if names and single else names


def _backbone_stages(backbone: Any, prefix: str) -> list[str] | None:
    """The dotted names of the stages a detector's convolutional backbone returns."""
    stages = getattr(getattr(backbone, "encoder", None), "stages", None)
    if stages is not None and hasattr(backbone, "stage_names"):  # a transformers backbone (ResNet, ...)
        fed = [backbone.stage_names.index(name) - 1 for name in backbone.out_features]
        return [f"{prefix}.encoder.stages.{i}" for i in fed if i >= 0]
    info = getattr(backbone, "feature_info", None)
    if info is not None and hasattr(info, "module_name"):  # a timm features backbone (`use_timm_backbone`)
        children = dict(backbone.named_children())
        return [f"{prefix}.{name.replace('.', '_')}" for name in info.module_name() if name.replace(".", "_") in children]
    return None


@dataclass(frozen=True)
class DetectionTokens:
    """YOLOS's tokens `(B, 1 + H*W + D, C)` → `(B, C, H, W)`: the class token and the `D` detection tokens set
    aside, the patches laid on their grid."""

    suffix: int  # detection tokens after the patches
    tokens: TokenReshape

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.tokens(tensor[:, : tensor.shape[1] - self.suffix, :])


def hf_detector_reshape(model: nn.Module) -> DetectionTokens | None:
    """The reshape of YOLOS's encoder tokens at its configured size; None for convolutional backbones and models that
    are not an `HFDetector`."""
    if not isinstance(model, HFDetector) or getattr(model.model, "vit", None) is None:
        return None
    config = model.config
    size = height_width(config.image_size)
    patch = height_width(config.patch_size)
    grid = (size[0] // patch[0], size[1] // patch[1])
    found = token_grid(1 + grid[0] * grid[1], size, prefix_hint=1)
    prefix, planned = found if found is not None else (1, grid)
    return DetectionTokens(int(config.num_detection_tokens), TokenReshape(prefix, planned, size))
