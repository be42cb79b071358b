"""`camviz explain`: an input size, or a batch, that no memory here can hold is one line before any work."""

from __future__ import annotations

import math

from camviz.cam.memory import physical_memory
from tests.support.cli import one_error_line


def test_an_img_size_no_memory_can_hold_is_refused_before_any_work(camviz_main, circle_image, trained_checkpoint,
                                                                   tmp_path) -> None:
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path, "--model-path",
                         trained_checkpoint, "--img-size", 300000)
    one_error_line(result, 2, "--img-size 300000x300000 is too large for this machine")


def test_a_batch_no_memory_can_hold_is_refused_before_any_work(camviz_main, shapes_split, trained_checkpoint,
                                                               tmp_path) -> None:
    """One image (and its figure, ~60 bytes a pixel) fits; 36 of them as one batch's input (5 bytes a pixel) do not."""
    side = math.isqrt(physical_memory() // 130)
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", shapes_split[0], "--output-dir",
                         tmp_path, "--img-size", side, "--batch-size", 64)
    one_error_line(result, 2, f"--batch-size 36 at {side}x{side} is too large", "smaller --batch-size")


def test_an_img_size_whose_figure_no_memory_can_hold_is_refused_up_front(camviz_main, circle_image,
                                                                          trained_checkpoint, tmp_path) -> None:
    """8 x 1000000: the input is small enough, but the panels are enlarged 28x for legible titles."""
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path, "--model-path",
                         trained_checkpoint, "--img-size", 8, 1000000)
    one_error_line(result, 2, "--img-size 8x1000000 is too large for this machine: one figure needs")
    assert not any(tmp_path.iterdir())
