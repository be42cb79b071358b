"""The logits a model's forward returns, however it returns them, and the module behind `torch.compile`.

Forwards return a tensor, a transformers `ModelOutput`, a dict (`{"logits": ...}`, as many LightningModules do;
torchvision's segmentation models `{"out": ..., "aux": ...}`) or a tuple led by the logits (`(logits, features)`,
Inception's aux heads). pytorch-grad-cam and camviz need the tensor. A segmentation model's logits `[B, C, h, w]`
are read at the input's size, upsampled bilinearly where the model predicts at a lower resolution (SegFormer's 1/4),
as transformers' `post_process_semantic_segmentation` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional

LOGIT_KEYS = ("logits", "out")  # a dict's or ModelOutput's logits: transformers' and Lightning's, torchvision's masks


def logits_of(output: Any) -> Any:
    """The logits tensor of a forward's output: the tensor itself, a `ModelOutput`'s or a dict's `logits` (`out`),
    or a tuple's or list's first item when it is a tensor; any other output as it is (for the caller to refuse)."""
    if torch.is_tensor(output):
        return output
    for key in LOGIT_KEYS:
        logits = output.get(key) if isinstance(output, Mapping) else getattr(output, key, None)
        if torch.is_tensor(logits):
            return logits
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    return output


def at_input_size(logits: Any, inputs: Any) -> Any:
    """Per-pixel logits `[B, C, h, w]` upsampled (bilinear, corners not aligned) to the input's height x width;
    any other output (a classifier's `[B, C]`) as it is."""
    if not (torch.is_tensor(logits) and torch.is_tensor(inputs) and logits.ndim == 4 and inputs.ndim == 4):
        return logits
    size = tuple(inputs.shape[-2:])
    if tuple(logits.shape[-2:]) == size:
        return logits
    return functional.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def _logits_hook(module: nn.Module, args: tuple, output: Any) -> Any:
    """Forward hook: the output's logits tensor replaces it (per-pixel logits at the input's size)."""
    return at_input_size(logits_of(output), args[0] if args else None)


def returning_logits(model: nn.Module) -> nn.Module:
    """The same model, its forward returning the logits tensor (a forward hook, added once); for models camviz
    itself loaded, never for a caller's model in memory (`camviz.integrations` wraps those instead)."""
    if _logits_hook not in model._forward_hooks.values():
        model.register_forward_hook(_logits_hook)
    return model


def uncompiled(model: nn.Module) -> nn.Module:
    """The module a `torch.compile` wrapper runs (its `_orig_mod`: the same layers and weights); any other as is.

    Grad-CAM hooks the original's layers and runs it eagerly (`camviz.integrations.state.model_state_kept`)."""
    from torch._dynamo.eval_frame import OptimizedModule  # already imported with timm, which camviz imports

    while isinstance(model, OptimizedModule):
        model = model._orig_mod
    return model
