"""How the model sees an image: uint8 pixels at its size and channel count, normalised on the device."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from camviz.discovery.spec import InputSpec


@dataclass(frozen=True)
class Preprocessing:
    """How the model sees an image: its channel count, resized to height x width (no crop), then normalised.

    Workers produce uint8 pixels (what the figure shows); `normalize` turns a batch of them into the model's
    float input on whatever device the batch is on.
    """

    size: tuple[int, int]  # (height, width)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int = 3

    @classmethod
    def for_input(cls, spec: InputSpec) -> Preprocessing:
        """The preprocessing a model with this input spec expects."""
        return cls(spec.size, spec.mean, spec.std, spec.channels)

    def pixels(self, image: Image.Image) -> np.ndarray:
        """uint8 HWC pixels at the model's size and channel count (grey for a one-channel model)."""
        if self.channels == 1:
            image = image.convert("L")
        height, width = self.size
        resized = np.array(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)
        return resized.reshape(height, width, self.channels)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 [B, H, W, C] pixels (any device) -> the model's float32 [B, C, H, W] input."""
        mean = torch.tensor(self.mean[: self.channels], dtype=torch.float32, device=pixels.device)
        std = torch.tensor(self.std[: self.channels], dtype=torch.float32, device=pixels.device)
        scaled = pixels.permute(0, 3, 1, 2).float() / 255.0
        return (scaled - mean[:, None, None]) / std[:, None, None]
