"""Every checkpoint a real user brings (issue 11), built from real files: a Lightning Trainer checkpoint, a folder
written by timm's hub-saving helper, grey timm/torchvision models, a 96x160 model, a ViT saved at 64 px, one-logit
binary and 5-label multi-label heads, TorchScript (scripted, traced) and ONNX files.

Each runs `camviz layers --json` and `camviz explain` (single and batch); names, probabilities, classes, figure
geometry and manifest rows are checked against the original in-memory model run independently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch
import torchvision
from PIL import Image
from typer.testing import CliRunner

from camviz.cli.commands import app
from camviz.demo import write_image_folder
from camviz.errors import CheckpointError
from manifest_rows import manifest_rows

SHAPES = ["circle", "square", "triangle"]
TEST_RESNET_NORM = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))  # timm test_resnet's own config


@dataclass
class Source:
    """A checkpoint on disk and the in-memory model it was written from."""

    path: Path
    model: torch.nn.Module
    size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    output: str
    class_names: list[str]
    json: dict  # expected `camviz layers --json` keys
    flags: tuple[str, ...] = ()


def _timm(name: str, **kwargs: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kwargs).eval()


def _lightning(root: Path) -> Source:
    """A real Lightning Trainer run (two steps) that saves `model.`-prefixed weights and its hyper_parameters."""
    import lightning

    class Classifier(lightning.LightningModule):
        def __init__(self, model_name: str = "test_resnet", num_classes: int = 3,
                     class_names: tuple[str, ...] = (), img_size: int = 64) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.model = timm.create_model(model_name, pretrained=False, num_classes=num_classes)
            self.criterion = torch.nn.CrossEntropyLoss(weight=torch.ones(num_classes))  # a buffer outside `model.`

        def training_step(self, batch: tuple, _: int) -> torch.Tensor:
            x, y = batch
            return self.criterion(self.model(x), y)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    torch.manual_seed(0)
    module = Classifier(class_names=tuple(SHAPES))
    data = torch.utils.data.TensorDataset(torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 0]))
    trainer = lightning.Trainer(max_steps=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=2))
    path = root / "epoch=0-step=2.ckpt"
    trainer.save_checkpoint(path)
    model = module.model.eval()
    return Source(path, model, (64, 64), 3, *TEST_RESNET_NORM, "softmax", SHAPES,
                  {"model_name": "test_resnet", "family": "resnet", "num_classes": 3, "class_names": SHAPES,
                   "img_size": 64, "channels": 3, "output": "softmax"})


def _hub_folder(root: Path) -> Source:
    """timm's own `save_for_hf`: config.json (architecture, label_names, model_args img_size 64) + safetensors."""
    from timm.models._hub import save_for_hf

    model = _timm("test_vit", num_classes=3, img_size=64)
    save_for_hf(model, root / "hub", model_config={"label_names": SHAPES}, safe_serialization=True)
    return Source(root / "hub", model, (64, 64), 3, (0.5,) * 3, (0.5,) * 3, "softmax", SHAPES,
                  {"model_name": "test_vit", "family": "vit", "reshape": "vit", "num_classes": 3,
                   "class_names": SHAPES, "img_size": 64, "channels": 3, "output": "softmax"})


def _grey_timm(root: Path) -> Source:
    model = _timm("test_resnet", num_classes=3, in_chans=1)
    torch.save({"model_name": "test_resnet", "classes": SHAPES, "img_size": 48, "mean": [0.5], "std": [0.25],
                "state_dict": model.state_dict()}, root / "grey_timm.pth")
    return Source(root / "grey_timm.pth", model, (48, 48), 1, (0.5,) * 3, (0.25,) * 3, "softmax", SHAPES,
                  {"num_classes": 3, "img_size": 48, "channels": 1, "output": "softmax"})


def _grey_torchvision(root: Path) -> Source:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=3)
    model.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)  # the usual X-ray change
    model.eval()
    torch.save({"arch": "resnet18", "class_to_idx": {n: i for i, n in enumerate(SHAPES)}, "img_size": 40,
                "model_state_dict": model.state_dict()}, root / "xray_resnet18.pth")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet: torchvision records nothing
    return Source(root / "xray_resnet18.pth", model, (40, 40), 1, mean, std, "softmax", SHAPES,
                  {"model_name": "resnet18", "channels": 1, "img_size": 40})


