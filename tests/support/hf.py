"""Hugging Face transformers classifiers (issue 13), saved as `save_pretrained` writes them.

Tiny random-init ViT (non-square, with its own preprocessor_config.json), ConvNeXt, Swin, ResNet (size and
mean/std from a preprocessor's `shortest_edge`) and a multi-label ResNet. Needs the transformers extra; it is
imported when a folder is written, so this module imports without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from tests.support.checkpoints import expected_prediction, model_input

LABELS = ["triangle", "circle", "square"]  # id2label: the model's own order, not the data dir's folders'
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
VIT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


@dataclass
class Folder:
    """A transformers folder and the in-memory model it was saved from (its forward returns a ModelOutput)."""

    path: Path
    model: torch.nn.Module
    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layer: str
    family: str
    output: str = "softmax"


def save_folder(root: Path, name: str, model: torch.nn.Module, processor: dict | None = None) -> Path:
    """`model.save_pretrained(root / name)`, with a `preprocessor_config.json` holding `processor` if given."""
    model.eval().save_pretrained(root / name)
    if processor is not None:
        (root / name / "preprocessor_config.json").write_text(json.dumps(processor))
    return root / name


def label_config(**extra: object) -> dict:
    """Config keys naming `LABELS`, and `extra`."""
    return {"id2label": dict(enumerate(LABELS)), "label2id": {n: i for i, n in enumerate(LABELS)}, **extra}


def write_hf_folders(root: Path) -> dict[str, Folder]:
    """The five folders, by name: vit, convnext, swin, resnet, multilabel."""
    import transformers as T

    torch.manual_seed(0)
    vit = T.ViTForImageClassification(T.ViTConfig(**VIT, image_size=[32, 48], patch_size=8, **label_config()))
    convnext = T.ConvNextForImageClassification(T.ConvNextConfig(
        hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, image_size=48, **label_config()))
    swin = T.SwinForImageClassification(T.SwinConfig(
        image_size=40, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 1], window_size=5, **label_config()))
    resnet_config = {"embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1], "layer_type": "basic"}
    resnet = T.ResNetForImageClassification(T.ResNetConfig(**resnet_config, **label_config()))
    tags = T.ResNetForImageClassification(T.ResNetConfig(
        **resnet_config, **label_config(problem_type="multi_label_classification")))
    with torch.no_grad():  # two labels clearly on, one clearly off, whatever the image
        tags.classifier[-1].bias.copy_(torch.tensor([3.0, -3.0, 2.0]))
    mean, std = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)
    edge = {"size": {"shortest_edge": 40}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    return {
        "vit": Folder(save_folder(root, "vit", vit, {"size": {"height": 32, "width": 48}, "image_mean": mean,
                                                     "image_std": std}), vit, (32, 48), mean, std,
                      "vit.layers.1.layernorm_before", "hf_vit"),
        "convnext": Folder(save_folder(root, "convnext", convnext), convnext, (48, 48), *IMAGENET,
                           "convnext.encoder.stages.1", "hf_convnext"),
        "swin": Folder(save_folder(root, "swin", swin), swin, (40, 40), *IMAGENET, "swin.layernorm", "hf_swin"),
        "resnet": Folder(save_folder(root, "resnet", resnet, edge), resnet, (40, 40), (0.5,) * 3, (0.5,) * 3,
                         "resnet.encoder.stages.1", "hf_resnet"),
        "multilabel": Folder(save_folder(root, "tags", tags, edge), tags, (40, 40), (0.5,) * 3, (0.5,) * 3,
                             "resnet.encoder.stages.1", "hf_resnet", "multilabel"),
    }


def expected(folder: Folder, image: Path) -> tuple[str, list[float]]:
    """The prediction and its probabilities from the model's own logits on the same normalised input."""
    x = model_input(image, folder.size, folder.mean, folder.std)
    with torch.no_grad():
        logits = folder.model(pixel_values=x).logits[0]
    return expected_prediction(logits, LABELS, folder.output)
