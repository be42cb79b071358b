"""camviz.cli.parsing: what the command line reads beyond Typer's types: `--config` presets (flags win),
`--img-size` as `HxW` or `H W`, and figure formats."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camviz.cli.parsing import bare_metrics
from tests.support.checkpoints import Source, figure_shape
from tests.support.cli import invoke_ok
from tests.support.manifest import manifest_rows


def test_config_preset_with_flags_winning(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    data_dir, _ = shapes_split
    preset = tmp_path / "preset.toml"
    preset.write_text(
        f'model-path = "{trained_checkpoint}"\ndata-dir = "{data_dir}"\n'
        f'output-dir = "{tmp_path / "out"}"\nnum-samples = 3\nnum-workers = 0\nclasses = "triangle"\n'
    )
    result = camviz_main("explain", "--config", preset, "--num-samples", 4)
    assert result.returncode == 0, result.stderr
    rows = manifest_rows(tmp_path / "out")
    assert len(rows) == 4 and {row["true"] for row in rows} == {"triangle"}
    bad = tmp_path / "bad.toml"
    bad.write_text('modle-path = "x"\n')
    result = camviz_main("explain", "--config", bad)
    assert result.returncode == 2 and "modle_path" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("spelling", [("96x160",), ("96", "160")], ids=["HxW", "H W"])
def test_img_size_takes_height_and_width(sources: dict[str, Source], sources_data: Path, tmp_path: Path,
                                         spelling: tuple[str, ...]) -> None:
    """A square checkpoint explained at 96x160: the raw CAM and the figure follow the flag."""
    invoke_ok("explain", "--model-path", sources["grey-timm"].path, "--image-path", sources_data / "square/square_000.png",
              "--output-dir", tmp_path, "--save-raw", "--img-size", *spelling)
    assert np.load(tmp_path / "square_000_gradcam.npy").shape == (96, 160)
    assert cv2.imread(str(tmp_path / "square_000_gradcam.png")).shape[:2] == figure_shape((96, 160))


def test_unknown_figure_format_is_a_usage_error(camviz_main, trained_checkpoint, shapes_split,
                                                tmp_path: Path) -> None:
    data_dir, _ = shapes_split
    result = camviz_main("explain", "--model-path", trained_checkpoint, "--data-dir", data_dir, "--output-dir", tmp_path,
                         "--figure-format", "gif")
    assert result.returncode == 2 and "figure-format" in result.stderr and "Traceback" not in result.stderr


def test_a_bare_metrics_flag_means_all_and_a_list_is_kept() -> None:
    assert bare_metrics(["--metrics"]) == ["--metrics=all"]
    assert bare_metrics(["--metrics", "--num-samples", "3"]) == ["--metrics=all", "--num-samples", "3"]
    assert bare_metrics(["--metrics", "road,deletion", "--cpu"]) == ["--metrics", "road,deletion", "--cpu"]


def test_a_presets_metrics_true_means_all_of_them(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    data_dir, _ = shapes_split
    preset = tmp_path / "preset.toml"
    preset.write_text("metrics = true\nnum-samples = 1\nnum-workers = 0\n")
    result = camviz_main("explain", "--config", preset, "--model-path", trained_checkpoint, "--data-dir", data_dir,
                         "--output-dir", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    header = (tmp_path / "out" / "manifest.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[-4:] == ["road_combined", "cam_confidence_change", "deletion_auc", "insertion_auc"]
