"""Hugging Face transformers classifiers (issue 13), read from the folders `save_pretrained` writes.

Tiny random-init ViT (non-square, with its own preprocessor_config.json), ConvNeXt, Swin, ResNet (size and
mean/std from a preprocessor's `shortest_edge`) and a multi-label ResNet: `camviz layers --json` and `camviz explain`
(single and batch) with no flags; probabilities are checked against the model's own `model(pixel_values).logits`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers", reason='needs the transformers extra: pip install -e ".[transformers]"')

from camviz.demo import write_image_folder  # noqa: E402
from manifest_rows import manifest_rows  # noqa: E402

SHAPES = ["circle", "square", "triangle"]  # the data dir's class folders
LABELS = ["triangle", "circle", "square"]  # id2label: the model's own order, not the folders'
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
VIT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


@dataclass
class Folder:
    """A transformers folder and the in-memory model it was saved from (its forward returns a ModelOutput)."""

    path: Path
    model: torch.nn.Module
    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layer: str
    family: str
    output: str = "softmax"


def _save(root: Path, name: str, model: torch.nn.Module, processor: dict | None = None) -> Path:
    model.eval().save_pretrained(root / name)
    if processor is not None:
        (root / name / "preprocessor_config.json").write_text(json.dumps(processor))
    return root / name


def _labels(**extra: object) -> dict:
    return {"id2label": dict(enumerate(LABELS)), "label2id": {n: i for i, n in enumerate(LABELS)}, **extra}


def _build(root: Path) -> dict[str, Folder]:
    T = transformers
    torch.manual_seed(0)
    vit = T.ViTForImageClassification(T.ViTConfig(**VIT, image_size=[32, 48], patch_size=8, **_labels()))
    convnext = T.ConvNextForImageClassification(T.ConvNextConfig(
        hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, image_size=48, **_labels()))
    swin = T.SwinForImageClassification(T.SwinConfig(
        image_size=40, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 1], window_size=5, **_labels()))
    resnet_config = dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic")
    resnet = T.ResNetForImageClassification(T.ResNetConfig(**resnet_config, **_labels()))
    tags = T.ResNetForImageClassification(T.ResNetConfig(
        **resnet_config, **_labels(problem_type="multi_label_classification")))
    with torch.no_grad():  # two labels clearly on, one clearly off, whatever the image
        tags.classifier[-1].bias.copy_(torch.tensor([3.0, -3.0, 2.0]))
    mean, std = (0.3, 0.4, 0.5), (0.2, 0.25, 0.3)
    edge = {"size": {"shortest_edge": 40}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    return {
        "vit": Folder(_save(root, "vit", vit, {"size": {"height": 32, "width": 48}, "image_mean": mean,
                                               "image_std": std}), vit, (32, 48), mean, std,
                      "vit.layers.1.layernorm_before", "hf_vit"),
        "convnext": Folder(_save(root, "convnext", convnext), convnext, (48, 48), *IMAGENET,
                           "convnext.encoder.stages.1", "hf_convnext"),
        "swin": Folder(_save(root, "swin", swin), swin, (40, 40), *IMAGENET, "swin.layernorm", "hf_swin"),
        "resnet": Folder(_save(root, "resnet", resnet, edge), resnet, (40, 40), (0.5,) * 3, (0.5,) * 3,
                         "resnet.encoder.stages.1", "hf_resnet"),
        "multilabel": Folder(_save(root, "tags", tags, edge), tags, (40, 40), (0.5,) * 3, (0.5,) * 3,
                             "resnet.encoder.stages.1", "hf_resnet", "multilabel"),
    }


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Folder]:
    return _build(tmp_path_factory.mktemp("hf"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hf_data")
    write_image_folder(root, per_class=1, seed=13, size=48)
    return root


def _expected(folder: Folder, image: Path) -> tuple[str, list[float]]:
    """The prediction and its probabilities from the model's own logits on the same normalised input."""
    height, width = folder.size
    picture = Image.open(image).convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.array(picture, np.float32) / 255.0).permute(2, 0, 1)[None]
    x = (x - torch.tensor(folder.mean)[:, None, None]) / torch.tensor(folder.std)[:, None, None]
    with torch.no_grad():
        logits = folder.model(pixel_values=x).logits[0]
    if folder.output == "multilabel":
        probs = torch.sigmoid(logits)
        order = [int(i) for i in torch.argsort(probs, descending=True) if probs[i] >= 0.5]
        return "+".join(LABELS[i] for i in order), [float(probs[i]) for i in order]
    probs = torch.softmax(logits, 0)
    return LABELS[int(probs.argmax())], [float(probs.max())]