def _non_square(root: Path) -> Source:
    model = _timm("test_resnet", num_classes=3)
    torch.save({"model_name": "test_resnet", "input_size": [3, 96, 160], "class_names": SHAPES,
                "state_dict": model.state_dict()}, root / "wide.pth")
    return Source(root / "wide.pth", model, (96, 160), 3, *TEST_RESNET_NORM, "softmax", SHAPES,
                  {"img_size": [96, 160], "channels": 3})


def _vit_at_64(root: Path) -> Source:
    """A bare ViT state dict trained at 64 px: the README FAQ's `--model-name test_vit --img-size 64`."""
    model = _timm("test_vit", num_classes=3, img_size=64)
    torch.save(model.state_dict(), root / "vit64.pth")
    return Source(root / "vit64.pth", model, (64, 64), 3, (0.5,) * 3, (0.5,) * 3, "softmax", ["circle", "square", "triangle"],
                  {"model_name": "test_vit", "reshape": "vit", "img_size": 64, "class_names": None},
                  ("--model-name", "test_vit", "--img-size", "64"))


def _binary(root: Path) -> Source:
    model = _timm("test_resnet", num_classes=1)
    with torch.no_grad():
        model.fc.bias.fill_(0.0)
    torch.save({"model_name": "test_resnet", "class_names": ["healthy", "sick"], "img_size": 48,
                "state_dict": model.state_dict()}, root / "binary.pth")
    return Source(root / "binary.pth", model, (48, 48), 3, *TEST_RESNET_NORM, "binary", ["healthy", "sick"],
                  {"num_classes": 2, "class_names": ["healthy", "sick"], "output": "binary"})


LABELS = ["car", "person", "dog", "tree", "sky"]


def _multilabel(root: Path) -> Source:
    model = _timm("test_resnet", num_classes=5)
    with torch.no_grad():  # two labels clearly on, three clearly off, whatever the image
        model.fc.bias.copy_(torch.tensor([3.0, -3.0, 2.0, -3.0, -4.0]))
    torch.save({"model_name": "test_resnet", "class_names": LABELS, "img_size": 48,
                "state_dict": model.state_dict()}, root / "tags.pth")
    return Source(root / "tags.pth", model, (48, 48), 3, *TEST_RESNET_NORM, "multilabel", LABELS,
                  {"num_classes": 5, "class_names": LABELS, "output": "multilabel"}, ("--multi-label",))


BUILDERS = {"lightning": _lightning, "timm-hub-folder": _hub_folder, "grey-timm": _grey_timm,
            "grey-torchvision": _grey_torchvision, "non-square-96x160": _non_square, "vit-64px": _vit_at_64,
            "binary-one-logit": _binary, "multilabel-5": _multilabel}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sources_data")
    write_image_folder(root, per_class=1, seed=11, size=64)
    return root


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Source]:
    root = tmp_path_factory.mktemp("sources")
    return {name: build(root) for name, build in BUILDERS.items()}


def _invoke(*args: object) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def _expected(source: Source, image: Path) -> tuple[str, list[float], np.ndarray]:
    """The prediction, its probabilities (as the manifest lists them) and the pixels, computed here."""
    picture = Image.open(image).convert("RGB")
    if source.channels == 1:
        picture = picture.convert("L")
    height, width = source.size
    pixels = np.array(picture.resize((width, height), Image.Resampling.BILINEAR), np.float32).reshape(height, width, -1)
    x = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)[None].float()
    mean = torch.tensor(source.mean[: source.channels])[:, None, None]
    std = torch.tensor(source.std[: source.channels])[:, None, None]
    with torch.no_grad():
        logits = source.model((x - mean) / std)[0]
    names = source.class_names
    if source.output == "binary":
        p = float(torch.sigmoid(logits[0]))
        return (names[1], [p], pixels) if p >= 0.5 else (names[0], [1 - p], pixels)
    if source.output == "multilabel":
        probs = torch.sigmoid(logits)
        order = [int(i) for i in torch.argsort(probs, descending=True) if probs[i] >= 0.5]
        return "+".join(names[i] for i in order), [float(probs[i]) for i in order], pixels
    probs = torch.softmax(logits, 0)
    return names[int(probs.argmax())], [float(probs.max())], pixels


