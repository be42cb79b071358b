"""`camviz explain --figure-format`: batch figures in another format keep their names and the gallery follows;
single mode writes figure and overlay in the format."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.support.manifest import manifest_rows

FORMATS = {"png": "PNG", "jpg": "JPEG", "webp": "WEBP"}


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
