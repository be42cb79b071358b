"""Reading a logged three-panel figure back: the CAM its heatmap panel shows, by inverting the JET colours."""

from __future__ import annotations

import numpy as np

from camviz.output.figures import _COLORBAR_WIDTH, _GAP, _TITLE_BAND, enlarge, heatmap


def cam_from_figure(figure: np.ndarray, size: int) -> np.ndarray:
    """The [size, size] CAM (quantised to 1/255) drawn in the heatmap panel of a figure of a size x size input."""
    panel = enlarge(np.zeros((size, size, 3), np.uint8)).shape[0]
    assert figure.shape[1] == 3 * panel + 2 * _GAP + _COLORBAR_WIDTH, figure.shape
    step = panel // size  # enlarged by repeating pixels: one in `step` is the CAM's own
    heat = figure[_TITLE_BAND:_TITLE_BAND + panel:step, panel + _GAP:2 * panel + _GAP:step]
    levels = np.arange(256, dtype=np.float32) / 255.0
    lut = heatmap(levels[None]).reshape(256, 3)
    distance = ((heat[:, :, None, :].astype(np.int32) - lut[None, None].astype(np.int32)) ** 2).sum(-1)
    return levels[distance.argmin(-1)]


def peak_inside(cam: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether the CAM's maximum (the centre of its top-valued pixels) lies in the box (x0, y0, x1, y1)."""
    ys, xs = np.nonzero(cam >= cam.max())
    x, y = float(xs.mean()), float(ys.mean())
    x0, y0, x1, y1 = box
    return x0 <= x < x1 and y0 <= y < y1
