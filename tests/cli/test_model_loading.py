"""`camviz explain` and `camviz layers` on models that load with a fix-up: a half-precision pickled module runs in
float32, class names that do not fit the head are set aside, duplicate names made distinct, each with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from camviz import load_model
from camviz.discovery.options import ModelOptions
from tests.support.checkpoints import save_timm_weights


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_whole_module_pickled_in_half_precision_loads_in_float32(camviz_main, tmp_path: Path, circle_image: Path,
                                                                   dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=3).eval()
    path = tmp_path / "half.pth"
    torch.save(model.to(dtype), path)

    loaded = load_model(ModelOptions(path=path, trust_checkpoint=True))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32} and loaded.num_classes == 3
    result = camviz_main("explain", "--model-path", path, "--trust-checkpoint", "--image-path", circle_image,
                         "--output-dir", tmp_path / "out", "--img-size", 64)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c", "d"]], ids=["fewer", "more"])
def test_class_names_that_do_not_fit_the_head_are_set_aside_with_a_warning(camviz_main, tmp_path: Path,
                                                                           names: list[str]) -> None:
    import json

    path = tmp_path / "ckpt.pth"
    save_timm_weights(path, "test_resnet", num_classes=3, model_name="test_resnet", class_names=names)

    loaded = load_model(path)
    assert loaded.class_names is None
    assert any(f"records {len(names)} class names for a head of 3 classes" in note for note in loaded.notes)
    result = camviz_main("layers", "--model-path", path, "--json")
    record = json.loads(result.stdout)
    assert (record["num_classes"], record["class_names"]) == (3, None)
    assert f"{len(names)} class names for a head of 3" in result.stderr


def test_duplicate_class_names_are_made_distinct_with_a_warning(camviz_main, tmp_path: Path, small_split: Path) -> None:
    from tests.support.manifest import manifest_rows

    path = tmp_path / "ckpt.pth"
    save_timm_weights(path, "test_resnet", num_classes=4, model_name="test_resnet",
                      class_names=["cat", "cat", "dog", "cat (2)"])

    loaded = load_model(path)
    assert loaded.class_names == ["cat", "cat (3)", "dog", "cat (2)"]
    assert any("repeat cat; later ones are renamed (cat (3))" in note for note in loaded.notes), loaded.notes
    out = tmp_path / "out"
    result = camviz_main("explain", "--model-path", path, "--data-dir", small_split, "--output-dir", out,
                         "--num-workers", 0, "--img-size", 64)
    assert result.returncode == 0 and "repeat cat" in result.stderr
    assert {row["pred"] for row in manifest_rows(out)} <= {"cat", "cat (3)", "dog", "cat (2)"}
