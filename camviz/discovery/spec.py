"""What a model takes as input: channels, height x width, mean/std; and the sizes users write (`224`, `(96, 160)`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from camviz.errors import UsageError

ImageSize = tuple[int, int]  # (height, width)


@dataclass(frozen=True)
class InputSpec:
    """What the model takes: channel count, height x width, and the normalisation."""

    channels: int  # 1 (grey) or 3, from the first layer's weights
    size: ImageSize  # (height, width)
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def img_size(self) -> int | ImageSize:
        """The size as users write it: one number when square, else (height, width)."""
        return self.size[0] if self.size[0] == self.size[1] else self.size


def height_width(size: int | Sequence[int]) -> ImageSize:
    """(height, width) from one number (square), `[H, W]` or timm's `[C, H, W]` (the last two); no checks."""
    values = [int(size)] if isinstance(size, int) else [int(v) for v in size]
    return (values[0], values[0]) if len(values) == 1 else (values[-2], values[-1])


def as_size(size: int | Sequence[int] | None) -> ImageSize | None:
    """A user's `--img-size` as (height, width): one number (square) or a pair, each at least 8; None stays None."""
    if size is None:
        return None
    if (not isinstance(size, int) and len(size) != 2) or min(height_width(size)) < 8:
        raise UsageError(f"--img-size must be one size or HEIGHT WIDTH, each at least 8 pixels (got {size})")
    return height_width(size)


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    """The model's first `Conv2d` (in module order) with its dotted name, or None when it has none."""
    return next(((name, module) for name, module in model.named_modules() if isinstance(module, nn.Conv2d)), None)


def input_channels(model: nn.Module) -> int | None:
    """The input channel count of the model's first convolution: 1 or 3 (None when it has none, or when it takes
    other planes: TResNet's space-to-depth stem gives it 48, CSATv2's DCT stem 64)."""
    found = first_conv(model)
    return found[1].in_channels if found is not None and found[1].in_channels in (1, 3) else None


def per_channel(values: Sequence[float]) -> tuple[float, float, float] | None:
    """A mean or std as three per-channel floats: one value is every channel's; None for any count but 1 or 3."""
    numbers = [float(value) for value in values]
    if len(numbers) == 1:
        numbers *= 3
    return (numbers[0], numbers[1], numbers[2]) if len(numbers) == 3 else None


def usable_normalisation(values: Sequence[float], *, divides: bool) -> bool:
    """Every value finite, and positive when it divides (a std)."""
    return all(math.isfinite(value) for value in values) and (not divides or min(values) > 0)
