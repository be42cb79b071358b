"""`camviz explain --config` presets with `[[family]]` rows: a broken regex is one line, a good row chooses another
layer, an incomplete row is refused."""

from __future__ import annotations

import numpy as np

from tests.support.cli import one_error_line


def test_a_broken_family_regex_in_a_preset(camviz_main, circle_image, trained_checkpoint, tmp_path) -> None:
    preset = tmp_path / "preset.toml"
    preset.write_text('[[family]]\nname = "mine"\npatterns = ["(unclosed"]\npaths = ["stages.-1"]\n')
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path, "--model-path",
                         trained_checkpoint, "--config", preset)
    one_error_line(result, 2, "pattern '(unclosed' is not a valid regex")


def test_preset_can_extend_the_family_table(camviz_main, trained_checkpoint, shapes_split, tmp_path) -> None:
    image = shapes_split[0] / "triangle" / "triangle_001.png"
    preset = tmp_path / "family.toml"
    preset.write_text('[[family]]\nname = "shapenet_early"\nclasses = ["ShapeNet"]\npaths = ["stages.-1.-2"]\n')
    raws = {}
    for name, extra in (("default", []), ("custom", ["--config", preset])):
        result = camviz_main("explain", *extra, "--model-path", trained_checkpoint, "--image-path", image,
                             "--output-dir", tmp_path / name, "--save-raw")
        assert result.returncode == 0, result.stderr
        raws[name] = np.load(tmp_path / name / "triangle_001_gradcam.npy")
    assert not np.allclose(raws["default"], raws["custom"]), "the preset's family row chose another layer"
    preset.write_text('[[family]]\nname = "incomplete"\n')
    result = camviz_main("explain", "--config", preset, "--model-path", trained_checkpoint, "--image-path", image)
    assert result.returncode == 2 and "needs name and paths" in result.stderr
