"""camviz.cam.memory: an input size, a batch or a figure that no memory here can hold is refused with the option to
change; out-of-memory errors are told apart by device."""

from __future__ import annotations

import math

import pytest
import torch

from camviz.cam.memory import check_figure_fits, check_input_fits, out_of_memory, physical_memory
from camviz.errors import UsageError


def test_sizes_that_fit_pass_and_sizes_that_do_not_name_their_option() -> None:
    total = physical_memory()
    assert total is not None and total > 2**30  # Linux says
    check_input_fits(96, 96, batch=64)
    check_figure_fits(96, 96, needed=10**6)
    with pytest.raises(UsageError, match="--img-size 300000x300000 is too large for this machine"):
        check_input_fits(300000, 300000)
    side = math.isqrt(total // 130)  # one image (5 bytes a pixel) fits; 36 of them are over half the RAM
    check_input_fits(side, side)
    with pytest.raises(UsageError, match=f"--batch-size 36 at {side}x{side} is too large.*smaller --batch-size"):
        check_input_fits(side, side, batch=36)
    with pytest.raises(UsageError, match="--img-size 8x1000000 is too large for this machine: one figure needs"):
        check_figure_fits(8, 1000000, needed=total)


def test_out_of_memory_is_told_apart_by_device() -> None:
    assert out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory")) == "GPU"
    assert out_of_memory(MemoryError()) == "CPU"
    try:
        torch.empty(2**62, dtype=torch.uint8)  # a real allocation no machine can make
    except RuntimeError as error:
        assert out_of_memory(error) == "CPU", str(error)
    else:
        pytest.fail("allocating 4 EiB succeeded")
    assert out_of_memory(RuntimeError("shape mismatch")) is None