@pytest.mark.parametrize("name", ["vit", "convnext", "swin", "resnet", "multilabel"])
def test_layers_reads_the_folder_with_no_flags(folders: dict[str, Folder], name: str, camviz_main) -> None:
    folder = folders[name]
    result = camviz_main("layers", "--model-path", folder.path, "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    info = json.loads(result.stdout)
    height, width = folder.size
    assert info == {
        "model_name": type(folder.model).__name__, "family": folder.family, "target_layers": [folder.layer],
        "reshape": "vit" if name in ("vit", "swin") else None, "num_classes": 3, "class_names": LABELS,
        "img_size": height if height == width else [height, width], "channels": 3, "output": folder.output,
    }


@pytest.mark.parametrize("name", ["vit", "convnext", "swin", "resnet", "multilabel"])
def test_explain_single_and_batch_with_no_flags(folders: dict[str, Folder], name: str, data_dir: Path,
                                                tmp_path: Path, camviz_main) -> None:
    folder = folders[name]
    image = data_dir / "circle" / "circle_000.png"
    single = camviz_main("explain", "--model-path", folder.path, "--image-path", image,
                         "--output-dir", tmp_path / "one", "--save-raw")
    assert single.returncode == 0, single.stderr
    raw = np.load(tmp_path / "one" / "circle_000_gradcam.npy")
    labels = len(_expected(folder, image)[1]) if folder.output == "multilabel" else 0
    assert raw.shape == ((labels, *folder.size) if labels else folder.size)
    assert np.isfinite(raw).all() and np.ptp(raw) > 0.1  # a real map on the model's grid, not a constant
    assert (tmp_path / "one" / "circle_000_gradcam.png").is_file()

    batch = camviz_main("explain", "--model-path", folder.path, "--data-dir", data_dir, "--output-dir",
                        tmp_path / "all", "--num-workers", "0", "--batch-size", "2")
    assert batch.returncode == 0 and "warning" not in batch.stderr, batch.stderr
    rows = manifest_rows(tmp_path / "all")
    assert [row["path"] for row in rows] == [f"{c}/{c}_000.png" for c in SHAPES]
    for row in rows:
        pred, probabilities = _expected(folder, data_dir / row["path"])
        assert row["status"] == "ok" and row["pred"] == pred and row["target"] == pred
        np.testing.assert_allclose([float(v) for v in row["confidence"].split("+")], probabilities, atol=2e-4)
        assert row["output"] == f"gradcam_{int(row['index']):04d}_true_{row['true']}_pred_{pred}.png"
        assert (tmp_path / "all" / row["output"]).is_file()


def test_the_weight_file_inside_the_folder_reads_the_same(folders: dict[str, Folder], camviz_main) -> None:
    result = camviz_main("layers", "--model-path", folders["vit"].path / "model.safetensors", "--json")
    info = json.loads(result.stdout)
    assert (info["model_name"], info["img_size"], info["class_names"]) == ("ViTForImageClassification", [32, 48], LABELS)


def test_a_vit_explained_at_another_size_interpolates_its_position_embeddings(data_dir: Path, tmp_path: Path,
                                                                              camviz_main) -> None:
    """A ViT trained at 32 px explained at 48x64 (transformers interpolates from a square grid only)."""
    vit = transformers.ViTForImageClassification(transformers.ViTConfig(**VIT, image_size=32, patch_size=8, **_labels()))
    result = camviz_main("explain", "--model-path", _save(tmp_path, "vit32", vit), "--image-path",
                         data_dir / "square/square_000.png", "--output-dir", tmp_path, "--save-raw", "--img-size", "48", "64")
    assert result.returncode == 0, result.stderr
    raw = np.load(tmp_path / "square_000_gradcam.npy")
    assert raw.shape == (48, 64) and np.ptp(raw) > 0.1


def test_a_model_that_cannot_run_at_the_given_size_is_one_line(folders: dict[str, Folder], data_dir: Path,
                                                                tmp_path: Path, camviz_main) -> None:
    """transformers interpolates only square position grids: the non-square ViT cannot run at 64x64."""
    result = camviz_main("explain", "--model-path", folders["vit"].path, "--image-path",
                         data_dir / "square/square_000.png", "--output-dir", tmp_path, "--img-size", "64", "64")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert lines[0].startswith("camviz: error: the model could not be explained on 64x64 inputs") and "--img-size" in lines[0]


@pytest.mark.parametrize(("config", "model", "prefix"), [
    ("DeiTConfig", "DeiTForImageClassificationWithTeacher", 2),  # class + distillation tokens
    ("Dinov2WithRegistersConfig", "Dinov2WithRegistersForImageClassification", 5),  # class + 4 registers
    ("BeitConfig", "BeitForImageClassification", 1),
])
def test_token_models_use_their_own_prefix_tokens_and_grid(config: str, model: str, prefix: int) -> None:
    """DeiT, Dinov2 with registers, BEiT in memory: the row, the prefix count, the grid, a usable GradCAM map."""
    from pytorch_grad_cam import GradCAM

    from camviz import find_target_layers, logits_only, resolve_targets

    extra = {"num_register_tokens": 4, "mlp_ratio": 2} if "Dinov2" in config else {"intermediate_size": 64}
    settings = {k: v for k, v in VIT.items() if k != "intermediate_size"}
    torch.manual_seed(0)
    net = logits_only(getattr(transformers, model)(getattr(transformers, config)(
        **settings, **extra, image_size=32, patch_size=8, num_labels=3)).eval())
    targets = resolve_targets(net, model, img_size=32)
    assert targets.family.startswith(("hf_deit", "hf_dinov2", "hf_beit")) and targets.reshape == "vit"
    assert (targets.reshape_transform.prefix_tokens, targets.reshape_transform.grid) == (prefix, (4, 4))
    with GradCAM(net, target_layers=find_target_layers(net, model, img_size=32)) as cam:
        maps = cam(input_tensor=torch.randn(2, 3, 32, 32), targets=None)
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all() and np.ptp(maps[0]) > 0


def test_without_transformers_a_folder_is_one_line_saying_what_to_install(folders: dict[str, Folder], camviz_main,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now raises ImportError
    result = camviz_main("layers", "--model-path", folders["vit"].path)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert 'pip install "camviz[transformers]"' in result.stderr and "transformers model" in result.stderr
