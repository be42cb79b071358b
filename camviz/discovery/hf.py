"""Hugging Face `transformers` image classifiers and semantic segmentation models, read from the folder
`save_pretrained` writes; `config.json`'s `architectures` choose the auto class (`...ForSemanticSegmentation`:
`AutoModelForSemanticSegmentation`, whose low-resolution logits are read at the input's size; else
`AutoModelForImageClassification`).

`config.json` (`architectures`, `id2label`, `problem_type`, `image_size`, `num_channels`) and an optional
`preprocessor_config.json` (`size`, `image_mean`, `image_std`) become camviz's checkpoint metadata, so they go
through the same resolver as every other source. The model loads offline, and its `ModelOutput` is unwrapped
to the logits tensor once, here: every later stage (CAM targets, predictions) sees a plain classifier.
Only `load_transformers` imports `transformers` (an optional extra).
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camviz.discovery._json import read_json_object
from camviz.discovery.logits import returning_logits
from camviz.discovery.spec import height_width
from camviz.errors import CheckpointError, first_line

INSTALL_HINT = 'pip install "camviz[transformers]"'

_PREFIX_TOKENS = ("cls_token", "distillation_token", "register_tokens")  # what the embeddings put before the patches


def transformers_metadata(config_path: Path) -> dict[str, Any]:
    """camviz's checkpoint keys from a transformers `config.json` and the `preprocessor_config.json` beside it."""
    config = read_json_object(config_path)
    processor_path = config_path.parent / "preprocessor_config.json"
    processor = read_json_object(processor_path) if processor_path.is_file() else {}
    labels = config.get("id2label") or {}
    names = [str(labels[key]) for key in sorted(labels, key=int)]
    size = _processor_size(processor) or config.get("image_size")
    normalise = processor.get("do_normalize", True)
    return {
        "model_name": (config.get("architectures") or [config.get("model_type")])[0],
        "num_classes": len(names) or None,
        "class_names": None if names == [f"LABEL_{i}" for i in range(len(names))] else names,  # transformers' defaults
        "img_size": size,
        "mean": processor.get("image_mean") if normalise else [0.0] * 3,
        "std": processor.get("image_std") if normalise else [1.0] * 3,
        "in_chans": config.get("num_channels"),
        "multi_label": config.get("problem_type") == "multi_label_classification",
    }


def _processor_size(processor: dict[str, Any]) -> list[int] | int | None:
    """The size the model saw: the center crop when the processor crops, else `size` ({height, width},
    {shortest_edge}, or a number)."""
    size = processor.get("crop_size") if processor.get("do_center_crop") else None
    size = size or processor.get("size")
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            return [size["height"], size["width"]]
        return size.get("shortest_edge")
    return size


SEGMENTATION_SUFFIX = "ForSemanticSegmentation"  # SegFormer, UperNet, DPT, MobileViT, BEiT, Data2VecVision...


def is_segmentation_config(config: dict[str, Any]) -> bool:
    """Whether a transformers `config.json` names a semantic segmentation architecture."""
    return any(str(name).endswith(SEGMENTATION_SUFFIX) for name in config.get("architectures") or ())


def load_transformers(folder: Path) -> nn.Module:
    """The folder's classifier (`AutoModelForImageClassification`) or segmentation model
    (`AutoModelForSemanticSegmentation`, as `config.json`'s `architectures` say), offline, in eval mode, returning
    logits."""
    try:
        import transformers
    except ImportError as error:
        raise CheckpointError(f"{folder} is a Hugging Face transformers model; reading it needs the transformers "
                              f"package: {INSTALL_HINT}") from error
    from camviz.discovery.hf_detection import is_detection_config, load_hf_detector

    config = read_json_object(folder / "config.json")
    if is_detection_config(config):
        return load_hf_detector(folder)  # returns detections, not logits
    segmentation = is_segmentation_config(config)
    auto = transformers.AutoModelForSemanticSegmentation if segmentation else transformers.AutoModelForImageClassification
    what = "semantic segmentation model" if segmentation else "image classifier"
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on camviz's stderr
    try:
        model = auto.from_pretrained(folder, local_files_only=True)
    except Exception as error:
        reason = first_line(error)
        raise CheckpointError(f"cannot load {folder} as a transformers {what}: {reason}") from error
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    return logits_only(model).eval()


def logits_only(model: nn.Module) -> nn.Module:
    """The same transformers classifier, its forward returning the logits tensor instead of a `ModelOutput`
    (pytorch-grad-cam needs a tensor); its class, layer names and config stay its own. Models that can
    interpolate their position embeddings (ViT, DeiT, BEiT, Swin) do so for inputs of another size (`--img-size`)."""
    if "interpolate_pos_encoding" in inspect.signature(model.forward).parameters:
        model.register_forward_pre_hook(_any_input_size, with_kwargs=True)
    return returning_logits(model)


def _any_input_size(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Forward pre-hook: interpolate the position embeddings when the input is not the configured size."""
    pixels = args[0] if args else kwargs.get("pixel_values")
    configured = getattr(module.config, "image_size", None)
    size = height_width(configured) if configured else ()
    if torch.is_tensor(pixels) and tuple(pixels.shape[-2:]) != size:
        kwargs = {**kwargs, "interpolate_pos_encoding": True}
    return args, kwargs


def token_layout(model: nn.Module, img_size: int | tuple[int, int]) -> tuple[int, tuple[int, int]] | None:
    """A transformers model's prefix-token count and its token grid at `img_size`; None for other models.

    The prefix is what the embeddings prepend (class, distillation, register tokens: ViT 1, DeiT 2,
    Dinov2 with registers 1 + registers, Swin 0); the grid is the patch grid, halved per Swin stage after the first.
    """
    config, base = getattr(model, "config", None), getattr(model, "base_model", None)
    patch = getattr(config, "patch_size", None)
    if patch is None or base is None or not hasattr(base, "embeddings"):
        return None
    prefix = sum(int(getattr(base.embeddings, name).shape[1]) for name in _PREFIX_TOKENS
                 if isinstance(getattr(base.embeddings, name, None), torch.Tensor))
    height, width = height_width(img_size)
    patch_h, patch_w = height_width(patch)
    depths = getattr(config, "depths", None)
    if depths is None:  # ViT-like: the patch convolution's stride
        return prefix, (height // patch_h, width // patch_w)
    grid = [math.ceil(height / patch_h), math.ceil(width / patch_w)]  # Swin pads to whole patches and windows
    for _ in range(len(depths) - 1):
        grid = [(g + 1) // 2 for g in grid]
    return prefix, (grid[0], grid[1])
