"""Any layer output read as a (B, C, H, W) map for pytorch-grad-cam: NCHW as is, channels-last permuted, tokens split
into prefix tokens and a patch grid, a tuple or list reduced to the element that holds the map.

What a layer gives is decided once from a dry forward (`decide_reshape`); the grid of a token layer follows the input
it is run on (`LayerReshape.observe_input`), so the same decision serves any input size the model accepts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, cast

import torch
from torch import nn

from camviz.discovery.hf import token_layout
from camviz.discovery.spec import ImageSize

MAX_PREFIX_TOKENS = 17  # class + distillation + up to 16 registers (timm, DINOv2)


class Layout(StrEnum):
    """How a layer's output lays out its map; the values are the user's spelling (`[[family]]` presets'
    `reshape`, `layers --json`), where NCHW, needing no reshape, is spelled null (`spelling`)."""

    NCHW = "nchw"  # (B, C, H, W): read as it is
    NHWC = "nhwc"  # (B, H, W, C): channels last (Swin)
    TOKENS = "vit"  # (B, N, C): prefix tokens, then a patch grid (ViT)

    @property
    def spelling(self) -> str | None:
        """The layout as `layers --json` spells it: None for NCHW."""
        return None if self is Layout.NCHW else self.value


def on_image_grid(height: int, width: int, size: ImageSize) -> bool:
    """A `height` x `width` map is spatial (more than one cell) and a downsampling of the `size` input: for some
    integer stride, each side is the input's side over it (rounded either way, or up to 2 less for unpadded convs)."""
    if height * width <= 1 or height > size[0] or width > size[1]:
        return False
    return any(_near(height, size[0], stride) and _near(width, size[1], stride) for stride in range(1, max(size) + 1))


def _near(side: int, full: int, stride: int) -> bool:
    return full // stride - 2 <= side <= -(-full // stride)


def token_grid(count: int, size: ImageSize, prefix_hint: int | None = None) -> tuple[int, ImageSize] | None:
    """(prefix tokens, (rows, columns)) such that `count` = prefix + rows x columns and the grid is the `size` input
    at an integer stride (rounded either way: patch grids, padded windows). The model's own prefix count is tried
    first, then none, one, two...; None when no split fits."""
    order = ([prefix_hint] if prefix_hint is not None else []) + list(range(MAX_PREFIX_TOKENS))
    for prefix in dict.fromkeys(order):
        grid = _exact_grid(count - prefix, size)
        if grid is not None:
            return prefix, grid
    return None