def _figure_shape(size: tuple[int, int], rows: int = 1) -> tuple[int, int]:
    """(height, width) of a figure: panels enlarged to >= 224 px high, a 48 px title band, a colour bar, 12 px gaps."""
    height, width = size
    scale = max(1, -(-224 // height))
    return rows * (48 + height * scale) + (rows - 1) * 12, 3 * width * scale + 56 + 2 * 12


@pytest.mark.parametrize("name", list(BUILDERS))
def test_layers_reads_what_the_checkpoint_records(sources: dict[str, Source], name: str) -> None:
    source = sources[name]
    info = json.loads(_invoke("layers", "--model-path", source.path, "--json", *source.flags).stdout)
    assert {key: info[key] for key in source.json} == source.json


@pytest.mark.parametrize("name", list(BUILDERS))
def test_explain_single_and_batch_follow_the_model_input_and_output(sources: dict[str, Source], name: str,
                                                                    data_dir: Path, tmp_path: Path) -> None:
    source = sources[name]
    image = data_dir / "circle" / "circle_000.png"
    _invoke("explain", "--model-path", source.path, "--image-path", image, "--output-dir", tmp_path / "one",
            "--save-raw", *source.flags)
    raw = np.load(tmp_path / "one" / "circle_000_gradcam.npy")
    pred, probabilities, pixels = _expected(source, image)
    labels = max(1, len(probabilities))
    assert raw.shape == ((labels, *source.size) if source.output == "multilabel" else source.size)
    figure = cv2.imread(str(tmp_path / "one" / "circle_000_gradcam.png"))
    assert figure.shape[:2] == _figure_shape(source.size, labels if source.output == "multilabel" else 1)
    if source.channels == 1:  # the input panel is the grey image the model saw
        panel = figure[48 : 48 + source.size[0], : source.size[1]].astype(int)
        assert np.abs(panel[..., 0] - panel[..., 1]).max() == 0 and np.abs(panel[..., 1] - panel[..., 2]).max() == 0

    _invoke("explain", "--model-path", source.path, "--data-dir", data_dir, "--output-dir", tmp_path / "all",
            "--num-workers", "0", "--batch-size", "2", *source.flags)
    rows = manifest_rows(tmp_path / "all")
    assert [row["path"] for row in rows] == [f"{c}/{c}_000.png" for c in SHAPES]
    for row in rows:
        pred, probabilities, _ = _expected(source, data_dir / row["path"])
        assert row["status"] == "ok" and row["pred"] == pred and row["target"] == pred
        got = [float(value) for value in row["confidence"].split("+")]
        np.testing.assert_allclose(got, probabilities, atol=2e-4)
        assert row["output"] == f"gradcam_{int(row['index']):04d}_true_{row['true']}_pred_{pred}.png"
        assert (tmp_path / "all" / row["output"]).is_file()


def test_lightning_checkpoint_runs_with_no_flags_as_a_command(sources: dict[str, Source], data_dir: Path,
                                                              tmp_path: Path, camviz) -> None:
    """The installed command on the Lightning file: architecture, classes and size from hyper_parameters."""
    result = camviz("explain", "--model-path", sources["lightning"].path, "--data-dir", data_dir,
                    "--output-dir", tmp_path, "--num-workers", "0")
    assert result.returncode == 0 and "warning" not in result.stderr and "error" not in result.stderr, result.stderr
    assert "processed: 3" in result.stdout and "accuracy on processed samples" in result.stdout
    assert len(list(tmp_path.glob("gradcam_*_true_*_pred_*.png"))) == 3


def test_timm_hub_weight_file_reads_the_config_beside_it(sources: dict[str, Source], data_dir: Path,
                                                         tmp_path: Path) -> None:
    weights = sources["timm-hub-folder"].path / "model.safetensors"
    info = json.loads(_invoke("layers", "--model-path", weights, "--json").stdout)
    assert (info["model_name"], info["img_size"], info["class_names"]) == ("test_vit", 64, SHAPES)


@pytest.mark.parametrize("spelling", [("96x160",), ("96", "160")], ids=["HxW", "H W"])
def test_img_size_takes_height_and_width(sources: dict[str, Source], data_dir: Path, tmp_path: Path,
                                         spelling: tuple[str, ...]) -> None:
    """A square checkpoint explained at 96x160: the raw CAM and the figure follow the flag."""
    _invoke("explain", "--model-path", sources["grey-timm"].path, "--image-path", data_dir / "square/square_000.png",
            "--output-dir", tmp_path, "--save-raw", "--img-size", *spelling)
    assert np.load(tmp_path / "square_000_gradcam.npy").shape == (96, 160)
    assert cv2.imread(str(tmp_path / "square_000_gradcam.png")).shape[:2] == _figure_shape((96, 160))


def test_binary_target_category_explains_either_class_and_keeps_the_names(sources: dict[str, Source],
                                                                          data_dir: Path, tmp_path: Path) -> None:
    source = sources["binary-one-logit"]
    for category in (0, 1):
        out = tmp_path / str(category)
        _invoke("explain", "--model-path", source.path, "--data-dir", data_dir, "--output-dir", out,
                "--num-workers", "0", "--target-category", category)
        rows = manifest_rows(out)
        assert {row["target"] for row in rows} == {source.class_names[category]}
        assert {row["pred"] for row in rows} <= set(source.class_names)


def test_multilabel_target_category_explains_that_label_only(sources: dict[str, Source], data_dir: Path,
                                                             tmp_path: Path) -> None:
    source = sources["multilabel-5"]
    _invoke("explain", "--model-path", source.path, "--image-path", data_dir / "circle/circle_000.png",
            "--output-dir", tmp_path, "--save-raw", "--multi-label", "--target-category", "4")
    assert np.load(tmp_path / "circle_000_gradcam.npy").shape == (1, 48, 48)


def _scripted(root: Path) -> Path:
    torch.jit.save(torch.jit.script(_timm("test_resnet", num_classes=3)), root / "scripted.pt")
    return root / "scripted.pt"


def _traced(root: Path) -> Path:
    model = _timm("test_resnet", num_classes=3)
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 32, 32)), root / "traced.pth")
    return root / "traced.pth"


