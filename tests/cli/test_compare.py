"""`camviz compare`: several methods side by side in one figure, one grid of input and overlays per image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PANEL = 3 * 96  # a 96 px input is enlarged 3x (to at least 224 px) so the titles stay readable


def test_compare_command_writes_one_grid(camviz_main, trained_checkpoint: Path, shapes_split, tmp_path: Path) -> None:
    data_dir, _ = shapes_split
    images = [data_dir / "circle" / "circle_000.png", data_dir / "triangle" / "triangle_001.png"]
    output = tmp_path / "figures" / "compare.png"
    result = camviz_main(
        "compare", "--model-path", trained_checkpoint, "--image-path", images[0], "--image-path", images[1],
        "--method", "gradcam", "--method", "GradCAMPlusPlus", "--method", "eigencam", "--output", output, "--cpu",
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote {output}" in result.stdout
    figure = cv2.cvtColor(cv2.imread(str(output)), cv2.COLOR_BGR2RGB)
    height, width, _ = figure.shape
    assert 4 * PANEL <= width <= 4 * PANEL + 3 * 40  # input + 3 methods, small gaps
    assert 2 * PANEL + 2 * 30 <= height <= 2 * PANEL + 2 * 100  # 2 rows, each under a title band
    column = (width + 12) // 4  # panel plus gap
    for row in range(2):
        bottom = (height + 12) // 2 * (row + 1) - 12  # panels end where the row's gap starts
        panels = [figure[bottom - PANEL : bottom, c * column : c * column + PANEL].astype(int) for c in range(4)]
        for overlay_panel in panels[1:]:
            assert np.abs(overlay_panel - panels[0]).mean() > 10  # an overlay, not a copy of the input
        assert not np.array_equal(panels[1], panels[3])  # gradcam and eigencam differ
