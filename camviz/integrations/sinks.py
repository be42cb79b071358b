"""Where figures logged from a training loop go: TensorBoard (`add_image`), Weights & Biases (`log_image`), a folder.

Told apart by what they can do (duck typing), so neither TensorBoard nor wandb is imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from camviz.output.figures import encode_image
from camviz.output.files import write_atomic
from camviz.output.names import filename_safe

TAG_PREFIX = "camviz"


@dataclass(frozen=True)
class NamedFigure:
    """One image's three-panel figure (uint8 RGB) and its name (a file stem or `image_NN`)."""

    name: str
    figure: np.ndarray


class FigureSink(Protocol):
    """Takes one call's figures at a training step."""

    def write(self, figures: Sequence[NamedFigure], step: int) -> None: ...


class TensorBoardSink:
    """A `SummaryWriter` (or Lightning's TensorBoardLogger's `experiment`): one image per figure, `camviz/{name}`."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write(self, figures: Sequence[NamedFigure], step: int) -> None:
        for item in figures:
            self.writer.add_image(f"{TAG_PREFIX}/{item.name}", item.figure, global_step=step, dataformats="HWC")
        self.writer.flush()


class WandbSink:
    """Lightning's WandbLogger: one `log_image` call with every figure under the key `camviz`, captioned by name."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def write(self, figures: Sequence[NamedFigure], step: int) -> None:
        self.logger.log_image(key=TAG_PREFIX, images=[item.figure for item in figures],
                              caption=[item.name for item in figures], step=step)


class FolderSink:
    """PNG files: `{folder}/step_{step:08d}/{name}.png` (for loggers that take no images, or none)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def write(self, figures: Sequence[NamedFigure], step: int) -> None:
        target = self.folder / f"step_{step:08d}"
        target.mkdir(parents=True, exist_ok=True)
        for item in figures:
            write_atomic(target / f"{filename_safe(item.name)}.png", encode_image(item.figure, "png"))


def sink_for(destination: Any) -> FigureSink:
    """A SummaryWriter-like object (`add_image`), a W&B-like logger (`log_image`), or a folder path."""
    if isinstance(destination, (str, Path)):
        return FolderSink(Path(destination))
    if callable(getattr(destination, "add_image", None)):
        return TensorBoardSink(destination)
    if callable(getattr(destination, "log_image", None)):
        return WandbSink(destination)
    raise TypeError(f"cannot log figures to a {type(destination).__name__}: give a SummaryWriter, a W&B logger "
                    "or a folder")
