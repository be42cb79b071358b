"""Random timm models that can show a CAM: the weights timm initialises to exactly zero given small values."""

from __future__ import annotations

import torch
from torch import nn


def without_zero_init(model: nn.Module) -> nn.Module:
    """timm zero-initialises some heads (MLP-Mixer), residual-branch norm scales and attention-position bias tables
    (LeViT: uniform attention, so its downsampling averages every token into the same one): at init no gradient, or
    no spatial signal, reaches the last layers. Trained weights are not zero: such a weight matrix gets small random
    values, such a bias table random ones, such a norm unit scales."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.ndim >= 2 and not parameter.any():
                parameter.normal_(std=0.02 if name.endswith("weight") else 1.0)
        for module in model.modules():
            norm = isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm))
            if norm and module.weight is not None and not module.weight.any():
                module.weight.fill_(1.0)
    return model
