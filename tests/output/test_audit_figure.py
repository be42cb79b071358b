"""camviz.output.audit_figure: a row per cluster (mean map, typical overlays), flagged rows framed in red, one file
per class under a safe, distinct name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from camviz.output.audit_figure import FLAG_COLOUR, PANEL, ClusterRow, TypicalImage, class_figure, write_class_figure
from tests.cam.test_audit import blob


def _rows() -> list[ClusterRow]:
    pixels = np.full((48, 96, 3), 90, np.uint8)
    typical = [TypicalImage(name=f"{i}.png", pixels=pixels, cam=blob(0.2, 0.2, size=16)) for i in range(6)]
    return [ClusterRow(title="dog/2 flagged: 6/20", flagged=True, mean=blob(0.2, 0.2), typical=typical),
            ClusterRow(title="dog/1: 14/20", flagged=False, mean=blob(0.6, 0.6),
                       typical=[TypicalImage(name="gone.png", pixels=None, cam=blob(0.6, 0.6))])]


def test_a_row_per_cluster_and_flagged_rows_framed() -> None:
    figure = class_figure(_rows(), aspect=2.0)
    assert figure.dtype == np.uint8 and figure.shape[2] == 3
    assert figure.shape[1] == 5 * 2 * PANEL + 4 * 12 + 2 * 6  # five panels, four gaps, the frame
    assert tuple(figure[0, 0]) == FLAG_COLOUR and tuple(figure[-1, 0]) == (255, 255, 255)
    half = figure.shape[0] // 2
    assert figure[half:, 2 * PANEL * 3 :].min() == 255  # the second row: one typical image, the rest blank


def test_a_figure_is_written_in_the_format_its_name_says(tmp_path: Path) -> None:
    figure = class_figure(_rows())
    assert cv2.imread(str(write_class_figure(tmp_path / "audit_dog.png", figure))).shape == figure.shape
    assert (tmp_path / "audit_dog.webp").exists() is False
    assert write_class_figure(tmp_path / "audit_dog.webp", figure).read_bytes()[8:12] == b"WEBP"
