"""`camviz layers` and `camviz explain` on Hugging Face `save_pretrained` folders with no flags: the folder and the
weight file inside it read the same, a ViT at another size interpolates, a size it cannot run at is one line, and
without transformers the line says what to install."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from camviz.demo import write_image_folder
from tests.support.checkpoints import assert_batch_follows_the_model
from tests.support.hf import LABELS, VIT, Folder, expected, label_config, save_folder

transformers = pytest.importorskip("transformers", reason='needs the transformers extra: pip install -e ".[transformers]"')


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hf_data")
    write_image_folder(root, per_class=1, seed=13, size=48)
    return root


@pytest.mark.parametrize("name", ["vit", "convnext", "swin", "resnet", "multilabel"])
def test_layers_reads_the_folder_with_no_flags(hf_folders: dict[str, Folder], name: str, camviz_main) -> None:
    folder = hf_folders[name]
    result = camviz_main("layers", "--model-path", folder.path, "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    info = json.loads(result.stdout)
    height, width = folder.size
    assert info == {
        "model_name": type(folder.model).__name__, "family": folder.family, "target_layers": [folder.layer],
        "reshape": "vit" if name in ("vit", "swin") else None, "num_classes": 3, "class_names": LABELS,
        "img_size": height if height == width else [height, width], "channels": 3, "output": folder.output, "task": "classification",
        "decided_by": f"family row {folder.family!r}", "reshape_detail": info["reshape_detail"], "warning": None,
    }


@pytest.mark.parametrize("name", ["vit", "convnext", "swin", "resnet", "multilabel"])
def test_explain_single_and_batch_with_no_flags(hf_folders: dict[str, Folder], name: str, data_dir: Path,
                                                tmp_path: Path, camviz_main) -> None:
    folder = hf_folders[name]
    image = data_dir / "circle" / "circle_000.png"
    single = camviz_main("explain", "--model-path", folder.path, "--image-path", image,
                         "--output-dir", tmp_path / "one", "--save-raw")
    assert single.returncode == 0, single.stderr
    raw = np.load(tmp_path / "one" / "circle_000_gradcam.npy")
    labels = len(expected(folder, image)[1]) if folder.output == "multilabel" else 0
    assert raw.shape == ((labels, *folder.size) if labels else folder.size)
    assert np.isfinite(raw).all() and np.ptp(raw) > 0.1  # a real map on the model's grid, not a constant
    assert (tmp_path / "one" / "circle_000_gradcam.png").is_file()

    batch = camviz_main("explain", "--model-path", folder.path, "--data-dir", data_dir, "--output-dir",
                        tmp_path / "all", "--num-workers", "0", "--batch-size", "2")
    assert batch.returncode == 0 and "warning" not in batch.stderr, batch.stderr
    assert_batch_follows_the_model(tmp_path / "all", data_dir, lambda image: expected(folder, image))


def test_the_weight_file_inside_the_folder_reads_the_same(hf_folders: dict[str, Folder], camviz_main) -> None:
    result = camviz_main("layers", "--model-path", hf_folders["vit"].path / "model.safetensors", "--json")
    info = json.loads(result.stdout)
    assert (info["model_name"], info["img_size"], info["class_names"]) == ("ViTForImageClassification", [32, 48], LABELS)


def test_a_vit_explained_at_another_size_interpolates_its_position_embeddings(data_dir: Path, tmp_path: Path,
                                                                              camviz_main) -> None:
    """A ViT trained at 32 px explained at 48x64 (transformers interpolates from a square grid only)."""
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(**VIT, image_size=32, patch_size=8, **label_config()))
    result = camviz_main("explain", "--model-path", save_folder(tmp_path, "vit32", vit), "--image-path",
                         data_dir / "square/square_000.png", "--output-dir", tmp_path, "--save-raw", "--img-size", "48", "64")
    assert result.returncode == 0, result.stderr
    raw = np.load(tmp_path / "square_000_gradcam.npy")
    assert raw.shape == (48, 64) and np.ptp(raw) > 0.1


def test_a_model_that_cannot_run_at_the_given_size_is_one_line(hf_folders: dict[str, Folder], data_dir: Path,
                                                                tmp_path: Path, camviz_main) -> None:
    """transformers interpolates only square position grids: the non-square ViT cannot run at 64x64."""
    result = camviz_main("explain", "--model-path", hf_folders["vit"].path, "--image-path",
                         data_dir / "square/square_000.png", "--output-dir", tmp_path, "--img-size", "64", "64")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    warnings = [line for line in lines if line.startswith("warning: ")]  # the lookup's own: its check could not run
    errors = [line for line in lines if not line.startswith("warning: ")]
    assert result.returncode == 1 and len(errors) == 1 and len(warnings) == 1, result.stderr
    assert warnings[0].startswith("warning: not checked: dry forward pass at 64x64px failed")
    assert errors[0].startswith("camviz: error: the model could not be explained on 64x64 inputs") and "--img-size" in errors[0]


def test_without_transformers_a_folder_is_one_line_saying_what_to_install(hf_folders: dict[str, Folder], camviz_main,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now raises ImportError
    result = camviz_main("layers", "--model-path", hf_folders["vit"].path)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert 'pip install "camviz[transformers]"' in result.stderr and "transformers model" in result.stderr
