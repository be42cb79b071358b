"""Memory limits as one clear line: an input size no machine here can hold, and out-of-memory on any device."""

from __future__ import annotations

import os

import torch

from camviz.errors import UsageError


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_input_fits(height: int, width: int, batch: int = 1, channels: int = 3) -> None:
    """Refuse an input size, or a batch of inputs, whose pixels and float input alone would take half the RAM
    (before a decoding worker tries and the OS kills it); runs that get further and run out of memory are
    handled by the CAM engine's back-off."""
    total = physical_memory()
    image = height * width * channels * (1 + 4)  # uint8 pixels + float32 input
    if not total:
        return
    if image > total // 2:
        raise UsageError(f"--img-size {height}x{width} is too large for this machine: one image alone needs "
                         f"{image / 2**30:.1f} GiB as input ({total / 2**30:.1f} GiB of RAM); use a smaller --img-size")
    if image * batch > total // 2:
        raise UsageError(f"--batch-size {batch} at {height}x{width} is too large for this machine: one batch needs "
                         f"{image * batch / 2**30:.1f} GiB as input ({total / 2**30:.1f} GiB of RAM); "
                         "use a smaller --batch-size")


def check_figure_fits(height: int, width: int, needed: int) -> None:
    """Refuse an input size whose figure (`needed` bytes: panels are enlarged to at least 224 px tall so their
    titles stay legible) would take half the RAM, before any image is explained."""
    total = physical_memory()
    if total and needed > total // 2:
        raise UsageError(f"--img-size {height}x{width} is too large for this machine: one figure needs "
                         f"{needed / 2**30:.1f} GiB (small panels are enlarged to 224 px tall; "
                         f"{total / 2**30:.1f} GiB of RAM); use a size closer to the model's own")


def out_of_memory(error: BaseException) -> str | None:
    """"GPU" or "CPU" if `error` says the device ran out of memory, else None."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return "GPU"
    if isinstance(error, MemoryError) or "can't allocate memory" in str(error) or "not enough memory" in str(error):
        return "CPU"
    return None
