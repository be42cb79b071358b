"""Segmentation checkpoints as users bring them, written from small real models (issue 29): torchvision's fcn /
deeplabv3 / lraspp in the seed's dict format or pickled whole, segmentation_models_pytorch's `save_pretrained`
folders and state dicts naming the architecture, Hugging Face `...ForSemanticSegmentation` folders; and the check
every source must pass: plain pytorch-grad-cam with `SemanticSegmentationTarget` on the loaded model and the layer
camviz resolves gives a non-constant CAM of the input's size.

smp and transformers are imported when a model is written, so this module imports without them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

from camviz.discovery.layers import TargetLayers

CLASSES = ["background", "circle", "square"]
SIZE = 64


@dataclass
class Written:
    """A checkpoint on disk, the in-memory model it was written from, and the target layer camviz should choose."""

    path: Path
    model: torch.nn.Module  # eval mode
    family: str
    layer: str


def reference_logits(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The model's own per-pixel logits at the input's size: torchvision's `out`, transformers' `logits` upsampled
    bilinearly (as their image processors' post-processing does), smp's tensor."""
    with torch.no_grad():
        output = model(pixels)
    logits = output.logits if hasattr(output, "logits") else output["out"] if isinstance(output, dict) else output
    return torch.nn.functional.interpolate(logits, size=pixels.shape[-2:], mode="bilinear", align_corners=False)


def perturbed(model: torch.nn.Module, scale: float = 0.2) -> torch.nn.Module:
    """The model with noise added to every weight (seed 0): transformers' random init gives some heads constant
    logits (MobileViT's), and a CAM of a constant needs no explaining."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.eval()


def torchvision_seed(root: Path, name: str, *, record_classes: bool = True, aux: bool = False) -> Written:
    """The seed's dict format (`model_name`, `state_dict`, `class_names`, `img_size`), `num_classes` recorded or not."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=len(CLASSES),
                                         **({"aux_loss": True} if aux else {})).eval()
    meta = {"num_classes": len(CLASSES)} if record_classes else {}
    path = root / f"{name}.pth"
    torch.save({"model_name": name, "state_dict": model.state_dict(), "class_names": CLASSES, "img_size": SIZE,
                **meta}, path)
    layer = "backbone.layer4" if "resnet" in name else "backbone.16"  # MobileNetV3's last block
    return Written(path, model, f"tv_{name.split('_', maxsplit=1)[0]}", layer)


def torchvision_pickled(root: Path, name: str = "deeplabv3_mobilenet_v3_large") -> Written:
    """The whole module pickled with `torch.save(model)` (it returns `{"out": ..., "aux": ...}`)."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=len(CLASSES),
                                         aux_loss=True).eval()
    path = root / "whole.pth"
    torch.save(model, path)
    return Written(path, model, "tv_deeplabv3", "backbone.16")


SMP_MODELS = {  # small encoders and decoders, each with a seed whose random weights give the most predicted class a
    # CAM that is not all zero (random heads often weigh a map negatively everywhere: Grad-CAM's ReLU leaves nothing)
    "unet": ("Unet", {"encoder_name": "tu-test_resnet", "encoder_depth": 3, "decoder_channels": (16, 8, 8)}, 1,
             "encoder.model.layer2"),  # timm's test_resnet, three stages
    "unet_resnet18": ("Unet", {"encoder_name": "resnet18", "encoder_depth": 3, "decoder_channels": (16, 8, 8)}, 0,
                      "encoder.layer2"),  # smp's own ResNet encoder
    "fpn": ("FPN", {"encoder_name": "tu-test_resnet", "decoder_pyramid_channels": 32,
                    "decoder_segmentation_channels": 32}, 0, "encoder.model.layer4"),
    "deeplabv3plus": ("DeepLabV3Plus", {"encoder_name": "tu-test_resnet", "decoder_channels": 32,
                                        "encoder_output_stride": 8}, 1,
                      "encoder.model.layer4"),
}


def smp_model(key: str) -> torch.nn.Module:
    """One of `SMP_MODELS`, random-initialised from its seed, no encoder weights fetched."""
    import segmentation_models_pytorch as smp

    arch, args, seed, _ = SMP_MODELS[key]
    torch.manual_seed(seed)
    return smp.create_model(arch, encoder_weights=None, classes=len(CLASSES), **args).eval()


def smp_folder(root: Path, key: str) -> Written:
    """smp's own `save_pretrained`: config.json (with `_model_class`) beside model.safetensors."""
    model = smp_model(key)
    model.save_pretrained(root / key)
    return Written(root / key, model, "smp", SMP_MODELS[key][3])


