"""camviz.discovery.families: the family table is declarative data, and a `--config` preset's `[[family]]` rows
are checked before they are used."""

from __future__ import annotations

import numpy as np

from camviz.discovery.families import FAMILIES, family_from_config
from camviz.discovery.reshapes import Layout
from tests.support.cli import one_error_line


def test_family_table_is_declarative_and_covers_the_seed() -> None:
    names = {family.name for family in FAMILIES}

    assert {"resnet", "densenet", "mobilenet", "efficientnet", "inception_v3", "googlenet", "convnext",
            "starnext", "starnet", "moganet", "vit", "swin"} <= names
    assert all(family.paths and (family.patterns or family.classes) for family in FAMILIES)


def test_a_presets_reshape_is_spelled_vit_or_nhwc() -> None:
    row = {"name": "mine", "classes": ["Mine"], "paths": ["blocks.-1"]}
    assert family_from_config({**row, "reshape": "vit"}).reshape is Layout.TOKENS
    assert family_from_config({**row, "reshape": "nhwc"}).reshape is Layout.NHWC
    assert family_from_config(row).reshape is None


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
