"""One explained image in memory: the CAM, the overlay, the prediction, and the figure `camviz explain` writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camviz.errors import UsageError
from camviz.output.figures import FigureFormat, Titles, display_image, encode_image, figure_and_overlays, overlay
from camviz.output.files import write_atomic


@dataclass(frozen=True, kw_only=True)
class ImageExplanation:
    """What `explain_image` returns; in Jupyter it shows itself as the three-panel figure."""

    cam: np.ndarray  # float32 [H, W] in [0, 1] at the model's input size (multilabel: the first explained label's)
    pixels: np.ndarray  # uint8 [H, W, C]: the image as the model saw it
    probabilities: np.ndarray  # float32 [classes]
    prediction: str  # the predicted class (multilabel: the labels joined with `+`, as in manifest.csv)
    probability: float  # the predicted class's (multilabel: the most probable label's)
    explained: str  # the class the CAM explains (multilabel: each CAM's, joined with `+`)
    method: str
    titles: list[Titles]  # one (input, heatmap, overlay) triple per CAM, as the CLI titles them
    label_cams: np.ndarray | None = None  # multilabel: float32 [K, H, W], one per explained label

    @property
    def overlay(self) -> np.ndarray:
        """uint8 RGB [H, W, 3]: pytorch-grad-cam's `show_cam_on_image` of the CAM on the image."""
        return overlay(display_image(self.pixels), np.nan_to_num(self.cam))

    def figure(self) -> np.ndarray:
        """uint8 RGB: the three-panel figure `camviz explain --image-path` writes (a row per label if multilabel)."""
        return figure_and_overlays(self.pixels, self._cams(), self.titles)[0]

    def save(self, path: str | Path) -> Path:
        """Write the figure (`.png`, `.jpg` or `.webp`, by the suffix) atomically; returns the path."""
        path = Path(path)
        figure_format = path.suffix[1:].lower()
        if figure_format not in FigureFormat.__members__:
            raise UsageError(f"save the figure as one of {', '.join('.' + f for f in FigureFormat)} (got {path.name})")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, encode_image(self.figure(), figure_format))
        return path

    def _repr_png_(self) -> bytes:
        """Jupyter's rich display: the figure as PNG."""
        return encode_image(self.figure(), "png")

    def _cams(self) -> np.ndarray:
        return np.nan_to_num(self.cam if self.label_cams is None else self.label_cams)
