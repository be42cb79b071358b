"""What is written: where, in which figure format, which extra files and columns; one value for every command."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class FigureFormat(StrEnum):
    """`--figure-format`: the image format of figures, with OpenCV's encoder parameters for it."""

    png = "png"
    jpg = "jpg"
    webp = "webp"

    @property
    def encoder_parameters(self) -> list[int]:
        """OpenCV's `imencode` parameters (PNG: OpenCV's default, its fastest RLE strategy)."""
        import cv2  # this module stays light: the command line builds its values before OpenCV is imported

        return {"png": [], "jpg": [cv2.IMWRITE_JPEG_QUALITY, 92], "webp": [cv2.IMWRITE_WEBP_QUALITY, 90]}[self.value]


@dataclass(frozen=True, kw_only=True)
class OutputOptions:
    """The output folder and what goes into it beside the figures and manifest."""

    output_dir: Path = Path("gradcam_results")
    figure_format: FigureFormat = FigureFormat.png
    save_raw: bool = False  # a float32 `.npy` beside each figure
    only_misclassified: bool = False  # batch mode: figures only for mistakes (every row is kept)
    iou_threshold: float = 0.5  # segmentation: with --only-misclassified, images with a class's IoU below it
    metrics: tuple[str, ...] = ()  # batch mode: these faithfulness scores (`camviz.cam.metrics.METRIC_NAMES`) as manifest columns
    masks: Path | None = None  # batch mode: a mask per image, same relative path and stem (nonzero colour = object)
    audit: bool = False  # batch mode: cluster the maps per explained class (SpRAy) into audit.csv and `cluster`
    boxes: Path | None = None  # batch mode: a CSV of path,x_min,y_min,x_max,y_max rows in the decoded image's pixels (EXIF orientation applied)
