"""Checkpoints as real users bring them, written from real models, and what camviz should make of them.

`write_sources`: a Lightning Trainer checkpoint, a folder written by timm's hub-saving helper, grey timm/torchvision
models, a 96x160 model, a ViT saved at 64 px, one-logit binary and 5-label multi-label heads (issue 11), each with
the in-memory model it was written from and what `camviz layers --json` should report. `write_scripted`,
`write_traced`, `write_onnx`: exported models camviz refuses. `save_demo_checkpoint`: the shipped demo checkpoint
with some entries changed. `expected_prediction`: a model's own answer, as the manifest should list it, and
`assert_batch_follows_the_model`: a batch run's rows checked against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import timm
import torch
import torchvision
from PIL import Image

from camviz.demo import CHECKPOINT_PATH
from tests.support.manifest import manifest_rows

SHAPES = ["circle", "square", "triangle"]
LABELS = ["car", "person", "dog", "tree", "sky"]
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


def tiny_timm(name: str, **kwargs: object) -> torch.nn.Module:
    """A timm model, random-initialised from seed 0, in eval mode."""
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kwargs).eval()


def save_timm_weights(path: Path, name: str = "resnet18", num_classes: int = 7,
                      **meta: object) -> dict[str, torch.Tensor]:
    """Save a timm model's state dict: bare, or under `state_dict` beside `meta` when there is any; return it."""
    weights = timm.create_model(name, num_classes=num_classes).state_dict()
    torch.save({"state_dict": weights, **meta} if meta else weights, path)
    return weights


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

    model = tiny_timm("test_vit", num_classes=3, img_size=64)
    save_for_hf(model, root / "hub", model_config={"label_names": SHAPES}, safe_serialization=True)
    return Source(root / "hub", model, (64, 64), 3, (0.5,) * 3, (0.5,) * 3, "softmax", SHAPES,
                  {"model_name": "test_vit", "family": "vit", "reshape": "vit", "num_classes": 3,
                   "class_names": SHAPES, "img_size": 64, "channels": 3, "output": "softmax"})


def _grey_timm(root: Path) -> Source:
    model = tiny_timm("test_resnet", num_classes=3, in_chans=1)
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
    model = tiny_timm("test_resnet", num_classes=3)
    torch.save({"model_name": "test_resnet", "input_size": [3, 96, 160], "class_names": SHAPES,
                "state_dict": model.state_dict()}, root / "wide.pth")
    return Source(root / "wide.pth", model, (96, 160), 3, *TEST_RESNET_NORM, "softmax", SHAPES,
                  {"img_size": [96, 160], "channels": 3})


def _vit_at_64(root: Path) -> Source:
    """A bare ViT state dict trained at 64 px: the README FAQ's `--model-name test_vit --img-size 64`."""
    model = tiny_timm("test_vit", num_classes=3, img_size=64)
    torch.save(model.state_dict(), root / "vit64.pth")
    return Source(root / "vit64.pth", model, (64, 64), 3, (0.5,) * 3, (0.5,) * 3, "softmax", ["circle", "square", "triangle"],
                  {"model_name": "test_vit", "reshape": "vit", "img_size": 64, "class_names": None},
                  ("--model-name", "test_vit", "--img-size", "64"))


def _binary(root: Path) -> Source:
    model = tiny_timm("test_resnet", num_classes=1)
    with torch.no_grad():
        model.fc.bias.fill_(0.0)
    torch.save({"model_name": "test_resnet", "class_names": ["healthy", "sick"], "img_size": 48,
                "state_dict": model.state_dict()}, root / "binary.pth")
    return Source(root / "binary.pth", model, (48, 48), 3, *TEST_RESNET_NORM, "binary", ["healthy", "sick"],
                  {"num_classes": 2, "class_names": ["healthy", "sick"], "output": "binary"})


def _multilabel(root: Path) -> Source:
    model = tiny_timm("test_resnet", num_classes=5)
    with torch.no_grad():  # two labels clearly on, three clearly off, whatever the image
        model.fc.bias.copy_(torch.tensor([3.0, -3.0, 2.0, -3.0, -4.0]))
    torch.save({"model_name": "test_resnet", "class_names": LABELS, "img_size": 48,
                "state_dict": model.state_dict()}, root / "tags.pth")
    return Source(root / "tags.pth", model, (48, 48), 3, *TEST_RESNET_NORM, "multilabel", LABELS,
                  {"num_classes": 5, "class_names": LABELS, "output": "multilabel"}, ("--multi-label",))


BUILDERS = {"lightning": _lightning, "timm-hub-folder": _hub_folder, "grey-timm": _grey_timm,
            "grey-torchvision": _grey_torchvision, "non-square-96x160": _non_square, "vit-64px": _vit_at_64,
            "binary-one-logit": _binary, "multilabel-5": _multilabel}


def write_sources(root: Path) -> dict[str, Source]:
    """Every source in `BUILDERS`, written under `root`."""
    return {name: build(root) for name, build in BUILDERS.items()}


def write_scripted(root: Path) -> Path:
    torch.jit.save(torch.jit.script(tiny_timm("test_resnet", num_classes=3)), root / "scripted.pt")
    return root / "scripted.pt"


