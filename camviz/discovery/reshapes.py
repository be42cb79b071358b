"""Token (ViT) and channels-last (Swin) layer outputs read as NCHW maps, for pytorch-grad-cam."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from camviz.discovery.hf import token_layout


@dataclass(frozen=True)
class TokenReshape:
    """ViT tokens (B, N, C) → (B, C, H, W): drops the prefix (class/register) tokens, uses the patch grid."""

    prefix_tokens: int
    grid: tuple[int, int]

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        tokens = tensor[:, self.prefix_tokens :, :]
        height, width = self.grid
        if tokens.shape[1] != height * width:  # a dynamic-size input: assume a square grid
            height = width = math.isqrt(tokens.shape[1])
        return tokens.reshape(tokens.shape[0], height, width, tokens.shape[2]).permute(0, 3, 1, 2)

    def inverse(self, output: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """`output` rebuilt from its (B, C, H, W) maps, so gradients reach them (the prefix tokens kept)."""
        return torch.cat([output[:, : self.prefix_tokens, :], maps.flatten(2).transpose(1, 2)], dim=1)


def pooled_as_map(tensor: torch.Tensor) -> torch.Tensor:
    """A layer after global pooling gives (B, C): read it as a 1 x 1 map, whose constant CAM camviz warns about."""
    return tensor[:, :, None, None] if tensor.ndim == 2 else tensor


def nhwc_to_nchw(tensor: torch.Tensor) -> torch.Tensor:
    """Swin-style (B, H, W, C) → (B, C, H, W)."""
    return tensor.permute(0, 3, 1, 2)


def nchw_to_nhwc(output: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """The inverse of `nhwc_to_nchw` (a `ReshapedTarget` inverse: `output` itself is not needed)."""
    return maps.permute(0, 2, 3, 1)


class ReshapedTarget(nn.Module):
    """A token/NHWC target layer whose forward hooks see (B, C, H, W) maps, so it needs no `reshape_transform`.

    pytorch-grad-cam registers its hooks here; they run on the wrapped layer's output reshaped, and the
    output passes on rebuilt from those maps, so their gradients are the ones Grad-CAM reads.
    """

    def __init__(self, layer: nn.Module, transform: Callable[[torch.Tensor], torch.Tensor],
                 inverse: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.layer = layer
        self.transform, self.inverse = transform, inverse

    def forward(self, *args: object, **kwargs: object) -> object:
        return self.layer(*args, **kwargs)

    def register_forward_hook(self, hook: Callable, **kwargs: object) -> object:  # type: ignore[override]
        def reshaped(module: nn.Module, args: object, output: torch.Tensor) -> torch.Tensor:
            maps = self.transform(output)
            replaced = hook(module, args, maps)
            return self.inverse(output, maps if replaced is None else replaced)

        return self.layer.register_forward_hook(reshaped, **kwargs)


def token_reshape(model: nn.Module, img_size: int | tuple[int, int]) -> TokenReshape:
    """The model's own prefix-token count and patch grid (timm `patch_embed.grid_size`, torchvision sizes,
    a transformers model's embeddings and config)."""
    layout = token_layout(model, img_size)
    if layout is not None:
        return TokenReshape(*layout)
    prefix = getattr(model, "num_prefix_tokens", None)
    if prefix is None:
        prefix = 1 if hasattr(model, "class_token") or hasattr(model, "cls_token") else 0
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if grid is None and hasattr(model, "image_size") and hasattr(model, "patch_size"):
        grid = (model.image_size // model.patch_size,) * 2
    return TokenReshape(int(prefix), tuple(int(g) for g in grid) if grid else (0, 0))
