"""camviz.cam.memory: an input size, or a batch, that no memory here can hold is refused before any work."""

from __future__ import annotations

import math

from camviz.cam.memory import physical_memory
from tests.support.cli import one_error_line


def test_an_img_size_no_memory_can_hold_is_refused_before_any_work(camviz_main, circle_image, trained_checkpoint,
                                                                   tmp_path) -> None:
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path, "--model-path",
                         trained_checkpoint, "--img-size", 300000)
    one_error_line(result, 2, "--img-size 300000x300000 is too large for this machine")


def test_a_batch_no_memory_can_hold_is_refused_before_any_work(camviz_main, small_split, trained_checkpoint,
                                                               tmp_path) -> None:
    side = math.isqrt(physical_memory() // 4 // 15)  # one image takes a quarter of the RAM, six of them more
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", small_split, "--output-dir",
                         tmp_path, "--img-size", side, "--batch-size", 64)
    one_error_line(result, 2, f"--batch-size 6 at {side}x{side} is too large", "smaller --batch-size")
