"""camviz.output.figures: the three-panel figure (titles, heatmap, overlay, colour bar) and pytorch-grad-cam's
overlay."""

from __future__ import annotations

import numpy as np

from camviz.output.figures import compose_figure, heatmap, overlay


def test_figure_has_three_titled_panels_and_a_colour_bar() -> None:
    display = np.random.default_rng(0).random((96, 96, 3), dtype=np.float32)
    cam = np.zeros((96, 96), np.float32)
    cam[10:30, 60:80] = 1.0
    figure = compose_figure(display, cam, overlay(display, cam), ("Input | a", "gradcam heatmap | b", "Overlay | c"))
    scale = 3  # 96 px panels are scaled up to at least 224 px
    assert figure.dtype == np.uint8 and figure.shape[0] == 48 + 96 * scale
    assert figure.shape[1] == 3 * 96 * scale + 56 + 2 * 12
    heat_panel = figure[48:, 96 * scale + 12: 2 * 96 * scale + 12]
    assert np.array_equal(heat_panel[20 * scale, 70 * scale], heatmap(np.ones((1, 1), np.float32))[0, 0])
    title_band = figure[:48]
    assert (title_band < 128).any(), "titles are drawn"


def test_overlay_is_pytorch_grad_cams() -> None:
    display = np.full((8, 8, 3), 0.5, np.float32)
    cam = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    result = overlay(display, cam)
    assert result.shape == (8, 8, 3) and result.dtype == np.uint8
    assert not np.array_equal(result[0, 0], result[-1, -1])