def _exact_grid(cells: int, size: ImageSize) -> ImageSize | None:
    """rows x columns = `cells` for the `size` input at one integer stride, both sides rounded the same way."""
    if cells <= 1:
        return None
    for stride in _patch_strides(max(size)):
        for rows, cols in ((size[0] // stride, size[1] // stride), (-(-size[0] // stride), -(-size[1] // stride))):
            if rows * cols == cells:
                return rows, cols
    return None


def _patch_strides(limit: int) -> list[int]:
    """The strides patch embeddings and downsampling give: 2^k times 1, 3, 5 or 7 (4, 12, 14, 16, 20, 28, 32...)."""
    return sorted({base << shift for base in (1, 3, 5, 7) for shift in range(limit.bit_length()) if base << shift <= limit})


def _closest_factors(cells: int, aspect: float) -> ImageSize:
    """rows x columns = `cells` with rows / columns nearest `aspect` (an input whose size is not known)."""
    pairs = [(rows, cells // rows) for rows in range(1, cells + 1) if cells % rows == 0]
    return min(pairs, key=lambda pair: abs(math.log(pair[0] / pair[1]) - math.log(aspect)))


@dataclass
class TokenReshape:
    """Tokens (B, N, C) → (B, C, H, W): drops the prefix (class/distillation/register) tokens, lays the rest on the
    patch grid. The grid is the one planned at the model's size, else the one of the input last seen, else the
    factorisation nearest the planned aspect."""

    prefix_tokens: int
    grid: ImageSize
    input_size: ImageSize | None = None  # the input the model is being run on, when known

    def __call__(self, tensor: torch.Tensor) -> torch.Tensor:
        tokens = tensor[:, self.prefix_tokens :, :]
        height, width = self.grid_for(tokens.shape[1])
        return tokens.reshape(tokens.shape[0], height, width, tokens.shape[2]).permute(0, 3, 1, 2)

    def grid_for(self, cells: int) -> ImageSize:
        """The grid of `cells` patch tokens."""
        if self.grid[0] * self.grid[1] == cells:
            return self.grid
        found = _exact_grid(cells, self.input_size) if self.input_size else None
        aspect = self.grid[0] / self.grid[1] if min(self.grid) > 0 else 1.0
        return found or _closest_factors(cells, aspect)

    def inverse(self, output: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """`output` rebuilt from its (B, C, H, W) maps, so gradients reach them (the prefix tokens kept)."""
        return torch.cat([output[:, : self.prefix_tokens, :], maps.flatten(2).transpose(1, 2)], dim=1)

    def describe(self) -> str:
        """E.g. `tokens: 1 prefix + 14x14 grid`."""
        return f"tokens: {self.prefix_tokens} prefix + {self.grid[0]}x{self.grid[1]} grid"


def pooled_as_map(tensor: torch.Tensor) -> torch.Tensor:
    """A layer after global pooling gives (B, C): read it as a 1 x 1 map, whose constant CAM camviz warns about."""
    return tensor[:, :, None, None] if tensor.ndim == 2 else tensor


def nhwc_to_nchw(tensor: torch.Tensor) -> torch.Tensor:
    """Swin-style (B, H, W, C) → (B, C, H, W)."""
    return tensor.permute(0, 3, 1, 2)


def nchw_to_nhwc(output: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """The inverse of `nhwc_to_nchw` (a `ReshapedTarget` inverse: `output` itself is not needed)."""
    return maps.permute(0, 2, 3, 1)


def _as_is(output: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    return maps


@dataclass(frozen=True, kw_only=True)
class LayerReshape:
    """How one layer's output becomes a (B, C, H, W) map: which element of a tuple/list (`item`), then its layout."""

    layout: Layout = Layout.NCHW
    tokens: TokenReshape | None = None
    item: int | None = None  # the tuple/list element holding the map; None: the output is a tensor
    branches: int = 1  # how many tuple/list elements were maps (the highest-resolution one is `item`)
    grid: ImageSize = (0, 0)  # the map's size at the dry forward
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        """The reshape as `layers --json` records it: None, "nhwc", "vit" (tokens), "item1", "item0+vit"..."""
        inner = self.layout.spelling
        if self.item is None:
            return inner
        return f"item{self.item}" + (f"+{inner}" if inner else "")

    def describe(self) -> str:
        """What the reshape does, in words."""
        inner = {Layout.NCHW: f"NCHW {self.grid[0]}x{self.grid[1]} as is", Layout.NHWC: f"NHWC {self.grid[0]}x"
                 f"{self.grid[1]} permuted to NCHW"}.get(self.layout) or (self.tokens.describe() if self.tokens else "tokens")
        if self.item is None:
            return inner
        which = f"the highest-resolution of {self.branches} branches" if self.branches > 1 else "its map"
        return f"element {self.item} of its tuple ({which}); {inner}"

    def observe_input(self, pixels: torch.Tensor) -> None:
        """Remember the input size a token grid follows (called by a forward pre-hook on the whole model)."""
        if self.tokens is not None and torch.is_tensor(pixels) and pixels.ndim == 4:
            self.tokens.input_size = (int(pixels.shape[-2]), int(pixels.shape[-1]))

    @property
    def transform(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The tensor-to-map callable for pytorch-grad-cam's `reshape_transform` (a tensor output: `item` None)."""
        if self.layout is Layout.TOKENS and self.tokens is not None:
            return self.tokens
        return nhwc_to_nchw if self.layout is Layout.NHWC else pooled_as_map

    def element(self, output: object) -> torch.Tensor:
        """The tensor that holds the map."""
        if self.item is None:
            return cast(torch.Tensor, output)
        return cast(Sequence[torch.Tensor], output)[self.item]

    def __call__(self, output: object) -> torch.Tensor:
        tensor = self.element(output)
        if self.layout is Layout.TOKENS and self.tokens is not None:
            return self.tokens(tensor)
        return nhwc_to_nchw(tensor) if self.layout is Layout.NHWC else pooled_as_map(tensor)

    def inverse(self, output: object, maps: torch.Tensor) -> object:
        """`output` rebuilt with its map replaced by `maps`, so gradients reach them."""
        inner = {Layout.NCHW: _as_is, Layout.NHWC: nchw_to_nhwc}.get(self.layout) or self.tokens.inverse  # type: ignore[union-attr]
        rebuilt = inner(self.element(output), maps)
        if self.item is None:
            return rebuilt
        original = self.element(output)  # every element that is this tensor (EfficientViM returns it twice)
        items = [rebuilt if item is original else item for item in cast(Sequence[object], output)]
        if hasattr(output, "_fields"):  # a named tuple
            return type(output)(*items)
        return type(output)(items) if isinstance(output, (tuple, list)) else items


def reshape_spelling(reshapes: Iterable[LayerReshape | None]) -> str | None:
    """The target layers' reshapes as `layers --json`, `run.json` and the resume key spell them: each layer's
    `name`, the distinct ones joined by `+` (None: every layer is NCHW already)."""
    return "+".join(sorted({reshape.name for reshape in reshapes if reshape is not None and reshape.name})) or None


def map_tensors(output: object) -> list[torch.Tensor] | None:
    """The tensors of a tuple/list output, or None when the output is not a tuple/list of tensors."""
    if isinstance(output, (tuple, list)) and output and any(torch.is_tensor(item) for item in output):
        return [item if torch.is_tensor(item) else torch.empty(0) for item in output]
    return None


def decide_reshape(output: object, size: ImageSize, *, prefix_hint: int | None = None,
                   nhwc_hint: bool = False) -> LayerReshape | None:
    """The reshape that reads this dry-forward `output` (for a `size` input) as a spatial map on the image grid, or
    None when no reading fits (pooled vectors, attention matrices, scalars). A tuple/list gives its element with the
    most grid cells."""
    if torch.is_tensor(output):
        return _tensor_reshape(output, size, prefix_hint, nhwc_hint)
    tensors = map_tensors(output)
    if tensors is None:
        return None
    readings = [(index, reshape) for index, tensor in enumerate(tensors)
                if (reshape := _tensor_reshape(tensor, size, prefix_hint, nhwc_hint)) is not None]
    if not readings:
        return None
    index, best = max(readings, key=lambda reading: (reading[1].grid[0] * reading[1].grid[1], -reading[0]))
    return replace(best, item=index, branches=len(readings))


def _tensor_reshape(tensor: torch.Tensor, size: ImageSize, prefix_hint: int | None,
                    nhwc_hint: bool) -> LayerReshape | None:
    shape = tuple(tensor.shape)
    if len(shape) == 4:
        nchw, nhwc = on_image_grid(shape[2], shape[3], size), on_image_grid(shape[1], shape[2], size)
        if nhwc and (nhwc_hint or not nchw):
            return LayerReshape(layout=Layout.NHWC, grid=(shape[1], shape[2]))
        return LayerReshape(layout=Layout.NCHW, grid=(shape[2], shape[3])) if nchw else None
    if len(shape) == 3:
        split = token_grid(shape[1], size, prefix_hint)
        if split is None:
            return None
        return LayerReshape(layout=Layout.TOKENS, tokens=TokenReshape(split[0], split[1], size), grid=split[1])
    return None


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
    image_size, patch_size = getattr(model, "image_size", None), getattr(model, "patch_size", None)  # torchvision
    if grid is None and isinstance(image_size, int) and isinstance(patch_size, int):
        grid = (image_size // patch_size,) * 2
    return TokenReshape(int(prefix), (int(grid[0]), int(grid[1])) if grid else (0, 0))


class ReshapedTarget(nn.Module):
    """A target layer whose forward hooks see (B, C, H, W) maps, so it needs no `reshape_transform`.

    pytorch-grad-cam registers its hooks here; they run on the wrapped layer's output reshaped, and the output passes
    on rebuilt from those maps, so their gradients are the ones Grad-CAM reads. With `root` (the whole model) given, a
    token grid follows the size of the input each forward is run on.
    """

    def __init__(self, layer: nn.Module, transform: Callable[[object], torch.Tensor],
                 inverse: Callable[[object, torch.Tensor], object], root: nn.Module | None = None) -> None:
        super().__init__()
        self.layer = layer
        self.transform, self.inverse = transform, inverse
        self._root = [root] if root is not None else []  # a list: not registered as a submodule

    def forward(self, *args: object, **kwargs: object) -> object:
        return self.layer(*args, **kwargs)

    def register_forward_hook(self, hook: Callable, **kwargs: Any) -> object:  # type: ignore[override]
        def reshaped(module: nn.Module, args: object, output: object) -> object:
            maps = self.transform(output)
            replaced = hook(module, args, maps)
            return self.inverse(output, maps if replaced is None else replaced)

        handle = self.layer.register_forward_hook(reshaped, **kwargs)
        observe = getattr(self.transform, "observe_input", None)
        if not self._root or observe is None:
            return handle
        size_hook = self._root[0].register_forward_pre_hook(lambda module, args: observe(args[0] if args else None))
        return _Handles(handle, size_hook)


class _Handles:
    """Two hook handles removed together (what `register_forward_hook` returns for a token target)."""

    def __init__(self, *handles: object) -> None:
        self.handles = handles

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()  # type: ignore[attr-defined]