def smp_state_dict(root: Path, key: str, *, record_classes: bool = True) -> Written:
    """A checkpoint dict naming the architecture: `model_name: "smp.<Arch>"`, the constructor's `model_args`."""
    arch, args, _, layer = SMP_MODELS[key]
    model = smp_model(key)
    model_args = {**args, **({"classes": len(CLASSES)} if record_classes else {})}
    path = root / f"{key}.pth"
    torch.save({"model_name": f"smp.{arch}", "model_args": model_args, "state_dict": model.state_dict(),
                "class_names": CLASSES, "img_size": SIZE}, path)
    return Written(path, model, "smp", layer)


def _labels() -> dict:
    return {"id2label": dict(enumerate(CLASSES)), "label2id": {name: i for i, name in enumerate(CLASSES)}}


def hf_models() -> dict[str, tuple[torch.nn.Module, str, str]]:
    """Tiny random transformers segmentation models, by name: (model, family, target layer)."""
    import transformers as T

    torch.manual_seed(0)
    segformer = T.SegformerForSemanticSegmentation(T.SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 1],
        decoder_hidden_size=16, patch_sizes=[7, 3], strides=[4, 2], mlp_ratios=[2, 2], **_labels()))
    upernet = T.UperNetForSemanticSegmentation(T.UperNetConfig(
        backbone_config=T.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
                                         out_features=["stage1", "stage2"]),
        hidden_size=16, auxiliary_in_channels=16, use_auxiliary_head=False, pool_scales=[1, 2], **_labels()))
    dpt = T.DPTForSemanticSegmentation(T.DPTConfig(
        hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32, image_size=SIZE,
        patch_size=8, backbone_out_indices=[0, 1], neck_hidden_sizes=[8, 16], reassemble_factors=[2, 1],
        fusion_hidden_size=16, use_auxiliary_head=False, head_in_index=-1, **_labels()))
    mobilevit = T.MobileViTForSemanticSegmentation(T.MobileViTConfig(
        image_size=SIZE, hidden_sizes=[16, 24, 32], neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
        aspp_out_channels=16, **_labels()))
    return {
        "segformer": (segformer, "hf_segformer", "segformer.stages.1.layer_norm"),
        "upernet": (upernet, "hf_upernet", "backbone.encoder.stages.1.layers.0"),
        "dpt": (dpt, "hf_dpt", "dpt.encoder.layer.1.output"),
        "mobilevit": (mobilevit, "hf_mobilevit", "mobilevit.encoder.layer.4"),
    }


def hf_folder(root: Path, name: str) -> Written:
    """`save_pretrained` of one of `hf_models`, weights perturbed, with a preprocessor_config.json at 64 px."""
    model, family, layer = hf_models()[name]
    perturbed(model).save_pretrained(root / name)
    processor = {"size": {"height": SIZE, "width": SIZE}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    (root / name / "preprocessor_config.json").write_text(json.dumps(processor))
    return Written(root / name, model, family, layer)


def segmentation_cam(model: torch.nn.Module, targets: TargetLayers, pixels: torch.Tensor) -> tuple[np.ndarray, int]:
    """Plain pytorch-grad-cam: `GradCAM` on the resolved layers with `SemanticSegmentationTarget` for the class the
    model predicts most of, over its predicted region; the CAM and that class."""
    with torch.no_grad():
        predicted = model(pixels).argmax(dim=1)[0]
    category = int(predicted.flatten().mode().values)
    mask = (predicted == category).float().numpy()
    with GradCAM(model=model, target_layers=targets.modules, reshape_transform=targets.reshape_transform) as cam:
        grayscale = cam(input_tensor=pixels, targets=[SemanticSegmentationTarget(category, mask)])
    return grayscale[0], category
