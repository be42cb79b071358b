"""`camviz explain` warns and goes on: a flat CAM (a zeroed head, a layer after global pooling) is warned about in
the summary and the manifest; NaN logits are named as the model's output, not its gradients."""

from __future__ import annotations

import torch

from tests.support.checkpoints import demo_checkpoint, save_demo_checkpoint
from tests.support.manifest import manifest_rows


def test_constant_heatmap_is_warned_about(camviz_main, shapes_split, tmp_path) -> None:
    """The guide's 'all black' case: a head with zero weights gives zero gradients, hence a flat CAM."""
    state = demo_checkpoint()["state_dict"]
    broken = save_demo_checkpoint(tmp_path / "flat.pth", state_dict={
        key: torch.zeros_like(value) if key.startswith("head.") else value for key, value in state.items()
    })
    data_dir, _ = shapes_split
    result = camviz_main("explain", "--model-path", broken, "--data-dir", data_dir, "--output-dir", tmp_path / "out",
                         "--num-samples", 2, "--num-workers", 0)
    assert result.returncode == 0, result.stderr
    assert "constant heatmap" in result.stderr and "--target-layer" in result.stderr
    assert all(row["error"].startswith("warning: constant heatmap") for row in manifest_rows(tmp_path / "out"))


def test_a_target_layer_after_global_pooling_warns_of_a_constant_heatmap(camviz_main, circle_image, trained_checkpoint,
                                                                         tmp_path) -> None:
    result = camviz_main("explain", "--image-path", circle_image, "--output-dir", tmp_path, "--model-path",
                         trained_checkpoint, "--target-layer", "drop")
    assert result.returncode == 0 and "constant heatmap" in result.stderr, result.stderr


def test_nan_logits_are_named_as_the_models_output_not_its_gradients(camviz_main, circle_image, tmp_path) -> None:
    state = dict(demo_checkpoint()["state_dict"])
    state["head.bias"] = torch.full_like(state["head.bias"], float("nan"))
    broken = save_demo_checkpoint(tmp_path / "nan.pth", state_dict=state)
    result = camviz_main("explain", "--model-path", broken, "--image-path", circle_image, "--output-dir", tmp_path / "out")
    assert "the model's output is NaN/inf" in result.stderr and "gradients overflowed" not in result.stderr, result.stderr
