"""camviz.output.segmentation_figure: four panels sized and titled as the classifier's figure, the predicted mask in
VOC's colours with a legend of the classes present only, the explained class's predicted region outlined in white
where its border is, the true region in magenta only when a label map is given; the same input gives the same bytes."""

from __future__ import annotations

import numpy as np
import pytest

from camviz.output.figures import encode_image, figure_and_overlays
from camviz.output.segmentation_figure import (
    PREDICTED_OUTLINE,
    TRUTH_OUTLINE,
    SegmentationFigure,
    class_colours,
    legend,
    segmentation_figure,
)

NAMES = ("background", "circle", "square", "triangle", "hexagon")
SIZE = 56  # enlarged 4x to 224 px panels, as the classifier's figure does
TITLE_BAND, GAP, LEGEND, COLORBAR = 48, 12, 128, 56


def _inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grey pixels, a prediction of classes 0, 1 (a square, rows/columns 12..32) and 2, a true map of class 1
    shifted right, and a CAM peaking on class 1."""
    pixels = np.full((SIZE, SIZE, 3), 128, np.uint8)
    predicted = np.zeros((SIZE, SIZE), np.int64)
    predicted[12:32, 12:32] = 1
    predicted[40:50, 5:15] = 2
    truth = np.zeros((SIZE, SIZE), np.int64)
    truth[12:32, 24:44] = 1
    truth[0, :] = 255  # void
    yy, xx = np.mgrid[:SIZE, :SIZE]
    cam = np.exp(-((yy - 22) ** 2 + (xx - 22) ** 2) / 80.0).astype(np.float32)
    return pixels, predicted, cam, truth


def _panels(figure: np.ndarray) -> dict[str, np.ndarray]:
    """The figure's panels below their title bands: input, mask (with legend), heatmap (with bar), overlay."""
    body = figure[TITLE_BAND:]
    widths = {"input": 224, "mask": 224 + LEGEND, "heatmap": 224 + COLORBAR, "overlay": 224}
    panels, left = {}, 0
    for name, width in widths.items():
        panels[name] = body[:, left: left + width]
        left += width + GAP
    assert left - GAP == figure.shape[1]
    return panels


def _figure(pixels: np.ndarray, predicted: np.ndarray, cam: np.ndarray, **given: object) -> np.ndarray:
    return segmentation_figure(SegmentationFigure(pixels=pixels, predicted=predicted, cam=cam, **given))