def write_traced(root: Path) -> Path:
    model = tiny_timm("test_resnet", num_classes=3)
    torch.jit.save(torch.jit.trace(model, torch.zeros(1, 3, 32, 32)), root / "traced.pth")
    return root / "traced.pth"


def write_onnx(root: Path) -> Path:
    path = root / "model.pth"  # the extension lies: the content decides
    torch.onnx.export(tiny_timm("test_resnet", num_classes=3), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False)
    return path


def demo_checkpoint() -> dict:
    """The shipped demo checkpoint's content (it loads with `weights_only=True`)."""
    return torch.load(CHECKPOINT_PATH, weights_only=True)


def save_demo_checkpoint(path: Path, *, drop: tuple[str, ...] = (), **changes: object) -> Path:
    """The shipped demo checkpoint saved to `path` without the keys in `drop` and with `changes` applied."""
    checkpoint = {key: value for key, value in demo_checkpoint().items() if key not in drop}
    torch.save({**checkpoint, **changes}, path)
    return path


def biased_demo_checkpoint(path: Path, names: list[str], bias: list[float], **changes: object) -> Path:
    """The demo classifier with a head that ignores the image (its logits are always `bias`), saved to `path`."""
    weights = dict(demo_checkpoint()["state_dict"])
    weights["head.weight"] = torch.zeros_like(weights["head.weight"])
    weights["head.bias"] = torch.tensor(bias)
    return save_demo_checkpoint(path, state_dict=weights, class_names=names, **changes)


def model_input(image: Path, size: tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...],
                channels: int = 3) -> torch.Tensor:
    """The normalised batch of one that a model sees for `image`: bilinear resize to `size`, no crop."""
    picture = Image.open(image).convert("RGB")
    if channels == 1:
        picture = picture.convert("L")
    height, width = size
    pixels = np.array(picture.resize((width, height), Image.Resampling.BILINEAR), np.float32).reshape(height, width, -1)
    x = torch.from_numpy(pixels / 255.0).permute(2, 0, 1)[None].float()
    return (x - torch.tensor(mean[:channels])[:, None, None]) / torch.tensor(std[:channels])[:, None, None]


def expected_prediction(logits: torch.Tensor, names: list[str], output: str) -> tuple[str, list[float]]:
    """The prediction and its probabilities as the manifest lists them, from one image's logits."""
    if output == "binary":
        p = float(torch.sigmoid(logits[0]))
        return (names[1], [p]) if p >= 0.5 else (names[0], [1 - p])
    if output == "multilabel":
        probs = torch.sigmoid(logits)
        order = [int(i) for i in torch.argsort(probs, descending=True) if probs[i] >= 0.5]
        return "+".join(names[i] for i in order), [float(probs[i]) for i in order]
    probs = torch.softmax(logits, 0)
    return names[int(probs.argmax())], [float(probs.max())]


def expected(source: Source, image: Path) -> tuple[str, list[float]]:
    """What `source`'s own model predicts for `image`, computed here."""
    x = model_input(image, source.size, source.mean, source.std, source.channels)
    with torch.no_grad():
        logits = source.model(x)[0]
    return expected_prediction(logits, source.class_names, source.output)


def assert_batch_follows_the_model(out: Path, data: Path, expect: Callable[[Path], tuple[str, list[float]]]) -> None:
    """A batch run over one image per shape class: each row ok, with the prediction and probabilities `expect` gives
    for its image, and its figure named by index, truth and prediction, on disk."""
    rows = manifest_rows(out)
    assert [row["path"] for row in rows] == [f"{c}/{c}_000.png" for c in SHAPES]
    for row in rows:
        pred, probabilities = expect(data / row["path"])
        assert row["status"] == "ok" and row["pred"] == pred and row["target"] == pred
        np.testing.assert_allclose([float(value) for value in row["confidence"].split("+")], probabilities, atol=2e-4)
        assert row["output"] == f"gradcam_{int(row['index']):04d}_true_{row['true']}_pred_{pred}.png"
        assert (out / row["output"]).is_file()


def figure_shape(size: tuple[int, int], rows: int = 1) -> tuple[int, int]:
    """(height, width) of a figure: panels enlarged to >= 224 px high, a 48 px title band, a colour bar, 12 px gaps."""
    height, width = size
    scale = max(1, -(-224 // height))
    return rows * (48 + height * scale) + (rows - 1) * 12, 3 * width * scale + 56 + 2 * 12


BAD_METADATA = {  # refused checkpoint metadata: key -> (bad value, words of the one-line message)
    "class_names": (5, "`class_names` must be a list"),
    "img_size": ([], "`img_size` must be a positive int"),
    "mean": ("abc", "`mean` must be 3 numbers"),
    "class_to_idx": ({"circle": "zero", "square": "one", "triangle": "two"}, "`class_to_idx` must map"),
    "std": ([0.0, 0.0, 0.0], "`std` must be finite and positive"),
    "plugins": (["../evil.py"], "`plugins` must be a list of module names"),  # a file could be anywhere
}
