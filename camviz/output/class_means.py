"""`class_mean_{Class}` figures: the mean CAM of each true class (meaningful for aligned images)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from camviz.output.figures import encode_image, heatmap_figure
from camviz.output.files import write_atomic
from camviz.output.names import distinct_safe_names
from camviz.output.result import ImageResult


class ClassMeans:
    """Running sums of the CAMs per true class, for `class_mean_{Class}.{png|jpg|webp}` (for aligned images)."""

    def __init__(self, classes: Sequence[str], size: tuple[int, int]) -> None:
        self.classes = list(classes)
        self.sums = np.zeros((len(self.classes), *size), np.float64)
        self.counts = np.zeros(len(self.classes), np.float64)

    def add(self, result: ImageResult, cam: np.ndarray) -> None:
        """Count one result's [H, W] CAM towards its true class."""
        if result.true in self.classes and np.isfinite(cam).all():
            position = self.classes.index(result.true)
            self.sums[position] += cam
            self.counts[position] += 1

    def write(self, output_dir: Path, method: str, figure_format: str = "png") -> list[Path]:
        """Write `class_mean_{Class}.{format}` for every class with samples, each mean scaled to [0, 1]."""
        written = []
        safe = distinct_safe_names(self.classes)  # `猫`, `狗` and `a:b`, `a?b` never share a file
        for name, total, count in zip(self.classes, self.sums, self.counts, strict=True):
            if count:
                mean = total / count
                scaled = (mean - mean.min()) / max(float(np.ptp(mean)), 1e-12)
                title = f"mean {method} | {name}, {int(count)} images (scaled to 0..1)"
                path = output_dir / f"class_mean_{safe[name]}.{figure_format}"
                write_atomic(path, encode_image(heatmap_figure(scaled.astype(np.float32), title), figure_format))
                written.append(path)
        return written