def _colour_pixels(panel: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return (panel == np.array(colour, np.uint8)).all(axis=2)


def test_four_panels_as_the_classifier_figure_sizes_and_titles_its_three() -> None:
    pixels, predicted, cam, _ = _inputs()
    figure = _figure(pixels, predicted, cam, explained=1, class_names=NAMES, subject="a/1.png",
                                 method="GradCAM")
    classifier, _ = figure_and_overlays(pixels, cam, ("Input | a/1.png", "GradCAM heatmap | explained: circle", "x"))
    assert figure.dtype == np.uint8 and figure.shape == (TITLE_BAND + 224, 224 * 4 + LEGEND + COLORBAR + 3 * GAP, 3)
    assert figure.shape[0] == classifier.shape[0]
    # the input and the heatmap panels (title bands included) are the classifier's, pixel for pixel
    np.testing.assert_array_equal(figure[:, :224], classifier[:, :224])
    heat = slice(224 * 2 + LEGEND + 2 * GAP, 224 * 3 + LEGEND + COLORBAR + 2 * GAP)
    np.testing.assert_array_equal(figure[:, heat], classifier[:, 224 + GAP: 224 * 2 + COLORBAR + GAP])


def test_the_mask_panel_shows_each_class_in_its_voc_colour() -> None:
    pixels, predicted, cam, _ = _inputs()
    mask = _panels(_figure(pixels, predicted, cam, explained=1, class_names=NAMES))["mask"][:, :224]
    colours = class_colours(len(NAMES))
    assert colours[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]  # VOC's map
    np.testing.assert_array_equal(mask, colours[np.kron(predicted, np.ones((4, 4), np.int64))])


def test_the_legend_lists_the_classes_present_only() -> None:
    pixels, predicted, cam, _ = _inputs()
    legend_column = _panels(_figure(pixels, predicted, cam, explained=1, class_names=NAMES))["mask"][
        :, 224:]
    colours = class_colours(len(NAMES))
    for label in range(len(NAMES)):
        assert _colour_pixels(legend_column, tuple(colours[label])).any() == (label in (0, 1, 2)), NAMES[label]
    np.testing.assert_array_equal(legend_column, legend([0, 1, 2], NAMES, 224, len(NAMES), explained=1))
    assert not np.array_equal(legend_column, legend([0, 1, 2], NAMES, 224, len(NAMES), explained=2))  # bold


def test_a_legend_too_long_for_the_panel_says_how_many_more() -> None:
    names = [f"class number {i}" for i in range(40)]
    full = legend(list(range(40)), names, 224, 40)
    short = legend(list(range(11)), names, 224, 40)
    colours = class_colours(40)
    assert not _colour_pixels(full, tuple(colours[39])).any()  # not drawn off the panel: summed up instead
    assert _colour_pixels(full, tuple(colours[10])).any()
    assert not np.array_equal(full, short)


def test_the_predicted_region_is_outlined_in_white_along_its_border() -> None:
    pixels, predicted, cam, _ = _inputs()
    overlay = _panels(_figure(pixels, predicted, cam, explained=1, class_names=NAMES))["overlay"]
    white = _colour_pixels(overlay, PREDICTED_OUTLINE)
    rows, cols = np.nonzero(white)
    assert rows.size > 4 * 80 * 2  # the 80-pixel-long sides, two pixels thick, mostly in the exact colour
    border = 12 * 4, 32 * 4 - 1  # the square's first and last pixel rows and columns, enlarged 4x
    near = lambda values: np.min(np.abs(values[:, None] - np.array(border)[None]), axis=1) <= 2  # noqa: E731
    assert (near(rows) | near(cols)).all()  # every white pixel on the border, none inside or elsewhere
    assert white[border[0], 60:120].all() and white[60:120, border[1]].all()
    assert not white[100, 100] and not _colour_pixels(overlay, TRUTH_OUTLINE).any()


def test_the_true_region_is_outlined_in_magenta_only_with_a_label_map() -> None:
    pixels, predicted, cam, truth = _inputs()
    with_truth = _panels(_figure(pixels, predicted, cam, explained=1, class_names=NAMES, truth=truth))
    magenta = _colour_pixels(with_truth["overlay"], TRUTH_OUTLINE)
    assert magenta[60:120, 44 * 4 - 1].all()  # the true square's right side (columns 24..44)
    assert not magenta[:, :24 * 4 - 3].any()  # nothing left of its left side
    assert _colour_pixels(with_truth["overlay"], PREDICTED_OUTLINE).any()
    explained_two = _panels(_figure(pixels, predicted, cam, explained=2, class_names=NAMES, truth=truth))
    assert not _colour_pixels(explained_two["overlay"], TRUTH_OUTLINE).any()  # class 2 is in no true pixel


def test_the_same_input_gives_the_same_bytes_and_a_grey_model_its_grey_input() -> None:
    pixels, predicted, cam, truth = _inputs()
    first = encode_image(_figure(pixels, predicted, cam, explained=1, class_names=NAMES, truth=truth))
    again = encode_image(_figure(pixels.copy(), predicted.copy(), cam.copy(), explained=1,
                                             class_names=NAMES, truth=truth.copy()))
    assert first == again
    grey = _figure(pixels[..., :1], predicted, cam, explained=1, class_names=NAMES)
    assert grey.shape == _figure(pixels, predicted, cam, explained=1, class_names=NAMES).shape


def test_panels_of_different_sizes_are_refused() -> None:
    pixels, predicted, cam, _ = _inputs()
    with pytest.raises(ValueError, match="different sizes"):
        _figure(pixels, predicted[:10], cam, explained=1, class_names=NAMES)


def test_a_label_beyond_the_names_is_shown_by_its_index() -> None:
    pixels, predicted, cam, _ = _inputs()
    predicted[0:4, 0:4] = 7
    figure = _figure(pixels, predicted, cam, explained=7, class_names=NAMES)
    assert _colour_pixels(_panels(figure)["mask"], tuple(class_colours(8)[7])).any()
