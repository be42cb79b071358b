"""Images as users hold them (paths, PIL images, numpy arrays, tensors) made into the model's input and the
uint8 pixels the figure shows.

Paths and PIL images go exactly the CLI's way (`decode_image`, `Preprocessing.pixels`, `normalize`). Arrays:
HWC or HW pixels, uint8 or float in [0, 1]. Tensors: uint8 is pixels (CHW, as `torchvision.io.read_image`
gives); float is the model's input already normalised (CHW or BCHW, as a validation loader gives), shown
un-normalised with the input spec's mean and std.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union, cast

import numpy as np
import torch
from PIL import Image

from camviz.data.decode import as_rgb, decode_image
from camviz.data.preprocessing import Preprocessing
from camviz.errors import UsageError

ImageLike = Union[str, Path, Image.Image, np.ndarray, torch.Tensor]


@dataclass
class Prepared:
    """A batch ready to explain: the model's float input, the uint8 pixels it shows, and a name per image."""

    inputs: torch.Tensor  # float32 [B, C, H, W], normalised, on the CPU, an ordinary (not inference) tensor
    pixels: np.ndarray  # uint8 [B, H, W, C]
    names: list[str]


def prepare_images(images: ImageLike | Sequence[ImageLike], preprocessing: Preprocessing) -> Prepared:
    """One image or many (a list, or a BCHW tensor) as one batch, named by file stem or position."""
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        items: list[ImageLike] = list(images.unbind(0))
    elif isinstance(images, (list, tuple)):
        items = list(cast(Sequence[ImageLike], images))
    else:
        items = [cast(ImageLike, images)]  # one image (a path is a sequence too, of characters)
    if not items:
        raise UsageError("no images to explain")
    parts = [_one(item, preprocessing) for item in items]
    return Prepared(torch.cat([inputs for inputs, _ in parts]), np.stack([pixels for _, pixels in parts]),
                    image_names(items))


def image_names(items: Sequence[ImageLike]) -> list[str]:
    """A file's stem, else `image_NN`; when stems repeat (`cat/001.png`, `dog/001.png`), each is led by its position."""
    names = [Path(item).stem if isinstance(item, (str, Path)) else f"image_{i:02d}" for i, item in enumerate(items)]
    return names if len(set(names)) == len(names) else [f"{i:02d}_{name}" for i, name in enumerate(names)]


def _one(image: ImageLike, preprocessing: Preprocessing) -> tuple[torch.Tensor, np.ndarray]:
    """One image's normalised [1, C, H, W] input and its uint8 HWC pixels."""
    if isinstance(image, torch.Tensor) and image.is_floating_point():
        return _from_input(image, preprocessing)
    pixels = preprocessing.pixels(_as_pil(image))
    with torch.inference_mode(False):
        inputs = preprocessing.normalize(torch.from_numpy(pixels)[None])
    return inputs, pixels


def _as_pil(image: ImageLike) -> Image.Image:
    """A path, PIL image, HWC/HW array or uint8 CHW tensor as an 8-bit RGB PIL image."""
    if isinstance(image, (str, Path)):
        return decode_image(Path(image))
    if isinstance(image, Image.Image):
        return as_rgb(image)
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3, 4):
            raise UsageError(f"a uint8 image tensor must be [C, H, W] with 1, 3 or 4 channels (got {list(image.shape)})")
        image = image.detach().cpu().permute(1, 2, 0).numpy()
    if isinstance(image, np.ndarray):
        return as_rgb(Image.fromarray(_uint8_pixels(image)))
    raise UsageError(f"cannot read an image from a {type(image).__name__}: give a path, a PIL image, an array "
                     "or a tensor")


def _uint8_pixels(array: np.ndarray) -> np.ndarray:
    """HW or HWC (1, 3 or 4 channels) pixels as uint8; float arrays are read as [0, 1]."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise UsageError(f"an image array must be [H, W] or [H, W, C] with 1, 3 or 4 channels (got {list(array.shape)})")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating):
        return np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    raise UsageError(f"an image array must be uint8, or float in [0, 1] (got {array.dtype})")


def _from_input(tensor: torch.Tensor, preprocessing: Preprocessing) -> tuple[torch.Tensor, np.ndarray]:
    """A normalised float input (CHW or 1CHW) as is, and its pixels shown with the spec's mean and std."""
    with torch.inference_mode(False):  # a copy the autograd graph may use, even when made under inference_mode
        inputs = tensor.detach().to("cpu", torch.float32).clone()
    inputs = inputs[None] if inputs.ndim == 3 else inputs
    if inputs.ndim != 4 or len(inputs) != 1:
        raise UsageError(f"a float image tensor must be [C, H, W] (got {list(tensor.shape)})")
    channels = inputs.shape[1]
    mean = torch.tensor(preprocessing.mean[:channels], dtype=torch.float32)[:, None, None]
    std = torch.tensor(preprocessing.std[:channels], dtype=torch.float32)[:, None, None]
    shown = (inputs[0] * std + mean).clamp(0.0, 1.0).permute(1, 2, 0)
    return inputs, np.round(shown.numpy() * 255).astype(np.uint8)
