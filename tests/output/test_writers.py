"""camviz.output.writers: figures from the uint8 data path are the float path's pixel for pixel, and
`--figure-format` names and encodes every figure (batch, single, class means, gallery); real runs of the trained
shapes classifier."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from camviz.data.decode import decode_image
from camviz.data.options import InputOptions
from camviz.discovery.options import ModelOptions
from camviz.output.figures import compose_figure, overlay
from camviz.output.options import OutputOptions
from camviz.run.job import explain
from camviz.run.options import ExplainOptions
from tests.support.manifest import manifest_rows

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}


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


@pytest.mark.parametrize("figure_format", ["jpg", "webp"])
def test_batch_figures_in_another_format_keep_their_names_and_the_gallery_follows(
        camviz_main, trained_checkpoint, shapes_split, tmp_path: Path, figure_format: str) -> None:
    data_dir, _ = shapes_split
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir, "--output-dir", out,
                         "--num-samples", "6", "--figure-format", figure_format, "--cpu")
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(out)
    assert len(rows) == 6 and not list(out.glob("*.png"))
    for row in rows:
        stem = f"gradcam_{int(row['index']):04d}_true_{row['true']}_pred_{row['pred']}"
        assert row["output"] == f"{stem}.{figure_format}"
        with Image.open(out / row["output"]) as image:
            assert image.format == FORMATS[figure_format] and image.width > 3 * 96 and image.height > 96
    gallery = (out / "index.html").read_text(encoding="utf-8")
    assert all(row["output"] in gallery for row in rows) and '"missing":true' not in gallery
    means = sorted(out.glob(f"class_mean_*.{figure_format}"))
    assert len(means) == 3


def test_single_mode_writes_figure_and_overlay_in_the_format(camviz_main, trained_checkpoint, shapes_split,
                                                             tmp_path: Path) -> None:
    data_dir, boxes = shapes_split
    image = data_dir / sorted(boxes)[0]
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--image-path", image, "--output-dir", tmp_path,
                         "--figure-format", "jpg", "--cpu")
    assert result.returncode == 0, result.stderr
    for name in (f"{image.stem}_gradcam.jpg", f"{image.stem}_gradcam_overlay.jpg"):
        with Image.open(tmp_path / name) as written:
            assert written.format == "JPEG"
    assert not list(tmp_path.glob("*.png"))
