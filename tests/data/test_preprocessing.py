"""camviz.data.preprocessing: uint8 pixels at the model's size and channel count, normalised bit for bit as the
float path would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from camviz.data.preprocessing import Preprocessing
from camviz.output.figures import display_image


def test_preprocessing_resizes_without_crop_and_normalises() -> None:
    image = Image.new("RGB", (40, 10), (255, 0, 127))
    prep = Preprocessing((8, 8), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    pixels = prep.pixels(image)
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8
    tensor = prep.normalize(torch.from_numpy(pixels[None]))
    assert tensor.shape == (1, 3, 8, 8) and tensor.dtype == torch.float32
    assert tensor[0, 0].max().item() == pytest.approx(2.0) and tensor[0, 1].min().item() == pytest.approx(-2.0)
    expected = (np.asarray(image.resize((8, 8), Image.Resampling.BILINEAR), np.float32) / 255.0 - 0.5) / 0.25
    assert np.array_equal(tensor[0].permute(1, 2, 0).numpy(), expected)  # bit for bit the float path's input


def test_preprocessing_to_one_channel_and_non_square() -> None:
    image = Image.new("RGB", (40, 10), (90, 90, 90))
    prep = Preprocessing((6, 10), (0.5,), (0.5,), channels=1)
    pixels = prep.pixels(image)
    assert pixels.shape == (6, 10, 1) and int(pixels.min()) == int(pixels.max()) == 90
    assert prep.normalize(torch.from_numpy(pixels[None])).shape == (1, 1, 6, 10)
    display = display_image(pixels)
    assert display.shape == (6, 10, 3) and display.dtype == np.float32 and display.max() == pytest.approx(90 / 255)
