"""`camviz explain` and `camviz layers` read what training scripts record beside the weights (top level, timm
`args`, Lightning `hyper_parameters`, a hub `config.json`); a value of the wrong type is one clear line."""

from __future__ import annotations

import json

import pytest

from tests.support.checkpoints import BAD_METADATA as METADATA
from tests.support.checkpoints import BUILDERS, SHAPES, Source, save_demo_checkpoint
from tests.support.cli import invoke_ok, one_error_line


@pytest.mark.parametrize("key", METADATA)
def test_checkpoint_metadata_of_the_wrong_type(camviz_main, circle_image, tmp_path, key) -> None:
    drop = ("class_names",) if key == "class_to_idx" else ()
    path = save_demo_checkpoint(tmp_path / "bad.pth", drop=drop, **{key: METADATA[key][0]})
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path / "out",
                         "--model-path", path)
    one_error_line(result, 1, METADATA[key][1])


@pytest.mark.parametrize("name", list(BUILDERS))
def test_layers_reads_what_the_checkpoint_records(sources: dict[str, Source], name: str) -> None:
    source = sources[name]
    info = json.loads(invoke_ok("layers", "--model-path", source.path, "--json", *source.flags).stdout)
    assert {key: info[key] for key in source.json} == source.json


def test_lightning_checkpoint_runs_with_no_flags_as_a_command(sources: dict[str, Source], sources_data,
                                                              tmp_path, camviz_main) -> None:
    """The command on the Lightning file: architecture, classes and size from hyper_parameters."""
    result = camviz_main("explain", "--model-path", sources["lightning"].path, "--data-dir", sources_data,
                         "--output-dir", tmp_path, "--num-workers", "0")
    assert result.returncode == 0 and "warning" not in result.stderr and "error" not in result.stderr, result.stderr
    assert "processed: 3" in result.stdout and "accuracy on processed samples" in result.stdout
    assert len(list(tmp_path.glob("gradcam_*_true_*_pred_*.png"))) == 3


def test_timm_hub_weight_file_reads_the_config_beside_it(sources: dict[str, Source]) -> None:
    weights = sources["timm-hub-folder"].path / "model.safetensors"
    info = json.loads(invoke_ok("layers", "--model-path", weights, "--json").stdout)
    assert (info["model_name"], info["img_size"], info["class_names"]) == ("test_vit", 64, SHAPES)
