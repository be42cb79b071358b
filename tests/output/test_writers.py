"""camviz.output.writers: figures from the uint8 data path are the float path's pixel for pixel, and
`--figure-format` names and encodes every figure (batch, single, class means, gallery); real runs of the trained
shapes classifier."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from camviz.data.decode import decode_image
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.output.figures import compose_figure, overlay
from camviz.output.options import OutputOptions
from camviz.run.job import explain
from camviz.run.options import ExplainOptions
from tests.support.manifest import manifest_rows


def _float_path_figure(image_path: Path, size: int, cam: np.ndarray, row: dict[str, str]) -> np.ndarray:
    """The figure as camviz composed it before the uint8 data path: a float32 display image from PIL's resize."""
    display = np.asarray(decode_image(image_path).resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255.0
    titles = (f"Input | true: {row['true']}", f"gradcam heatmap | explained: {row['target']}",
              f"Overlay | pred: {row['pred']} ({float(row['confidence']):.1%})")
    return compose_figure(display, cam, overlay(display, cam), titles)


def test_figures_from_uint8_batches_match_the_float_path_pixel_for_pixel(trained_checkpoint, shapes_split,
                                                                         tmp_path: Path) -> None:
    data_dir, _ = shapes_split
    out = tmp_path / "out"
    result = explain(ExplainOptions(model=ModelOptions(path=trained_checkpoint, cpu=True),
                                    inputs=InputOptions(data_dir=data_dir, num_samples=6),
                                    output=OutputOptions(output_dir=out, save_raw=True), batch_size=4, num_workers=1))
    assert result.exit_code == 0
    rows = manifest_rows(out)
    assert len(rows) == 6
    for row in rows:
        figure = cv2.cvtColor(cv2.imread(str(out / row["output"])), cv2.COLOR_BGR2RGB)
        cam = np.load(out / row["output"].replace(".png", ".npy"))
        expected = _float_path_figure(data_dir / row["path"], 96, cam, row)
        assert figure.shape == expected.shape
        assert np.array_equal(figure, expected), row["output"]