def _onnx(root: Path) -> Path:
    path = root / "model.pth"  # the extension lies: the content decides
    torch.onnx.export(_timm("test_resnet", num_classes=3), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False)
    return path


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("build", "what"), [(_scripted, "TorchScript"), (_traced, "TorchScript"), (_onnx, "ONNX")],
                         ids=["scripted", "traced", "onnx"])
def test_exported_models_get_one_line_that_says_what_to_give_instead(build, what: str, tmp_path: Path,
                                                                     data_dir: Path) -> None:
    path = build(tmp_path)
    for command in (["explain", "--image-path", data_dir / "circle/circle_000.png", "--output-dir", tmp_path / "o"],
                    ["explain", "--data-dir", data_dir, "--output-dir", tmp_path / "b"], ["layers"]):
        result = CliRunner().invoke(app, [str(a) for a in (command[0], "--model-path", path, *command[1:])])
        assert isinstance(result.exception, CheckpointError) and result.exception.exit_code == 1
        message = str(result.exception)
        assert "\n" not in message and what in message and "state dict it was exported from" in message


@pytest.mark.filterwarnings("ignore")
def test_an_onnx_file_is_one_line_on_stderr_from_the_command(tmp_path: Path, camviz) -> None:
    result = camviz("layers", "--model-path", _onnx(tmp_path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("camviz: error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "is an ONNX model: Grad-CAM needs PyTorch hooks and autograd" in result.stderr


def test_find_target_layers_alone_works_with_gradcam_on_vit_and_swin() -> None:
    """The README's API example: `GradCAM(model, target_layers=find_target_layers(model))`, no reshape given."""
    from pytorch_grad_cam import GradCAM

    from camviz import find_target_layers, resolve_targets

    for name, size in (("test_vit", 64), ("swin_tiny_patch4_window7_224", 64)):
        model = _timm(name, num_classes=3, img_size=size) if name == "test_vit" else _timm(
            name, num_classes=3, img_size=size, window_size=2, embed_dim=24, depths=(1, 1, 1, 1), num_heads=(1, 1, 1, 1))
        x = torch.randn(2, 3, size, size)
        with GradCAM(model, target_layers=find_target_layers(model, name, img_size=size)) as cam:
            maps = cam(input_tensor=x, targets=None)
        assert maps.shape == (2, size, size) and np.isfinite(maps).all() and np.ptp(maps[0]) > 0
        targets = resolve_targets(model, name, img_size=size)  # the same maps as with an explicit reshape_transform
        with GradCAM(model, target_layers=targets.modules, reshape_transform=targets.reshape_transform) as cam:
            np.testing.assert_allclose(maps, cam(input_tensor=x, targets=None), atol=1e-5)
        with torch.no_grad():  # the hooks are gone and the model's outputs are its own
            assert torch.allclose(model(torch.ones(1, 3, size, size)), model(torch.ones(1, 3, size, size)))
