"""The logits a classifier's forward returns, however it returns them, and the module behind `torch.compile`.

Forwards return a tensor, a transformers `ModelOutput`, a dict (`{"logits": ...}`, as many LightningModules do) or a
tuple led by the logits (`(logits, features)`, Inception's aux heads). pytorch-grad-cam and camviz need the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


def logits_of(output: Any) -> Any:
    """The logits tensor of a forward's output: the tensor itself, a `ModelOutput`'s or a dict's `logits`, or a
    tuple's or list's first item when it is a tensor; any other output as it is (for the caller to refuse)."""
    if torch.is_tensor(output):
        return output
    logits = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    if torch.is_tensor(logits):
        return logits
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    return output


def _logits_hook(module: nn.Module, args: object, output: Any) -> Any:
    """Forward hook: the output's logits tensor replaces it."""
    return logits_of(output)


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
